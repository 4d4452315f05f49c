// Package manifest is the manifest store: it owns a spec directory as a set
// of manifests, one file per program. It is the one place that lists the
// directory, resolves a program name to its file, reads a manifest (with the
// size cap), and changes one (edit a field, apply, delete) under the
// directory's edit lock. The daemon's scanner and exit policy and every CLI
// command go through it.
//
// Which names are manifests is decided by spec.Classify alone (NAME.yaml or
// NAME.yml with a valid NAME; hidden files, editor and package-manager
// leftovers and the daemon's own files are ignored); this package applies
// that rule to what is on disk. Atomic writes are internal/atomicfile's.
//
// Invariants:
//
//   - List returns, for each program name, either one file or a duplicate
//     (NAME.yaml and NAME.yml both exist): a duplicate is never resolved by
//     picking one. Files are regular files after following symbolic links
//     (a ConfigMap volume's links are read through). Directories are not
//     manifests. A name that is a FIFO, a socket or a device (also behind a
//     link), or that cannot be stat'ed for any reason but ENOENT, is a
//     Problem (a *FileError with a reason): never a deletion, so the daemon
//     keeps the program's last valid spec and reports it.
//   - Nothing here blocks on or reads from anything but a regular file
//     (internal/regfile): a FIFO is never waited on, a device never opened.
//   - A read never takes more than spec.MaxManifestSize+1 bytes, so that
//     spec.Parse refuses a larger file without it being read whole.
//   - Every change (Edit, Apply, Delete) holds the edit lock of the
//     directory: an exclusive flock on the directory itself, which creates
//     nothing in a directory that may belong to something else. Two changes
//     by reconciled commands never lose each other's write.
//   - A change writes a whole valid manifest atomically (temp file whose name
//     starts with ".", fsync, rename, fsync of the directory), keeping the
//     replaced file's mode and, as root, its owner. The daemon, which takes
//     no lock, sees the old file or the new one.
//   - Edits are compare-and-swap on what was read: just before the rename,
//     the file must still be the one read (same inode, size, times) with the
//     same content; otherwise (an editor saved meanwhile, not taking the
//     lock) the edit starts again from the new content, a few times at most.
//   - A manifest that is a symbolic link is never changed: it belongs to
//     whatever manages its target (ErrSymlink). An invalid manifest is never
//     edited (InvalidError), and no change ever writes an invalid one.
//   - There is no package state; a Dir is a path (and a policy) and may be
//     copied.
//
// The files of spec.envFrom are read here too (LoadEnvFrom), by the daemon's
// scanner and by validate, wait and describe alike, so that all compute the
// same spec hash: relative to the manifest directory, never blocking on a
// FIFO, with the size cap of a manifest, and under the privilege policy held
// to a manifest's rules (Policy.EnvFileCheck). No error quotes a value.
//
// The privilege policy of a root daemon (docs/reference.md §1) is here too, apart from
// the store: Resolve walks a manifest's name to its data as the kernel does,
// on a StatFS (the real one, or a fake in tests), and records every symbolic
// link and lookup directory on the way; Policy.Check applies the mode rule to
// that Route and Policy.Admit the owner rule to a parsed manifest. Both are
// pure but for the user database behind Users, and refuse with a
// *TrustError whose Reason is the status condition's reason. The daemon's
// scanner, validate and apply all call them, so they refuse the same files.
//
// docs/internals.md tells how it fits in: see "Layout".
package manifest
