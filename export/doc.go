// Package export turns Program manifests into the configuration of another
// engine, for the day one host is not enough or a host should run its
// programs without this daemon: Kubernetes workloads (apps/v1 Deployment or
// StatefulSet, batch/v1 Job), Nomad jobs (the JSON that `nomad job run
// -json` takes) and systemd units (a template NAME@.service and a
// NAME.target). It is `reconciled export`'s engine; the command only picks
// the programs and writes what this package returns.
//
// Each target is built from that engine's own types where it has a Go API
// (k8s.io/api, github.com/hashicorp/nomad/api) and serialised with the
// engine's conventions, so that what is written is accepted as it is.
//
// Invariants:
//
//   - Pure: the input is decoded programs and Options, the output is files
//     (name, bytes, mode) and warnings. No clock, no environment, no disk:
//     the command writes the files.
//   - Deterministic: the same programs and options give the same bytes and
//     the same warnings in the same order (programs sorted by name, map keys
//     sorted, every list in a fixed order).
//   - Nothing is dropped silently: every field whose value has no equivalent
//     in the target is named in a Warning (program and field path), and so
//     is every value that is changed on the way (rounded up to whole
//     seconds, a name made valid). Fields left at reconciled's default are
//     not warned about; where a default behaves differently in the target,
//     docs/reference.md says so.
//   - Environment values never land in a world-readable file: systemd units
//     carry only the RECONCILED_* variables, and the manifest's env goes to
//     an EnvironmentFile of mode 0600.
//   - $(VAR) keeps reconciled's meaning (spec.Expand: $$ is a literal $, an
//     unknown reference stays as written) in each target's own syntax; what
//     a target cannot express is warned about.
//
// docs/internals.md tells how it fits in: see "Export".
package export
