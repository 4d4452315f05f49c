package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/internal/lazychan"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

// Containment says what holds an instance's processes together, as the
// status files show it (status.containment).
type Containment string

// The containment modes.
const (
	// ContainCgroup: every instance runs in a cgroup of its own, entered
	// before exec; a stop reaches every process in it, also those that left
	// the process group, and the instance is gone when the cgroup is empty.
	ContainCgroup Containment = "cgroup"
	// ContainProcessGroup: every instance leads a process group of its own;
	// a stop reaches the group.
	ContainProcessGroup Containment = "processGroup"
)

// Cgroups is the cgroup side of an OSStarter: the daemon's root for
// instance cgroups and the watcher that tells when one is empty. Two
// kinds of work leave the path of a stop for a goroutine of their own:
// the stop signal to members outside the process group (a backlog: one
// goroutine while there is any), and the removal of a released instance's
// cgroup (a removalQueue, which also holds removals back until releases
// pause; the instance's next Create takes a held one over). A stop of
// 1000 then signals every group, and reaps every leader, without waiting
// on a cgroup file or an rmdir between two, and the rmdirs come after.
type Cgroups struct {
	Root  *cgroup.Root
	Empty *cgroup.EmptyWatcher
	Log   logr.Logger

	wg       sync.WaitGroup // the backlogs' goroutines
	members  backlog[memberSignal]
	removals *removalQueue
}

// memberSignal is a stop signal for the members of p's cgroup outside its
// process group; grouped: kill(-pgid) reached the group.
type memberSignal struct {
	p       *cgroupProcess
	sig     syscall.Signal
	grouped bool
}

func (c *Cgroups) signalMembers(m memberSignal) {
	// The usual case in a stop of many: the group's kill(2) has ended
	// the leader, and with it everything, by the time the backlog gets
	// here. Then one read of cgroup.events, which the exit's own check
	// would make anyway (found saves it that), shows nobody is left,
	// where cgroup.procs would cost a read more.
	if m.p.found.Load() || m.p.leaderExited() && m.p.GroupGone() {
		return
	}
	pgid := m.p.Pid() // a leader's pgid is its pid
	inGroup := func(pid int) bool {
		pg, err := unix.Getpgid(pid)
		return m.grouped && err == nil && pg == pgid
	}
	if err := m.p.cg.SignalExcept(unix.Signal(m.sig), inGroup); err != nil {
		c.Log.V(1).Info("Signal to the cgroup's members failed", "cgroup", m.p.cg.Dir(), "error", err.Error())
	}
}

// remove removes the cgroup of p, released. A removal that fails is
// logged: the instance's next Create then finds the cgroup and fails,
// saying so, rather than wait for ever.
func (c *Cgroups) remove(p *cgroupProcess) {
	c.Empty.Unwatch(p.cg)
	if err := p.cg.Remove(); err != nil {
		c.Log.Error(err, "Cannot remove an instance's cgroup", "cgroup", p.cg.Dir())
	}
}

// removeIfEmpty removes the cgroup of p if its leader has exited and it
// is empty, when nothing holds removals back (the daemon is shutting
// down): the kernel refuses to remove a cgroup that has a process, so one
// rmdir answers what a read of cgroup.events would, and that read is saved
// where the removal follows anyway (Release's is then a no-op). Not when
// the leader was killed with SIGKILL: its exit reads the OOM count
// (OOMKilled) of the cgroup, which goes with it.
func (c *Cgroups) removeIfEmpty(p *cgroupProcess) bool {
	if c.removals.holding() || !p.leaderExited() {
		return false
	}
	st, err := p.Process.Wait(context.WithoutCancel(c.removals.ctx)) // exited: at once
	if err != nil || st.Signal == syscall.SIGKILL {
		return false
	}
	empty, err := p.cg.RemoveEmpty()
	if err != nil {
		c.Log.Error(err, "Cannot remove an instance's cgroup", "cgroup", p.cg.Dir())
	}
	if empty {
		p.found.Store(true)
	}
	return empty
}

