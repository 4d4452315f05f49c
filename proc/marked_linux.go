package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// EnvDaemonID marks every instance process with the daemon it belongs to
// (stable per status directory): without cgroups it is how a process that
// left its instance's process group is still known as the daemon's.
const EnvDaemonID = "RECONCILED_DAEMON_ID"

// Marked is a live process whose environment carries an instance's marks.
type Marked struct {
	Pid        int
	StartTicks uint64    // start time in clock ticks since boot; Pid and StartTicks identify it
	Started    time.Time // the same, as wall time (up to 1s early)
	Program    string    // its RECONCILED_PROGRAM
	Instance   int       // its RECONCILED_INSTANCE
}

// FindMarked scans /proc once and returns every live process of the host
// whose environment holds every "KEY=VALUE" of marks and names an instance
// (RECONCILED_PROGRAM, RECONCILED_INSTANCE): at start-up, the processes an
// earlier daemon left, whose orphans went to init.
func FindMarked(marks []string) ([]Marked, error) {
	return findMarked(marks, false, nil)
}

// FindEscaped is FindMarked for the processes that left an instance's
// process group: descendants of this process outside the process group of
// every leader s has not released and outside this process's own group.
// It reads the environment only of those, and it does not scan /proc: a
// process that left its group while its parent lived is below that
// parent, in the tree of a leader in from (the leaders whose groups are
// being stopped), and once its parent is gone it is an orphan, which the
// kernel reparents to this process (a subreaper) under its main thread. So
// the trees walked are those of the leaders in from and of the orphans;
// with none of either (every process of a stopped instance gone with its
// group) it costs one read of a children file.
func (s *Starter) FindEscaped(marks []string, from []int) ([]Marked, error) {
	if !s.lister.useChildrenFile {
		return findMarked(marks, true, s.leaderGroups())
	}
	roots, err := s.lister.orphans()
	if err != nil {
		return nil, fmt.Errorf("find escaped processes: %w", err)
	}
	self := os.Getpid()
	selfPgid, _ := unix.Getpgid(self)
	candidates := escapeCandidates(roots, from, self, appendChildren)
	if len(candidates) == 0 {
		return nil, nil
	}
	btime, err := bootTime()
	if err != nil {
		return nil, fmt.Errorf("find escaped processes: %w", err)
	}
	var found []Marked
	var envBuf []byte
	for _, pid := range candidates {
		st, err := readStat(pid)
		if err != nil || st.dead() || st.pgid == selfPgid || s.leadsGroup(st.pgid) {
			continue
		}
		if m, ok := readMarked(pid, st, btime, marks, &envBuf); ok {
			found = append(found, m)
		}
	}
	return found, nil
}

// escapeCandidates returns the processes whose marks FindEscaped reads:
// the orphans and every descendant of them and of the leaders in from,
// each once, never self. The leaders themselves are not candidates: a
// leader leads its own group and is signalled through its pidfd. That
// spares a stop without cgroups a read of each leader's stat, a third of
// the files it opened per instance. children appends a process's children.
func escapeCandidates(orphans, from []int, self int, children func([]int, int) []int) []int {
	seen := make(map[int]bool, len(from))
	var roots []int
	for _, pid := range from {
		if !seen[pid] && pid != self {
			seen[pid] = true
			roots = children(roots, pid)
		}
	}
	roots = append(roots, orphans...)
	var candidates []int
	for len(roots) > 0 {
		pid := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		if seen[pid] || pid == self {
			continue
		}
		seen[pid] = true
		roots = children(roots, pid)
		candidates = append(candidates, pid)
	}
	return candidates
}

// appendChildren appends the children of pid (of each of its threads).
func appendChildren(pids []int, pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tids, err := readDirNames(dir)
	if err != nil {
		return pids // gone
	}
	var buf [4096]byte
	for _, tid := range tids {
		if b, err := readFile(dir+"/"+tid+"/children", buf[:0]); err == nil {
			pids = appendPids(pids, b)
		}
	}
	return pids
}

// leadsGroup reports whether pgid is the group of a leader s has not
// released.
func (s *Starter) leadsGroup(pgid int) bool {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	_, ok := s.leaders[pgid]
	return ok
}

