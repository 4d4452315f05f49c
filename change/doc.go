// Package change holds the changes that the command line's verbs make to a
// directory of manifests (start, stop, scale, restart, delete) and the rule
// that tells how far the daemon has carried one out ("2/3 ready"), so that
// every front end (the verbs, `reconciled top`) changes a manifest and
// follows the change with the same code.
//
// Invariants:
//   - Every change goes through the manifest store (package manifest): one
//     field edited in place with spec's editor (comments and layout kept),
//     under the directory's edit lock, compare-and-swap on what was read, an
//     invalid manifest refused and never written.
//   - A relative change (ScaleBy) reads the count it starts from inside the
//     same edit, so two of them never lose one another.
//   - Target.Check is pure: a status in, a verdict out. It reads no file and
//     no clock; the caller decides when to look again.
package change