// create makes the cgroup of instance idx of p with its resources; a
// resource whose controller cannot be used fails the start, naming it.
// The removal of the instance's previous cgroup, if still held back, is
// taken over and done first.
func (c *Cgroups) create(p *spec.Program, idx int) (*cgroup.Instance, error) {
	name := p.Metadata.Name
	if old := c.removals.take(removalKey(name, name+"-"+strconv.Itoa(idx))); old != nil {
		c.remove(old)
	}
	r := p.Spec.Resources
	return c.Root.Create(name, idx, cgroup.Resources{MemoryBytes: r.Memory, CPUMillis: r.MilliCPU, Pids: r.Pids})
}

// errNoCgroups fails the start of a spec with resources when the daemon
// runs without cgroups: a limit is never silently dropped.
var errNoCgroups = errors.New("resources: needs cgroup containment, and this daemon runs without cgroups (not root, no cgroup v2, or --cgroup-root none)")

// cgroupProcess is a process whose instance has a cgroup of its own. Its
// group is the cgroup: a signal to the group reaches every process in the
// cgroup as well as the process group, SIGKILL goes through cgroup.kill,
// the group is gone when the cgroup is empty, and Release queues the
// cgroup's removal once the leader is reaped.
type cgroupProcess struct {
	Process
	cg          *cgroup.Instance
	c           *Cgroups
	empty       *cgroup.EmptyWatcher
	releaseOnce sync.Once
	// gone is closed once Release reaped the leader and queued the
	// removal; made by the first released (under goneMu), as an instance
	// at rest never asks.
	goneMu sync.Mutex
	gone   chan struct{}
	isGone bool // Release got that far
	// found is set once the cgroup was found empty. It stays so: no
	// process can enter an empty instance cgroup (a child is born in its
	// parent's, and the daemon moves none in), so a stop signal still
	// queued for its members has nobody to reach.
	found atomic.Bool
}

func newCgroupProcess(pr Process, cg *cgroup.Instance, c *Cgroups) *cgroupProcess {
	return &cgroupProcess{Process: pr, cg: cg, c: c, empty: c.Empty}
}

// SignalGroup sends sig to every process of the instance, each once: to
// the process group in one kill(2), then, from the members backlog, to the
// cgroup's members outside it (a setsid child, a double-forked daemon),
// each through a pidfd. SIGKILL goes to the whole cgroup through
// cgroup.kill. Once the leader's exit is seen (it is reaped then, see
// proc.Spec.ReapAtExit) the process group cannot be signalled, and every
// member of the cgroup is signalled one by one.
func (p *cgroupProcess) SignalGroup(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		if err := p.cg.Kill(); err != nil {
			return errors.Join(err, p.Process.SignalGroup(sig))
		}
		return nil
	}
	gerr := p.Process.SignalGroup(sig)
	p.c.members.add(&p.c.wg, memberSignal{p: p, sig: sig, grouped: gerr == nil}, p.c.signalMembers)
	return nil
}

// leaderExited reports whether the leader has exited, asking the kernel
// (proc.Process.Exited); false when the Process cannot tell.
func (p *cgroupProcess) leaderExited() bool { return leaderExited(p.Process) }

// leaderExited reports whether pr's leader has exited (a zombie, or
// reaped), asking the kernel if its exit was not observed yet
// (proc.Process.Exited); false when pr cannot tell.
func leaderExited(pr Process) bool {
	e, ok := pr.(interface{ Exited() bool })
	return ok && e.Exited()
}

// GroupGone reports whether the cgroup is empty: every process of the
// instance, in its process group or not, has exited. While the daemon
// shuts down, an empty cgroup is removed there and then (removeIfEmpty).
func (p *cgroupProcess) GroupGone() bool {
	if p.found.Load() || p.c.removeIfEmpty(p) {
		return true
	}
	populated, err := p.cg.Populated()
	if err != nil || populated {
		return false
	}
	p.found.Store(true)
	return true
}

// OnGroupEmpty calls f once the cgroup is empty, from the watcher's
// goroutine (or at once when it is already).
func (p *cgroupProcess) OnGroupEmpty(f func()) {
	if p.GroupGone() { // the usual case, and cheaper than a watch
		f()
		return
	}
	already, err := p.empty.Watch(p.cg, func() { p.found.Store(true); f() })
	switch {
	case err != nil:
		// No watch (out of inotify watches): the process group tells.
		p.Process.OnGroupEmpty(f)
	case already:
		p.found.Store(true)
		f()
	}
}

