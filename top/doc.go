// Package top is `reconciled top`: a terminal view over a directory of
// manifests and the daemon's status, event and log files, as htop, k9s and
// process-compose's view are. It talks to no daemon API: it reads the
// files, changes manifests as the command line's verbs do (package
// change), and reaches the daemon's control socket only for what the
// command line does there too (signal, restart of one instance).
//
// The pieces, one file each:
//
//   - snapshot.go reads the directory (source): manifests, parsed when
//     they change; status files, read one by one as they change; the
//     daemon's lock and pid.
//   - watcher.go turns inotify events on the directories (the log
//     directory only while a log is followed) into coalesced changes,
//     handed to the view at most every 100ms.
//   - terminal.go owns the terminal in place of Bubble Tea's renderer: raw
//     mode, the alternate screen, the size, and frames written only when
//     they changed; run.go wires it, the watcher and the program together.
//   - model.go is the bubbletea model: state, Update, the tick; view.go,
//     table.go and pane.go draw it; keys.go maps keys to commands (the
//     same table feeds the footer, the help and the palette); actions.go
//     runs them; logs.go follows an instance's output; editor.go is E;
//     graph.go the dependsOn graph; usage.go CPU % and memory.
//
// Invariants:
//
//   - Nothing happens while nothing changes: no timer runs and no thread
//     wakes but for the tick, which is armed only for the next moment a
//     figure on screen changes by the clock (a usage read while the usage
//     columns are shown and a program on screen has a process; an uptime
//     or a last exit's age on an instance row), and only while a daemon
//     holds the directory; one tick chain at most. Frames are written at
//     most ten times a second, only when they changed, only the lines that
//     changed.
//   - The terminal is left (cursor shown, alternate screen left, input
//     mode restored) once, whatever ends the view, a panic included.
//   - Every change to a manifest goes through package change and the
//     manifest store: one field edited in place, under the edit lock,
//     compare-and-swap. E places a manifest only once it is valid, and
//     only if the file was not changed meanwhile.
//   - Usage is read only while its columns are shown, only for the
//     programs on screen (all of them while sorting by CPU or memory, which
//     shows the columns whatever u said), at most once a second and no
//     sooner than 100 times the last read's cost after it, and only while
//     a daemon holds the directory (else the recorded pids may be reused).
//   - Text read from files (logs, events, messages) is drawn with escape
//     sequences removed and control characters replaced.
//   - Without colour (NO_COLOR, TERM=dumb) no SGR sequence is written; the
//     selected row is marked with ">".
package top
