package reconciler

// Start-up cleanup, program by program. A daemon that starts after a
// crash ends what its predecessor left (stale instances in the status
// files, marked processes, cgroups) and forgets programs deleted while no
// daemon ran: only for the programs it owns. Another daemon of the same
// directory may be running the rest (--only/--exclude), and its processes,
// cgroups and status files are never this daemon's to touch. A program is
// owned once its lock (claims.go) is taken, and it is taken before any of
// this; a program claimed later, while the daemon runs (a new manifest, or
// one whose owner exited), gets the same cleanup first when a status file
// says a daemon ran it before.

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// ReasonOwnedByOtherDaemon is the reason of the Warning event a daemon
// writes when a program it would run is owned by another daemon of the
// directory: it leaves that program alone.
const ReasonOwnedByOtherDaemon = "OwnedByOtherDaemon"

// CleanupStale kills what the status files record as running and what is
// provably still ours: processes in the recorded process groups that carry
// the instance's RECONCILED_* marks and started after the recorded start.
// This matters after the daemon itself was SIGKILLed: its children die with
// it (PDEATHSIG), but their own children may not.
func CleanupStale(statusDir string, log logr.Logger) {
	statuses, err := status.ReadDir(statusDir)
	if err != nil {
		log.Error(err, "Read status files failed", "path", statusDir)
	}
	cleanupStale(statuses, nil, log)
}

// cleanupStale is CleanupStale for the statuses of the programs mine
// accepts (nil: all).
func cleanupStale(statuses []status.ProgramStatus, mine func(string) bool, log logr.Logger) {
	var queries []proc.StaleQuery
	for _, st := range statuses {
		if mine != nil && !mine(st.Metadata.Name) {
			continue
		}
		for _, in := range st.Status.Instances {
			if in.Pid > 0 && in.StartedAt != nil {
				queries = append(queries, proc.StaleQuery{Program: st.Metadata.Name, Index: in.Index, LeaderPid: in.Pid, StartedAt: *in.StartedAt})
			}
		}
	}
	if len(queries) == 0 {
		return
	}
	found, err := proc.FindStaleAll(queries)
	if err != nil {
		log.Error(err, "Scan for stale processes failed")
		return
	}
	for _, sp := range found {
		q := queries[sp.Query]
		log.Info("Killing a stale process of an earlier daemon", "program", q.Program, "instance", fmt.Sprintf("%s-%d", q.Program, q.Index), "pid", sp.Pid)
	}
	if err := proc.KillStaleProcesses(found); err != nil {
		log.Error(err, "Kill stale processes failed")
	}
}

// killMarkedLeftovers SIGKILLs every process of the host that carries this
// directory's daemon ID and a program mine accepts (with alone, also one
// whose program is not a valid name): after a crash, whatever
// the earlier daemon of those programs started, also what left its
// instance's process group. Nothing of those programs runs yet (this daemon
// has just claimed them), so all of them are left over; the daemon ID is
// the directory's, so the program decides whose a process is.
func killMarkedLeftovers(id string, mine func(string) bool, alone bool, log logr.Logger) {
	found, err := proc.FindMarked([]string{proc.EnvDaemonID + "=" + id})
	if err != nil {
		log.Error(err, "Scan for processes an earlier daemon left failed")
		return
	}
	kill := found[:0]
	for _, m := range found {
		// The program name comes from the process's environment, which the
		// process may have set itself: only a valid name is asked about (a
		// claim is a file of that name). One that is not a program's name
		// is left over all the same; a daemon alone on the directory ends
		// it, one beside others cannot tell whose it is.
		if valid := spec.ValidName(m.Program); (!valid && !alone) || (valid && mine != nil && !mine(m.Program)) {
			continue
		}
		log.Info("Killing a process an earlier daemon left", "program", m.Program, "instance", fmt.Sprintf("%s-%d", m.Program, m.Instance), "pid", m.Pid)
		kill = append(kill, m)
	}
	if err := proc.SignalMarked(kill, unix.SIGKILL); err != nil {
		log.Error(err, "Kill leftover processes failed")
	}
}

