// Package spec is the Program manifest: its Go types, strict decoding with
// located errors, defaults, validation, the spec hash, $(VAR) expansion and
// the rule for which file names in the watched directory are specs. Its
// field table (FieldTable) describes every field once: the decoder takes
// its known keys from it, and the JSON Schema (Schema) and the docs of
// `reconciled explain` (Explain) are generated from it.
//
// Invariants:
//   - The package is pure: its input is bytes plus a file name and its output
//     is a value or a list of located errors. It starts no goroutine, reads no
//     clock, runs no process and watches nothing.
//   - Parse never panics and never hangs, whatever the input: inputs larger than
//     MaxManifestSize are refused before parsing, and every error carries the
//     file, line, column and field path.
//   - A *Program returned without errors is complete: every default is filled
//     in, so callers never interpret zero values.
//   - Hash depends only on the fields that change how a process runs (see
//     hash.go); equal programs hash equally however they are spelled. The
//     field table's hash rules say the same (tested).
//   - The decoder accepts exactly the keys the field table lists; its value
//     checks and the schema's agree with the table (tested value by value).
//
// docs/internals.md tells how it fits in: see "Layout".
package spec
