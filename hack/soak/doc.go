// Command soak is the chaos soak of issue 25: it runs a reconciled daemon on
// a temporary directory of N programs (1-5 replicas, mixed restart
// policies, some crashing, some ignoring SIGTERM, some with children that
// escape their process group) and, for a duration, edits the manifests with
// several writer styles (in place, temp file + rename, symlink swap, cp;
// valid, invalid and half-written content), SIGKILLs instances and the
// daemon (then restarts it), sends SIGHUPs and runs `reconciled scale`,
// `stop` and `start`.
//
// Every ~200ms it checks the invariants of docs/reference.md:
//   - every status file parses (status.ReadDir);
//   - never two live leaders for one NAME-i: a leader is a process of ours
//     (it carries the soak's RECONCILED_SOAK_TOKEN) that leads its process
//     group and is not a deliberately escaped child; a duplicate counts only
//     if both are still alive, with the same start time, after the scan;
//   - no orphan: no process of ours for a (program, index) that no last
//     valid spec the daemon may be keeping (entry.accepted) wants running,
//     once stopTimeout + grace has passed since the program's last edit or
//     the daemon's last start;
//   - the daemon never exits unless the soak killed it.
//
// After the storm, within 10 s, every program's status and processes must
// match its last valid spec exactly: the file on disk when spec.Parse
// accepts it; else the last valid version the daemon could have seen (the
// last its status showed, or one written after it; a version replaced
// before the daemon read it cannot be kept). One summary line is printed; any violation makes the exit
// status non-zero. On exit, whatever the reason, every process carrying
// the token is SIGKILLed and the temporary directory removed.
package main
