// Command reconciled is the process supervisor: the daemon (`reconciled run`)
// and the command line that works over the same directory.
//
// This package is thin: it parses flags (cobra), builds the logger (zap
// behind logr), sets up signal handling and wires the packages together,
// one file per command. It is the only place that exits.
//
// Invariants:
//   - Every command that changes a manifest goes through the manifest store
//     (package manifest): one field edited, comments kept, written
//     atomically, compare-and-swap on what was read.
//   - Commands that read state read the status and event files (package
//     status); only `signal` and `restart NAME-i` talk to the daemon, over
//     its control socket.
//   - Every verb that takes program names chooses them alike: names, or
//     -l/--selector over the manifests' labels, or --all (selector.go).
//   - diff and apply --dry-run write nothing: they read the stored manifest
//     through the store and decide restart or not by spec.Hash.
//   - explain and schema print spec's field table; nothing here describes a
//     field of its own.
//   - Exit codes: 0 ok, 1 failure or timeout, 2 usage; diff's are kubectl
//     diff's (0 no change, 1 changes, 2 error).
package main
