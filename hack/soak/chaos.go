package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// setup writes the programs' first manifests, all valid.
func (s *soak) setup() error {
	kinds := []kind{kindSleep, kindSleep, kindCrash, kindIgnoreTerm, kindEscape}
	for i := 0; i < s.opt.programs; i++ {
		p := program{name: fmt.Sprintf("p%03d", i), kind: kinds[i%len(kinds)]}
		s.progs = append(s.progs, p)
		if err := writeRename(s.dir, p.path(s.dir), p.manifest(randomShape(s.r, p.kind)), s.r); err != nil {
			return err
		}
		s.refresh(p)
	}
	return nil
}

// edit changes one manifest with a random writer: valid, invalid or
// half-written content, or a deletion (the next edit recreates it).
func (s *soak) edit() error {
	p := s.progs[s.r.IntN(len(s.progs))]
	target := p.path(s.dir)
	_, statErr := os.Lstat(target)
	exists := statErr == nil
	sh := randomShape(s.r, p.kind)
	data := p.manifest(sh)
	switch roll := s.r.IntN(20); {
	case !exists:
	case roll == 0:
		if err := os.Remove(target); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		s.refresh(p)
		s.mu.Lock()
		s.n.edits++
		s.n.deletes++
		s.mu.Unlock()
		return nil
	case roll <= 2:
		data = invalid(s.r, p, sh)
	case roll <= 4:
		data = data[:s.r.IntN(len(data))]
	}
	ws := writers()
	w := ws[s.r.IntN(len(ws))]
	if err := w.w(s.dir, target, data, s.r); err != nil {
		return fmt.Errorf("%s writer: %w", w.name, err)
	}
	s.refresh(p)
	s.mu.Lock()
	s.n.edits++
	s.mu.Unlock()
	return nil
}

// cli runs `reconciled scale`, `stop` or `start` on one program.
func (s *soak) cli(ctx context.Context) {
	p := s.progs[s.r.IntN(len(s.progs))]
	var args []string
	switch s.r.IntN(3) {
	case 0:
		args = []string{"scale", p.name, strconv.Itoa(s.r.IntN(6))}
	case 1:
		args = []string{"stop", p.name}
	default:
		args = []string{"start", p.name}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.opt.bin, append(args, "--dir", s.dir)...)
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	s.refresh(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n.cliEdits++
	if err != nil {
		// An invalid or deleted manifest cannot be edited: not a violation.
		s.n.cliFailures++
	}
}

// killInstance SIGKILLs one instance's process, found in the last status
// read and checked against /proc (its marks and the token), so that a
// reused pid is never hit.
func (s *soak) killInstance() {
	s.mu.Lock()
	var pids []status.Instance
	var names []string
	for _, st := range s.statuses {
		for _, in := range st.Status.Instances {
			if in.Pid > 0 {
				pids = append(pids, in)
				names = append(names, st.Metadata.Name)
			}
		}
	}
	s.mu.Unlock()
	if len(pids) == 0 {
		return
	}
	i := s.r.IntN(len(pids))
	in := pids[i]
	env, err := os.ReadFile("/proc/" + strconv.Itoa(in.Pid) + "/environ")
	if err != nil || !hasVar(env, []byte(s.tokenEnv)) || !hasVar(env, []byte("RECONCILED_PROGRAM="+names[i])) ||
		!hasVar(env, []byte("RECONCILED_INSTANCE="+strconv.Itoa(in.Index))) {
		return
	}
	if syscall.Kill(in.Pid, syscall.SIGKILL) == nil {
		s.mu.Lock()
		s.n.kills++
		s.mu.Unlock()
	}
}

// restartDaemon SIGKILLs the daemon and starts it again.
func (s *soak) restartDaemon() error {
	if err := s.killDaemon(); err != nil {
		return err
	}
	s.mu.Lock()
	s.n.daemonKills++
	s.mu.Unlock()
	return s.startDaemon()
}

// storm drives the chaos until the duration ends or ctx is cancelled.
func (s *soak) storm(ctx context.Context) error {
	end := time.Now().Add(s.opt.duration)
	// A daemon kill every fifth of the run, 10-60s apart, jittered.
	every := min(max(s.opt.duration/5, 10*time.Second), 60*time.Second)
	// The first comes by half-time at the latest, so that a short run
	// restarts the daemon too.
	nextKill := time.Now().Add(min(every/2+time.Duration(s.r.Int64N(int64(every))), s.opt.duration/2))
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.opt.interval):
		}
		if !s.daemonAlive() {
			// It exited on its own (a violation, already counted): carry on.
			if err := s.startDaemon(); err != nil {
				return err
			}
		}
		if time.Now().After(nextKill) && time.Until(end) > 3*time.Second {
			if err := s.restartDaemon(); err != nil {
				return err
			}
			nextKill = time.Now().Add(every/2 + time.Duration(s.r.Int64N(int64(every))))
			continue
		}
		switch roll := s.r.IntN(100); {
		case roll < 55:
			if err := s.edit(); err != nil {
				return err
			}
		case roll < 75:
			s.killInstance()
		case roll < 85:
			s.cli(ctx)
		case roll < 90:
			s.mu.Lock()
			pid := s.daemon.Process.Pid
			s.n.sighups++
			s.mu.Unlock()
			_ = syscall.Kill(pid, syscall.SIGHUP)
		}
	}
	return nil
}

