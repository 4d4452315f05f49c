package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// options are the soak's settings; see the flags in main.go.
type options struct {
	bin      string        // the reconciled binary
	programs int           // how many programs
	duration time.Duration // how long the storm lasts
	interval time.Duration // pause between two chaos actions
	grace    time.Duration // added to stopTimeout before a leftover is an orphan
	converge time.Duration // how long the final state may take after the storm
	seed     uint64
	keep     bool      // keep the temp dir (for a post-mortem)
	log      io.Writer // violations and progress
}

// counts are the figures of the summary line.
type counts struct {
	edits, invalidEdits, deletes, cliEdits, cliFailures int
	kills, daemonKills, sighups, statusReads, scans     int
}

// entry is what the soak knows of one program: its last valid spec (nil
// once the file is deleted) and when it last touched the file.
type entry struct {
	valid   *spec.Program // the file's last valid content; nil once deleted
	current bool          // the file's content now is valid
	touched time.Time
	// since are the valid versions written since (and with) the last one
	// the daemon's status showed (confirmed), with their hashes. While the
	// file is invalid, the daemon keeps the last valid spec it saw: any of
	// them (a version it never read, replaced within its debounce or while
	// it was down, it cannot keep), or none when none was confirmed since
	// the file was created.
	since     []*spec.Program
	sinceHash []string
	confirmed bool
}

// maxSince bounds entry.since: versions older than the last confirmed
// one are dropped as soon as a status shows a newer one.
const maxSince = 64

// accepted returns the specs the daemon may rightly be running: the file's
// content when valid, else any version since the confirmed one; none
// (nil, true) when the daemon may have no valid spec at all.
func (e *entry) accepted() (specs []*spec.Program, none bool) {
	if e.valid == nil {
		return nil, true
	}
	if e.current {
		return []*spec.Program{e.valid}, false
	}
	return e.since, !e.confirmed
}

// confirm notes that the daemon's status shows hash.
func (e *entry) confirm(hash string) {
	for j := len(e.sinceHash) - 1; j >= 0; j-- {
		if e.sinceHash[j] == hash {
			e.since, e.sinceHash, e.confirmed = e.since[j:], e.sinceHash[j:], true
			return
		}
	}
}

type soak struct {
	opt      options
	r        *rand.Rand
	root     string // temp dir: dir, the daemon's log, cp sources
	dir      string // the daemon's --dir
	tokenEnv string // RECONCILED_SOAK_TOKEN=...
	progs    []program

	mu         sync.Mutex
	model      map[string]*entry
	daemon     *exec.Cmd
	daemonDone chan struct{}
	daemonUp   time.Time // zero while the daemon is down
	killing    bool      // the soak killed the daemon on purpose
	statuses   []status.ProgramStatus
	n          counts
	seen       map[string]bool // violation keys, each counted once
	violations int
}

func newSoak(opt options) (*soak, error) {
	root, err := os.MkdirTemp("", "reconciled-soak-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s := &soak{
		opt:      opt,
		r:        rand.New(rand.NewPCG(opt.seed, opt.seed^0x9e3779b97f4a7c15)),
		root:     root,
		dir:      root + "/d",
		tokenEnv: fmt.Sprintf("RECONCILED_SOAK_TOKEN=%d-%x", os.Getpid(), opt.seed),
		model:    map[string]*entry{},
		seen:     map[string]bool{},
	}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		return s, fmt.Errorf("manifest dir: %w", err)
	}
	return s, nil
}

// violate records one violation; the same key counts once.
func (s *soak) violate(key, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[key] {
		return
	}
	s.seen[key] = true
	s.violations++
	if s.violations <= 50 {
		fmt.Fprintf(s.opt.log, "soak: violation: "+format+"\n", args...)
	}
}

// cleanup shuts the daemon down (SIGTERM: it removes its cgroups, which a
// SIGKILL would leave behind), SIGKILLs every process still carrying the
// token and removes the temp dir.
func (s *soak) cleanup() error {
	s.mu.Lock()
	s.killing = true
	cmd, done := s.daemon, s.daemonDone
	s.mu.Unlock()
	if cmd != nil && done != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}
	left := killAll(s.tokenEnv, 50, func() { time.Sleep(100 * time.Millisecond) })
	s.mu.Lock()
	done = s.daemonDone
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	var err error
	if s.opt.keep {
		fmt.Fprintf(s.opt.log, "soak: kept %s\n", s.root)
	} else {
		err = os.RemoveAll(s.root)
	}
	if left > 0 {
		return fmt.Errorf("%d processes of the soak survived SIGKILL", left)
	}
	if err != nil {
		return fmt.Errorf("remove temp dir: %w", err)
	}
	return nil
}

