// Command reconciled-export is `reconciled export`: it turns manifests into
// Kubernetes objects, Nomad jobs or systemd units (package export).
//
// It is a binary of its own, which `reconciled export` runs (the way git
// and kubectl run their plugins), so that the daemon's binary carries
// none of the exporters' code: k8s.io/api and the Nomad API are about a
// third of the command line's size, and a running binary's pages count in
// the daemon's memory. Its flags and exit codes are those of any other
// verb: --dir (RECONCILED_DIR), 0 ok, 1 failure, 2 usage.
package main
