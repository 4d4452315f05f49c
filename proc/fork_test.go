package proc

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// brokenForker is a forker whose machinery always fails.
type brokenForker struct{ calls atomic.Int64 }

func (b *brokenForker) joinsCgroups() bool { return false }

func (b *brokenForker) close() {}

func (b *brokenForker) forkExec(*forkReq) (forked, error) {
	b.calls.Add(1)
	return forked{}, fmt.Errorf("%w: broken on purpose", errForker)
}

// useForkers makes testStarter fork with fs until the test ends.
func useForkers(t *testing.T, fs ...forker) {
	t.Helper()
	testStarter.forker() // set up
	testStarter.forkMu.Lock()
	saved := testStarter.forkers
	testStarter.forkers = fs
	testStarter.forkMu.Unlock()
	t.Cleanup(func() {
		testStarter.forkMu.Lock()
		testStarter.forkers = saved
		testStarter.forkMu.Unlock()
	})
}

// TestForkerFallback checks that a start whose forker's machinery fails is
// made by the next forker, and that the failed one is not tried again.
func TestForkerFallback(t *testing.T) {
	broken := &brokenForker{}
	useForkers(t, broken, testStarter.threads, callerThread{})
	for range 2 {
		p := start(t, Spec{Argv: []string{"/bin/true"}})
		if p.thread == nil {
			t.Error("not forked by a fork thread, the next forker")
		}
		if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
			t.Errorf("Wait = %v, %v", st, err)
		}
	}
	if n := broken.calls.Load(); n != 1 {
		t.Errorf("the broken forker was tried %d times, want 1", n)
	}
}

// TestDropForker checks that a failed forker is dropped once, however many
// starts saw it fail, and that the last one left is kept.
func TestDropForker(t *testing.T) {
	s := &Starter{}
	broken, next := &brokenForker{}, &brokenForker{}
	s.forkers = []forker{broken, next}
	for i := range 2 { // a second start that saw broken fail
		if !s.dropForker(broken, errForker) || s.forkers[0] != next {
			t.Fatalf("drop %d: forkers %v, want next first and a retry", i, s.forkers)
		}
	}
	if s.dropForker(next, errForker) || len(s.forkers) != 1 {
		t.Errorf("the last forker was dropped: %v", s.forkers)
	}
}