// mismatches compares every program's status and processes with its last
// valid spec; it returns what differs (nothing once converged).
func (s *soak) mismatches() []string {
	ps := scanProcs(s.tokenEnv)
	leaders := map[string]map[int][]int{}
	procs := map[string]int{}
	for _, p := range ps {
		if p.program == "" {
			continue
		}
		procs[p.program]++
		if p.leader() {
			if leaders[p.program] == nil {
				leaders[p.program] = map[int][]int{}
			}
			leaders[p.program][p.index] = append(leaders[p.program][p.index], p.pid)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.progs {
		e := s.model[p.name]
		st, err := status.ReadFile(status.StatusPath(s.dir, p.name))
		if e == nil || e.valid == nil {
			if !errors.Is(err, fs.ErrNotExist) {
				out = append(out, p.name+": deleted but its status file is still there")
			}
			if procs[p.name] > 0 {
				out = append(out, fmt.Sprintf("%s: deleted but %d processes left", p.name, procs[p.name]))
			}
			continue
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%s: status: %v", p.name, err))
			continue
		}
		// The spec the daemon runs must be one it may rightly keep (see
		// entry.accepted): the one its status names.
		specs, none := e.accepted()
		var target *spec.Program
		for _, c := range specs {
			if spec.Hash(c) == st.Status.SpecHash {
				target = c
			}
		}
		if target == nil {
			if none && st.Status.SpecHash == "" && st.Status.Desired == string(spec.DesiredStopped) && st.Status.Replicas == 0 && procs[p.name] == 0 {
				continue // it never saw a valid version: nothing runs
			}
			out = append(out, fmt.Sprintf("%s: status specHash %q, desired %s/%d; the last valid spec %s/%d has %s (%d valid versions since the last one the daemon showed, file valid now: %v)",
				p.name, st.Status.SpecHash, st.Status.Desired, st.Status.Replicas, e.valid.Spec.Desired, e.valid.Spec.Replicas, spec.Hash(e.valid), len(specs), e.current))
			continue
		}
		sp := target.Spec
		running := sp.Desired == spec.DesiredRunning
		want := 0 // status.replicas counts the instances wanted running
		if running {
			want = sp.Replicas
		}
		if st.Status.Desired != string(sp.Desired) || st.Status.Replicas != want {
			out = append(out, fmt.Sprintf("%s: status says %s/%d, its spec %s/%d", p.name, st.Status.Desired, st.Status.Replicas, sp.Desired, sp.Replicas))
		}
		if !running && procs[p.name] > 0 {
			out = append(out, fmt.Sprintf("%s: stopped but %d processes left", p.name, procs[p.name]))
		}
		for i, pids := range leaders[p.name] {
			if !running || i >= sp.Replicas || len(pids) > 1 {
				out = append(out, fmt.Sprintf("%s-%d: leaders %v not wanted by %s/%d", p.name, i, pids, sp.Desired, sp.Replicas))
			}
		}
		if !running || !p.kind.longRunning() {
			continue
		}
		pidOf := map[int]int{}
		for _, in := range st.Status.Instances {
			if in.State == "RUNNING" {
				pidOf[in.Index] = in.Pid
			}
		}
		if len(sp.Command) == 0 {
			out = append(out, p.name+": its last valid spec has no command (an empty `spec:` passed spec.Parse)")
			continue
		}
		for i := 0; i < sp.Replicas; i++ {
			pids := leaders[p.name][i]
			if len(pids) != 1 || pidOf[i] != pids[0] {
				out = append(out, fmt.Sprintf("%s-%d: want one running process, have %v, status pid %d", p.name, i, pids, pidOf[i]))
			}
		}
	}
	return out
}

// converge waits up to opt.converge for every program to match its last
// valid spec; what still differs then is a violation each.
func (s *soak) converge(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(s.opt.converge)
	for {
		mm := s.mismatches()
		if len(mm) == 0 {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			for _, m := range mm {
				s.violate("converge:"+m, "not converged after %s: %s", s.opt.converge, m)
			}
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
