package output

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// FileOptions configure a File.
type FileOptions struct {
	// MaxSize is the size past which the file is rotated; 0 never rotates.
	MaxSize int64
	// MaxBackups is the number of rotated files kept, PATH.1 (newest) to
	// PATH.MaxBackups; 0 keeps none: rotation empties the file.
	MaxBackups int
	// CreateDir creates a missing parent directory (the daemon's own log
	// directory); otherwise a missing directory is an error.
	CreateDir bool
	// Name, when set, is how the errors of the file name it instead of its
	// path (and its backups' paths): a path expanded from an instance's
	// environment may hold a secret, which must not reach status, events
	// or the daemon's log (docs/reference.md §1). Such errors keep the
	// operation and the errno: "open spec.stdout.file /x/$(T).log: no
	// such file or directory".
	Name string
}

// File is a log file rotated by size. It is opened for appending, so that a
// daemon restart continues the file, and its size counts what was there.
// Rotation renames PATH.(i) to PATH.(i+1) from the oldest down, then PATH to
// PATH.1, then opens a new PATH; backups past MaxBackups (left by a larger
// setting) are removed. Its methods are safe for concurrent use.
type File struct {
	path string

	mu   sync.Mutex
	opts FileOptions
	fd   int // -1 when closed, and after a failed reopen: the next Write retries
	size int64
	ino  uint64 // the open file's inode: which file an arrival index record means
}

// OpenFile opens (creating it if needed) the log file at path.
func OpenFile(path string, o FileOptions) (*File, error) {
	w := &File{path: path, opts: o, fd: -1}
	if err := w.open(false); err != nil {
		return nil, w.named("open", err)
	}
	return w, nil
}

// named returns err as the file's user may show it: as it is, or with
// FileOptions.Name set, an *fs.PathError of op (or of err's own op) on Name
// with the innermost cause of err, and no path. w.mu must be held, or w not
// yet shared.
func (w *File) named(op string, err error) error {
	if err == nil || w.opts.Name == "" {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && op != "rotate" {
		op = pe.Op
	}
	cause := err
	for next := errors.Unwrap(cause); next != nil; next = errors.Unwrap(cause) {
		cause = next
	}
	if cause == err {
		cause = errors.New("failed") // not wrapped: its message may hold the path
	}
	return &fs.PathError{Op: op, Path: w.opts.Name, Err: cause}
}

// Path returns the file's path.
func (w *File) Path() string { return w.path }

// setOptions changes the limits from the next write on.
func (w *File) setOptions(o FileOptions) {
	w.mu.Lock()
	w.opts = o
	w.mu.Unlock()
}

func (w *File) open(truncate bool) error {
	// O_NONBLOCK: a FIFO in the log file's place fails the open (ENXIO)
	// instead of blocking it until someone reads; on a regular file it
	// means nothing. O_NOCTTY: a terminal does not become ours.
	flags := unix.O_WRONLY | unix.O_APPEND | unix.O_CREAT | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
	if truncate {
		flags |= unix.O_TRUNC
	}
	if w.opts.CreateDir {
		// The daemon's own log directory: a link in a log file's place is
		// refused (ELOOP), never written through.
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openFile(w.path, flags)
	if err != nil && w.opts.CreateDir && errors.Is(err, fs.ErrNotExist) {
		if merr := os.MkdirAll(filepath.Dir(w.path), 0o755); merr == nil {
			fd, err = openFile(w.path, flags)
		}
	}
	if err != nil {
		return notRegular(err, flags) // *fs.PathError: "open PATH: reason"
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return &fs.PathError{Op: "stat", Path: w.path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// A device or a socket: not a file to append to, size and rotate.
		unix.Close(fd)
		return &fs.PathError{Op: "open", Path: w.path, Err: errNotRegular}
	}
	// A bare fd, not an *os.File: os.OpenFile on Linux makes every file
	// non-blocking, tries to register it with the netpoller (which refuses
	// regular files) and makes it blocking again, four fcntl(2) and an
	// epoll_ctl(2) per log file; and each os.File costs a finalizer. File's
	// own lock already orders every use of the fd.
	w.fd, w.size, w.ino = fd, st.Size, st.Ino
	return nil
}

// errNotRegular is what a log file that is not a regular file fails with.
var errNotRegular = errors.New("not a regular file")

// notRegular says in err (an *fs.PathError of open) that the file is not a
// regular file where open's own errno would not: ENXIO is what an O_NONBLOCK
// open for writing gives a FIFO nobody reads, or a socket; ELOOP under
// O_NOFOLLOW a symbolic link.
func notRegular(err error, flags int) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && (pe.Err == unix.ENXIO || pe.Err == unix.ELOOP && flags&unix.O_NOFOLLOW != 0) {
		pe.Err = fmt.Errorf("%w (%v)", errNotRegular, pe.Err)
	}
	return err
}

// openFile is open(2), as os.OpenFile calls it.
func openFile(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0o644)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// Write appends p, rotating first when p would take the file past MaxSize.
// When p holds a newline within the room left, the file is filled up to that
// newline before rotating, so lines stay whole; a line longer than MaxSize
// goes alone into a file of its own. On an error it returns how much of p was
// written; calling it again with the rest carries on where it stopped.
func (w *File) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writeLocked(p)
}

// writeNoted is Write that first tells note, under the file's lock (so
// that no other writer comes between), where p begins: the inode of the
// file open and its size. A rotation within the write moves the rest of p
// to the start of a new file.
func (w *File) writeNoted(p []byte, note func(ino uint64, off int64)) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd < 0 {
		if err := w.open(false); err != nil {
			return 0, err
		}
	}
	note(w.ino, w.size)
	return w.writeLocked(p)
}

