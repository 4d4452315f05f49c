// Package output carries what an instance writes to its stdout and stderr to
// where its spec says: size-rotated log files and, with `reconciled run
// --attach`, the daemon's terminal, each line prefixed with the instance.
//
// The pieces:
//
//   - File is a size-rotating log file: past MaxSize it is renamed PATH.1
//     (PATH.1 to PATH.2, and so on; .1 is the newest), keeping MaxBackups
//     backups. Rotation happens at a line boundary when the chunk written
//     allows it, so that a line is never split across two files.
//     Group.LazyFile opens one at the first write, and Group.AutoLog is the
//     LazyFile of an `auto` log, which makes even its path only then: a
//     quiet instance costs no open, no close and no path.
//   - The `auto` log files of an instance, NAME-i.stdout.log and
//     NAME-i.stderr.log, record when their chunks arrived in the instance's
//     arrival index NAME-i.index (arrivals.go): a small text record before
//     a chunk when it is a process's first, the other stream wrote since,
//     the file changed, or a millisecond passed. `reconciled logs` merges
//     the two streams by it and reads times and runs from it.
//   - Terminal is the attach writer: it prefixes every line "NAME-i | " (in a
//     colour per program when asked) and writes each batch of lines with one
//     write under one lock, so lines of different instances never interleave
//     mid-line.
//   - Pump reads one child pipe and writes what arrives to its targets; Pipe
//     makes that pipe at the least cost (only the pump's end is
//     non-blocking, and it is a bare fd, not an *os.File).
//   - Group owns the pumps of a daemon: it starts them, watches their pipes
//     in one epoll set (package epoll), shares their buffers and the open
//     log files, and waits for them. An idle pump costs no goroutine: a
//     wake-up that finds only an end of file (every stop of a quiet
//     instance) is handled on the set's goroutine, and a goroutine runs
//     only while there is data to write.
//
// Invariants:
//
//   - No loss, bounded memory. A pump reads into one fixed buffer
//     (Options.BufferSize) and reads again only once that data is written, so
//     a child that writes faster than the disk blocks in write(2) on the full
//     pipe: back-pressure, not buffering. A buffer is held only while it has
//     data in it (an idle pump holds none, or a short partial line), and an
//     idle pump waits in the epoll set, with no goroutine and no thread. A pipe that a read
//     finds half full (a fast writer) is grown once to Options.PipeSize.
//   - Lines are whole. A pump writes up to the last newline it has; the rest
//     waits for more data. Only a line longer than the buffer is cut, and a
//     final line without a newline is written at end of file (the child
//     exited): nothing is left behind.
//   - A failing write to a log file (ENOSPC, EDQUOT, EIO, a rotation that
//     cannot reopen the file) is retried with a back-off of 50ms doubling to
//     2s, and never dropped: meanwhile the pipe fills and the child blocks on
//     its next write, still alive. The condition is reported once through
//     Options.Report, and its end once more when a write succeeds again.
//     Writes to the terminal are best effort: one that fails is reported and
//     that pump stops writing to the terminal, so a closed terminal never
//     stops the children.
//   - A log file is a regular file: its open never blocks (O_NONBLOCK: a
//     FIFO in its place fails the open) and a FIFO, socket or device is
//     refused; in the daemon's own log directory (FileOptions.CreateDir) a
//     symbolic link in a log file's place is refused, never written through.
//   - Every pump has an owner. It ends at end of file, when every writer of
//     the pipe (the child, and any descendant that inherited it) has closed
//     it, or when it is aborted (Group.Wait past its deadline, Pump.Abort);
//     Group.Wait waits for all of them.
//   - Two pumps that write the same path (both streams, or several instances,
//     with one file target) share one File through the Group: their lines
//     stay whole and the file is rotated once.
//
// docs/internals.md tells how it fits in: see "Output".
package output
