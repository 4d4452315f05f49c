package reconciler

import (
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// lastSink keeps the last status and counts what it gets, without the deep
// copies of fakeSink (which would cost more than the program at 5000).
type lastSink struct {
	mu      sync.Mutex
	last    status.ProgramStatus
	updates int
}

func (s *lastSink) Update(st status.ProgramStatus) {
	s.mu.Lock()
	s.last = st
	s.updates++
	s.mu.Unlock()
}
func (s *lastSink) Event(status.Event) {}
func (s *lastSink) Delete(string)      {}

func (s *lastSink) get() status.ProgramStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// benchProgram runs a program of n `sleep` instances on fake processes with
// the real clock, and waits until all are ready.
func benchProgram(b *testing.B, n int, publishEvery time.Duration) (*program, *fakeStarter, *lastSink) {
	b.Helper()
	starter, sink := &fakeStarter{}, &lastSink{}
	p := newProgram(b.Context(), "bench", programOptions{log: logr.Discard(), clock: clock.Real{}, starter: starter,
		sink: sink, spawnSlots: make(chan struct{}, 64), publishEvery: publishEvery})
	go p.run()
	prog, errs := spec.Parse("bench.yaml", []byte("spec:\n  command: sleep 1000\n  replicas: "+strconv.Itoa(n)+
		"\n  startSeconds: 0s\n  restartDelay: 0s\n"))
	if errs != nil {
		b.Fatal(errs)
	}
	d := desired{prog: prog, hash: spec.Hash(prog)}
	p.set(d)
	b.Cleanup(func() {
		d.shutdown = true
		p.set(d)
		<-p.done
	})
	deadline := time.Now().Add(time.Minute)
	for sink.get().Status.ReadyReplicas != n {
		if time.Now().After(deadline) {
			b.Fatalf("%d instances not ready within a minute", n)
		}
		time.Sleep(time.Millisecond)
	}
	return p, starter, sink
}

// BenchmarkProgramReplace: an op is one process exit (SIGKILL) of a program
// of N instances, until the status the program publishes shows the
// replacement running. With publishEvery 0 every pass builds a status, so
// the op holds two builds (after the exit, after the start): what grows
// with N is the build. ns/op should not grow with N beyond it.
//
//	go test -run '^$' -bench ProgramReplace ./reconciler
func BenchmarkProgramReplace(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			_, starter, sink := benchProgram(b, n, 0)
			cur := make([]*fakeProcess, n)
			for _, p := range starter.all() {
				cur[p.index] = p
			}
			// The newest process and how many there have been, without
			// copying them all as starter.all does.
			newest := func() (int, *fakeProcess) {
				starter.mu.Lock()
				defer starter.mu.Unlock()
				return len(starter.procs), starter.procs[len(starter.procs)-1]
			}
			b.ResetTimer()
			for i := range b.N {
				k := i * 7919 % n
				before, _ := newest()
				cur[k].exit(proc.ExitStatus{Code: -1, Signal: syscall.SIGKILL})
				for {
					if count, np := newest(); count > before {
						if np.index == k {
							if in := sink.get().Status.Instances[k]; in.Pid == np.pid && in.State == string(Running) {
								cur[k] = np
								break
							}
						}
					}
					time.Sleep(20 * time.Microsecond)
				}
			}
		})
	}
}

// BenchmarkObserve: one status build of a program of N running instances
// after a pass that touched one instance (one: a copy of the last list and
// one observation) and after a full pass (all: N observations).
func BenchmarkObserve(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		p, _, _ := benchProgram(b, n, 0)
		for _, kind := range []string{"one", "all"} {
			b.Run(kind+"/"+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					// The program is idle: its goroutine waits for a
					// message, and the build reads its state only.
					if kind == "one" {
						p.built.touch([]int{i % n})
					} else {
						p.built.touchAll()
					}
					i++
					p.observe()
				}
			})
		}
	}
}