// readMarked reads pid's environment and returns it as a Marked when it
// carries every mark and names an instance.
func readMarked(pid int, st procStat, btime time.Time, marks []string, envBuf *[]byte) (Marked, bool) {
	env, err := readFile("/proc/"+strconv.Itoa(pid)+"/environ", *envBuf)
	if err != nil {
		return Marked{}, false // gone, or not ours to read
	}
	*envBuf = env[:0]
	if !hasMarks(env, marks) {
		return Marked{}, false
	}
	prog, okp := environValue(env, envProgram)
	inst, oki := environValue(env, envInstance)
	idx, err := strconv.Atoi(string(inst))
	if !okp || !oki || err != nil {
		return Marked{}, false
	}
	return Marked{Pid: pid, StartTicks: st.startTicks, Started: ticksToTime(btime, st.startTicks), Program: string(prog), Instance: idx}, true
}

// findMarked scans /proc for the processes with marks: all of them, or
// (escaped) the descendants of this process outside leaders' groups and
// its own.
func findMarked(marks []string, escaped bool, leaders map[int]bool) ([]Marked, error) {
	btime, err := bootTime()
	if err != nil {
		return nil, fmt.Errorf("find marked processes: %w", err)
	}
	pids, err := listPids()
	if err != nil {
		return nil, fmt.Errorf("find marked processes: %w", err)
	}
	self := os.Getpid()
	selfPgid, _ := unix.Getpgid(self)
	stats := make(map[int]procStat, len(pids))
	for _, pid := range pids {
		if pid == self {
			continue
		}
		if st, err := readStat(pid); err == nil && !st.dead() {
			stats[pid] = st
		}
	}
	var found []Marked
	var envBuf []byte
	for pid, st := range stats {
		if escaped && (st.pgid == selfPgid || leaders[st.pgid] || !descends(stats, pid, self)) {
			continue
		}
		if m, ok := readMarked(pid, st, btime, marks, &envBuf); ok {
			found = append(found, m)
		}
	}
	return found, nil
}

// descends reports whether pid is a descendant of root by the parents in
// stats (a snapshot: a loop or a missing parent ends the walk).
func descends(stats map[int]procStat, pid, root int) bool {
	for range len(stats) + 1 {
		st, ok := stats[pid]
		if !ok {
			return false
		}
		if st.ppid == root {
			return true
		}
		pid = st.ppid
	}
	return false
}

// leaderGroups returns the process groups of the leaders s has not
// released.
func (s *Starter) leaderGroups() map[int]bool {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	m := make(map[int]bool, len(s.leaders))
	for pid := range s.leaders {
		m[pid] = true
	}
	return m
}

// SignalMarked sends sig to each process through a pidfd, and only if it is
// still the same process (same start time); one that is gone is skipped.
func SignalMarked(procs []Marked, sig unix.Signal) error {
	var errs []error
	for _, m := range procs {
		if err := signalVerified(m.Pid, sig, func(st procStat) bool { return st.startTicks == m.StartTicks }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Alive reports whether the process m names still runs (not a zombie).
func (m Marked) Alive() bool {
	st, err := readStat(m.Pid)
	return err == nil && !st.dead() && st.startTicks == m.StartTicks
}

// WaitMarked blocks until every process of procs has exited (or was
// already gone), or ctx ends. It costs no polling: each pidfd turns
// readable at its process's exit, and Go's netpoller waits for that.
func WaitMarked(ctx context.Context, procs []Marked) error {
	for _, m := range procs {
		if err := waitMarked(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func waitMarked(ctx context.Context, m Marked) error {
	fd, nonblocking, err := pidfdOpen(m.Pid)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("wait for process %d: pidfd_open: %w", m.Pid, err)
	}
	if !nonblocking {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return fmt.Errorf("wait for process %d: %w", m.Pid, err)
		}
	}
	f := os.NewFile(uintptr(fd), "pidfd") // nonblocking: registered with the netpoller
	defer f.Close()
	if st, err := readStat(m.Pid); err != nil || st.dead() || st.startTicks != m.StartTicks {
		return nil // the pidfd may name a newcomer: the one we want is gone
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("wait for process %d: %w", m.Pid, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rc.Read(func(fd uintptr) bool { return pidfdReadable(int(fd)) })
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		f.Close() // ends the Read
		<-done
		return ctx.Err()
	}
}

// pidfdReadable reports, without blocking, whether a pidfd's process has
// exited.
func pidfdReadable(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}