// forgetDeleted records the end of every program of mine whose status
// file remains but whose manifest was deleted while no daemon ran (its
// processes were ended by the start-up cleanup): a Deleted event, then
// the status file goes, as when a running daemon sees the deletion.
func forgetDeleted(dir string, statuses []status.ProgramStatus, mine func(string) bool, sink StatusSink, log logr.Logger) {
	if len(statuses) == 0 {
		return
	}
	names, err := listPrograms(dir, nil)
	if err != nil {
		log.Error(err, "Cannot list the manifests: status files of deleted programs kept")
		return
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	for _, st := range statuses {
		name := st.Metadata.Name
		if have[name] || (mine != nil && !mine(name)) {
			continue
		}
		log.Info("Manifest deleted while no daemon ran: removing its status", "program", name)
		sink.Event(status.Event{Time: time.Now(), Type: status.EventNormal, Reason: "Deleted", Program: name,
			Message: "manifest removed while no daemon ran: all instances stopped"})
		sink.Delete(name)
	}
}

// daemonClaims is RunDaemon's Claimer: the program locks of claims, the
// --only/--exclude filter, the report of a refusal, and the cleanup of a
// program claimed after start-up.
type daemonClaims struct {
	c         *claims
	filter    func(string) bool // nil: every program
	statusDir string
	sink      StatusSink
	log       logr.Logger
	// cleanup ends what an earlier daemon left of the programs mine
	// accepts; nil while starting up (that cleanup is RunDaemon's).
	cleanup func(mine func(string) bool)

	mu      sync.Mutex
	refused map[string]int // program -> owner pid, as last reported
}

// Claim takes the programs named unless another daemon owns them, and
// reports each refusal once (again when the owner changes).
func (d *daemonClaims) Claim(names []string) map[string]bool {
	refused := map[string]bool{}
	var fresh []status.ProgramStatus
	for _, name := range names {
		had := d.c.has(name)
		ok, owner, err := d.c.claim(name)
		switch {
		case err != nil:
			d.log.Error(err, "Cannot take the program's lock: leaving it alone", "program", name)
			refused[name] = true
			continue
		case !ok:
			refused[name] = true
			d.report(name, owner)
			continue
		}
		d.mu.Lock()
		delete(d.refused, name)
		d.mu.Unlock()
		if had || d.cleanup == nil {
			continue
		}
		// A status file says a daemon ran it: maybe one that crashed.
		if st, err := status.ReadFile(status.StatusPath(d.statusDir, name)); err == nil {
			fresh = append(fresh, st)
		}
	}
	if len(fresh) > 0 {
		set := map[string]bool{}
		for _, st := range fresh {
			set[st.Metadata.Name] = true
		}
		d.cleanup(func(name string) bool { return set[name] })
	}
	return refused
}

// Release gives up a program that is gone.
func (d *daemonClaims) Release(name string) { d.c.release(name) }

// report says, once per owner, that name is another daemon's.
func (d *daemonClaims) report(name string, owner int) {
	d.mu.Lock()
	last, seen := d.refused[name]
	if d.refused == nil {
		d.refused = map[string]int{}
	}
	d.refused[name] = owner
	d.mu.Unlock()
	if seen && last == owner {
		return
	}
	who := "another daemon"
	if owner > 0 {
		who = fmt.Sprintf("another daemon (pid %d)", owner)
	}
	d.log.Info("Program owned by another daemon of this directory: leaving it alone", "program", name, "ownerPid", owner)
	d.sink.Event(status.Event{Time: time.Now(), Type: status.EventWarning, Reason: ReasonOwnedByOtherDaemon, Program: name,
		Message: fmt.Sprintf("%s of this directory owns %s: this daemon (pid %d) leaves it alone", who, name, os.Getpid())})
}

// isRefused reports whether name was last refused.
func (d *daemonClaims) isRefused(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.refused[name]
	return ok
}

// mine reports whether name is this daemon's to clean up at start-up: the
// filter keeps it and its lock is (or now is) held. A leftover of a
// program another daemon owns is not, and is not reported: the refusal of
// its manifest or status file says so.
func (d *daemonClaims) mine(name string) bool {
	if d.filter != nil && !d.filter(name) {
		return false
	}
	ok, _, err := d.c.claim(name)
	return ok && err == nil
}

// claimAtStart claims the programs of the directory's manifests and status
// files that the filter keeps, reporting refusals, before anything of
// them is touched.
func (d *daemonClaims) claimAtStart(dir string, statuses []status.ProgramStatus) {
	names, err := listPrograms(dir, d.filter)
	if err != nil {
		d.log.Error(err, "Cannot list the manifests")
	}
	for _, st := range statuses {
		if d.filter == nil || d.filter(st.Metadata.Name) {
			names = append(names, st.Metadata.Name)
		}
	}
	d.Claim(names)
}

// releaseUnlisted gives up, after the start-up cleanup, the programs that
// have no manifest (deleted while down, or only leftovers): nothing of
// them runs, and the loop claims a name again when a manifest appears.
func (d *daemonClaims) releaseUnlisted(dir string) {
	names, err := listPrograms(dir, nil)
	if err != nil {
		return // kept: released when the daemon exits
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	d.c.mu.Lock()
	var gone []string
	for name := range d.c.own {
		if !have[name] {
			gone = append(gone, name)
		}
	}
	d.c.mu.Unlock()
	for _, name := range gone {
		d.c.release(name)
	}
}

// removeCgroupLeftovers kills and removes the leftover cgroups of the
// programs mine accepts, waiting at most 30 s for them to empty.
func removeCgroupLeftovers(ctx context.Context, c *Cgroups, mine func(string) bool, log logr.Logger) {
	if c == nil {
		return
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	left, err := c.Root.RemoveLeftoversOf(cleanup, mine)
	cancel()
	if err != nil {
		log.Error(err, "Removing the cgroups an earlier daemon left failed", "removed", len(left))
	} else if len(left) > 0 {
		log.Info("Removed cgroups an earlier daemon left", "count", len(left))
	}
}
