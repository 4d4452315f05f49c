package reconciler

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"syscall"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// fakeStarter hands out fakeProcesses and remembers them.
type fakeStarter struct {
	mu      sync.Mutex
	nextPid int
	procs   []*fakeProcess
	fail    error // Start fails with this when set
	// onStart configures each new process (e.g. to ignore TERM).
	onStart func(p *fakeProcess)
}

func (s *fakeStarter) Start(_ context.Context, req StartRequest) (Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	s.nextPid++
	p := &fakeProcess{pid: 1000 + s.nextPid, index: req.Index, hash: spec.Hash(req.Program), done: make(chan struct{}), diesOn: map[syscall.Signal]bool{syscall.SIGTERM: true, syscall.SIGKILL: true, syscall.SIGINT: true}}
	if s.onStart != nil {
		s.onStart(p)
	}
	s.procs = append(s.procs, p)
	return p, nil
}

func (s *fakeStarter) all() []*fakeProcess {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*fakeProcess(nil), s.procs...)
}

// alive returns the processes not yet exited, by index.
func (s *fakeStarter) alive() map[int]*fakeProcess {
	out := map[int]*fakeProcess{}
	for _, p := range s.all() {
		if !p.hasExited() {
			out[p.index] = p
		}
	}
	return out
}

type fakeProcess struct {
	pid, index int
	hash       string

	mu       sync.Mutex
	diesOn   map[syscall.Signal]bool
	signals  []syscall.Signal
	exited   bool
	status   proc.ExitStatus
	released bool
	done     chan struct{}
}

func (p *fakeProcess) Pid() int { return p.pid }

func (p *fakeProcess) Signal(sig syscall.Signal) error { return p.SignalGroup(sig) }

func (p *fakeProcess) SignalGroup(sig syscall.Signal) error {
	p.mu.Lock()
	p.signals = append(p.signals, sig)
	dies := p.diesOn[sig]
	p.mu.Unlock()
	if dies {
		p.exit(proc.ExitStatus{Code: -1, Signal: sig})
	}
	return nil
}

// exit makes the process end with st (once).
func (p *fakeProcess) exit(st proc.ExitStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.exited, p.status = true, st
	close(p.done)
}

func (p *fakeProcess) hasExited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

func (p *fakeProcess) sent() []syscall.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]syscall.Signal(nil), p.signals...)
}

func (p *fakeProcess) Wait(ctx context.Context) (proc.ExitStatus, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.status, nil
	case <-ctx.Done():
		return proc.ExitStatus{}, ctx.Err()
	}
}

func (p *fakeProcess) OnExit(f func()) {
	go func() {
		<-p.done
		f()
	}()
}

// GroupGone is never known at once: the fake's groups end through
// WaitGroupEmpty.
func (p *fakeProcess) GroupGone() bool { return false }

func (p *fakeProcess) OnGroupEmpty(f func()) { p.OnExit(f) }

func (p *fakeProcess) WaitGroupEmpty(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *fakeProcess) Release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.released = true
	return nil
}

// fakeSink records what the program publishes.
type fakeSink struct {
	mu      sync.Mutex
	last    *status.ProgramStatus
	updates int
	events  []status.Event
	deleted bool

	// The StatusSink contract: a status handed over is never changed
	// afterwards. held are the latest ones as received, copies their deep
	// copies taken then; changed records the first difference seen.
	held, copies []status.ProgramStatus
	changed      string
}

func (s *fakeSink) Update(st status.ProgramStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = &st
	s.updates++
	for i := range s.held {
		if s.changed == "" && !reflect.DeepEqual(s.held[i], s.copies[i]) {
			s.changed = fmt.Sprintf("a status was changed after Update: was %+v, now %+v", s.copies[i].Status, s.held[i].Status)
		}
	}
	if len(s.held) == 20 {
		s.held, s.copies = s.held[1:], s.copies[1:]
	}
	s.held, s.copies = append(s.held, st), append(s.copies, st.DeepCopy())
}

// contractBroken is the first change seen to a status after its Update.
func (s *fakeSink) contractBroken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *fakeSink) Event(ev status.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *fakeSink) Delete(string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = true
}

func (s *fakeSink) status() status.ProgramStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return status.ProgramStatus{}
	}
	return *s.last
}

func (s *fakeSink) reasons() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		out = append(out, e.Reason+" "+e.Instance)
	}
	return out
}

func (s *fakeSink) count(reason string) int {
	n := 0
	for _, r := range s.reasons() {
		if len(r) >= len(reason) && r[:len(reason)] == reason {
			n++
		}
	}
	return n
}

// states summarises a status as "0:RUNNING 1:STARTING".
func states(st status.ProgramStatus) string {
	var parts []string
	for _, in := range st.Status.Instances {
		parts = append(parts, fmt.Sprintf("%d:%s", in.Index, in.State))
	}
	sort.Strings(parts)
	return fmt.Sprint(parts)
}
