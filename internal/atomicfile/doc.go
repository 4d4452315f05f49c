// Package atomicfile replaces files so that no reader ever sees half of one.
// It is the project's one atomic writer: package status writes its status
// files with it and package manifest its manifests.
//
// Invariants:
//
//   - Write puts the data in a temp file in the target's directory (the same
//     file system, so the rename is atomic), named ".BASE.tmp-RANDOM": the
//     leading "." keeps it out of what a directory watcher or the manifest
//     rule (spec.Classify) looks at. The temp file is fsynced, renamed over
//     the target, and the directory is fsynced, so that after a crash the
//     path holds the old content or the new one, never a mix or nothing.
//   - A failed Write removes its temp file and leaves the target as it was.
//   - The file gets exactly Options.Mode (and Owner when given), whatever the
//     umask; the owner is set before the mode, because chown clears set-id
//     bits.
//   - There is no package state.
package atomicfile