// startDaemon runs `reconciled run --dir D` in a process group of its own,
// with the token in its environment so that every instance inherits it.
func (s *soak) startDaemon() error {
	logf, err := os.OpenFile(s.root+"/daemon.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	cmd := exec.Command(s.opt.bin, "run", "--dir", s.dir)
	cmd.Env = append(os.Environ(), s.tokenEnv)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start daemon: %w", err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.daemon, s.daemonDone, s.daemonUp, s.killing = cmd, done, time.Now(), false
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		killed := s.killing
		s.daemonUp = time.Time{}
		s.mu.Unlock()
		if !killed {
			s.violate(fmt.Sprintf("daemon-exit-%d", cmd.Process.Pid), "daemon pid %d exited without being killed: %v", cmd.Process.Pid, err)
		}
		close(done)
	}()
	return nil
}

// killDaemon SIGKILLs the daemon and waits for it to be reaped.
func (s *soak) killDaemon() error {
	s.mu.Lock()
	cmd, done := s.daemon, s.daemonDone
	s.killing = true
	s.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("daemon did not die within 10s of SIGKILL")
	}
}

// daemonAlive reports whether the daemon runs (it may have died on its own).
func (s *soak) daemonAlive() bool {
	s.mu.Lock()
	done := s.daemonDone
	s.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// refresh reads p's manifest as the daemon would and updates the model:
// a valid file replaces the last valid spec, an invalid one keeps it, a
// missing one removes the program.
func (s *soak) refresh(p program) {
	data, err := os.ReadFile(p.path(s.dir))
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.model[p.name]
	if e == nil {
		e = &entry{}
		s.model[p.name] = e
	}
	e.touched = time.Now()
	if errors.Is(err, fs.ErrNotExist) {
		*e = entry{touched: e.touched}
		return
	}
	if err != nil {
		return
	}
	prog, errs := spec.Parse(p.path(s.dir), data)
	e.current = len(errs) == 0
	if !e.current {
		s.n.invalidEdits++
		return
	}
	e.valid = prog
	e.since = append(e.since, prog)
	e.sinceHash = append(e.sinceHash, spec.Hash(prog))
	if len(e.since) > maxSince {
		e.since, e.sinceHash = e.since[1:], e.sinceHash[1:]
	}
}

// wanted reports whether the model wants instance index of program name
// running, and since when that may have changed.
func (s *soak) wanted(name string, index int) (want bool, settled time.Time) {
	e := s.model[name]
	if e == nil {
		return false, time.Time{}
	}
	settled = e.touched
	if s.daemonUp.After(settled) {
		settled = s.daemonUp
	}
	specs, _ := e.accepted()
	for _, p := range specs {
		if p.Spec.Desired == spec.DesiredRunning && index < p.Spec.Replicas {
			return true, settled
		}
	}
	return false, settled
}

// check runs the continuous checks once.
func (s *soak) check() {
	sts, err := status.ReadDir(s.dir)
	ps := scanProcs(s.tokenEnv)
	now := time.Now()
	s.mu.Lock()
	s.n.scans++
	s.n.statusReads += len(sts)
	if err == nil {
		s.statuses = sts
		for _, st := range sts {
			if e := s.model[st.Metadata.Name]; e != nil {
				e.confirm(st.Status.SpecHash)
			}
		}
	}
	up := !s.daemonUp.IsZero()
	type key struct {
		prog  string
		index int
	}
	leaders := map[key][]proc{}
	var orphans []proc
	for _, p := range ps {
		if p.program == "" {
			continue
		}
		if p.leader() {
			leaders[key{p.program, p.index}] = append(leaders[key{p.program, p.index}], p)
		}
		// A stop takes at most stopTimeout (2s at most in the soak) plus
		// the grace; the clock starts at the program's last edit or the
		// daemon's start, whichever is later.
		if want, settled := s.wanted(p.program, p.index); up && !want && now.Sub(settled) > 2*time.Second+s.opt.grace {
			orphans = append(orphans, p)
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.violate("status:"+err.Error(), "unparsable status: %v", err)
	}
	for k, ls := range leaders {
		if len(ls) < 2 {
			continue
		}
		var alive []int
		for _, l := range ls {
			if stillAlive(l) {
				alive = append(alive, l.pid)
			}
		}
		if len(alive) > 1 {
			sort.Ints(alive)
			s.violate(fmt.Sprintf("dup:%s-%d:%v", k.prog, k.index, alive), "two live processes for %s-%d: pids %v", k.prog, k.index, alive)
		}
	}
	for _, p := range orphans {
		if stillAlive(p) {
			s.violate(fmt.Sprintf("orphan:%d:%d", p.pid, p.start), "orphan pid %d of %s-%d alive past its stopTimeout", p.pid, p.program, p.index)
		}
	}
}

// checker runs check every 200ms until ctx ends.
func (s *soak) checker(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		s.check()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
