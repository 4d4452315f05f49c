// Package regfile opens and reads files that must be regular files: the
// manifests of the spec directory and the daemon's own files (status, events,
// .reconciled/*, log files). Anyone who can write a directory can put a FIFO,
// a socket, a device node or a symbolic link to /dev/zero under any name;
// reading such a thing the ordinary way blocks forever or never ends.
//
// Invariants:
//
//   - Nothing here blocks on a FIFO: every open adds O_NONBLOCK (cleared
//     again once the file is known to be regular, where it means nothing).
//   - Nothing here reads from anything but a regular file: the path is
//     stat'ed before it is opened, so a device is never even opened (opening
//     one may have effects), and the open file is fstat'ed, so that a swap
//     between the two is caught. Anything else is refused with a
//     *NotRegularError that says what it is (errors.Is ErrNotRegular).
//   - The daemon's own files are opened with O_NOFOLLOW: a symbolic link put
//     in their place is refused, never written or read through. Manifests
//     may be symbolic links (ConfigMap volumes): their readers ask to follow.
//   - No read is unbounded: ReadFile stops one byte past its limit, so a file
//     that grows while it is read costs at most the limit.
//   - There is no package state.
package regfile