// WaitGroupEmpty blocks until the cgroup is empty or ctx ends.
func (p *cgroupProcess) WaitGroupEmpty(ctx context.Context) error {
	if p.GroupGone() {
		return nil
	}
	done := make(chan struct{})
	already, err := p.empty.Watch(p.cg, func() { close(done) })
	switch {
	case err != nil:
		return p.Process.WaitGroupEmpty(ctx)
	case already:
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.empty.Unwatch(p.cg)
		return ctx.Err()
	}
}

// Release reaps the leader and lets its output drain, then queues the
// removal of the cgroup, empty by then (a stop or a retire waits for that
// first): it runs in the background once releases pause, or when the
// instance's next Create takes it over (removalQueue).
func (p *cgroupProcess) Release() error {
	err := p.Process.Release()
	if errors.Is(err, proc.ErrNotExited) {
		return err
	}
	p.releaseOnce.Do(func() {
		p.c.removals.add(&p.c.wg, removalKey(p.cg.Program(), p.cg.Name()), p, p.c.remove)
		p.goneMu.Lock()
		p.isGone = true
		if p.gone != nil {
			close(p.gone)
		}
		p.goneMu.Unlock()
	})
	return err
}

// released is closed once Release has reaped the leader and queued the
// cgroup's removal: the instance's next process waits for it (see
// program.spawnProcess), and its Create takes the removal over.
func (p *cgroupProcess) released() <-chan struct{} {
	p.goneMu.Lock()
	defer p.goneMu.Unlock()
	return lazychan.Get(&p.gone, p.isGone)
}

// OOMKilled reports whether the OOM killer killed a process of the
// instance's cgroup (a fresh cgroup per process, so any kill counts).
func (p *cgroupProcess) OOMKilled() bool {
	n, err := p.cg.OOMKills()
	return err == nil && n > 0
}

// oomReporter is a Process that can tell an OOM kill.
type oomReporter interface{ OOMKilled() bool }

// openCgroups sets up cgroup containment for the daemon of statusDir under
// root (--cgroup-root; "none": off), and first kills and removes whatever
// an earlier daemon left under it of the programs mine accepts (the
// daemons of one status directory share the root; each cleans its own
// programs). It returns nil, and the daemon runs on process groups, when
// cgroups cannot be had: not root nor delegated, no cgroup v2, or turned
// off. The returned func ends it, after every instance has stopped; it
// removes the root only when alone says no other daemon uses it.
func openCgroups(ctx context.Context, root, statusDir string, mine func(string) bool, alone func() bool, log logr.Logger) (*Cgroups, func()) {
	off := func(why string, err error) (*Cgroups, func()) {
		log.Info("Containment: process groups only", "reason", why, "error", errString(err))
		return nil, func() {}
	}
	if root == "none" {
		return off("--cgroup-root none", nil)
	}
	l, err := cgroup.Load()
	if err != nil {
		return off("no cgroup v2 hierarchy", err)
	}
	abs, _ := filepath.Abs(statusDir)
	sum := sha256.Sum256([]byte(abs))
	opts := cgroup.RootOptions{Path: root, Hash: hex.EncodeToString(sum[:6]),
		// v1 memory cgroups only where a memory limit needs one: making
		// one per instance costs more than the rest of a start.
		NoV1MemoryAccounting: true}
	if _, err := cgroup.EnterLeaf(l, opts); err != nil {
		return off("cannot leave the daemon's own cgroup for a leaf", err)
	}
	r, err := cgroup.OpenRoot(l, opts)
	if err != nil {
		return off("cannot make the cgroup root", err)
	}
	c := &Cgroups{Root: r, Log: log, removals: newRemovalQueue(ctx)}
	removeCgroupLeftovers(ctx, c, mine, log)
	empty, err := cgroup.NewEmptyWatcher()
	if err != nil {
		return off("cannot watch cgroups", err)
	}
	var ctrls []string
	for _, c := range r.Controllers() {
		ctrls = append(ctrls, c.Name+":"+c.Version.String())
	}
	log.Info("Containment: a cgroup per instance", "root", r.Dir(), "controllers", strings.Join(ctrls, ","))
	c.Empty = empty
	return c, func() {
		c.removals.flush()
		c.wg.Wait() // the last removals
		empty.Close()
		if !alone() {
			return // another daemon of the directory builds under it
		}
		if err := r.Remove(); err != nil {
			log.V(1).Info("Cgroup root not removed", "root", r.Dir(), "error", err.Error())
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