func (w *File) writeLocked(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.fd < 0 {
			if err := w.open(false); err != nil {
				return written, w.named("open", err)
			}
		}
		chunk := p
		if limit := w.opts.MaxSize; limit > 0 && w.size+int64(len(p)) > limit {
			cut := 0
			if room := limit - w.size; room > 0 {
				cut = bytes.LastIndexByte(p[:min(room, int64(len(p)))], '\n') + 1
			}
			if cut == 0 && w.size > 0 {
				if err := w.rotate(); err != nil {
					return written, w.named("rotate", err)
				}
				continue
			}
			if cut == 0 { // an empty file and a line longer than MaxSize
				if cut = bytes.IndexByte(p, '\n') + 1; cut == 0 {
					cut = len(p)
				}
			}
			chunk = p[:cut]
		}
		n, err := w.write(chunk)
		w.size += int64(n)
		written += n
		p = p[n:]
		if err != nil {
			return written, w.named("write", err)
		}
	}
	return written, nil
}

// write writes all of p to the file, as os.File.Write does: short writes
// are continued, EINTR retried, errors are *fs.PathError.
func (w *File) write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(w.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &fs.PathError{Op: "write", Path: w.path, Err: err}
		}
		if m == 0 {
			return n, &fs.PathError{Op: "write", Path: w.path, Err: io.ErrShortWrite}
		}
		n += m
	}
	return n, nil
}

// closeFd closes the fd; w.fd is -1 after it, whatever close returned.
func (w *File) closeFd() error {
	fd := w.fd
	w.fd = -1
	if err := unix.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: w.path, Err: err}
	}
	return nil
}

// rotate closes the file, shifts the backups and opens a new, empty file.
func (w *File) rotate() error {
	if err := w.closeFd(); err != nil {
		return fmt.Errorf("rotate %s: %w", w.path, err)
	}
	keep := w.opts.MaxBackups
	if keep <= 0 {
		return w.open(true)
	}
	for i := keep + 1; ; i++ { // left by an earlier, larger MaxBackups
		if err := os.Remove(w.backup(i)); err != nil {
			break
		}
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(w.backup(i), w.backup(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", w.path, err)
		}
	}
	if err := os.Rename(w.path, w.backup(1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate %s: %w", w.path, err)
	}
	return w.open(false)
}

func (w *File) backup(i int) string { return w.path + "." + strconv.Itoa(i) }

// Close closes the file.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd < 0 {
		return nil
	}
	return w.named("close", w.closeFd())
}
