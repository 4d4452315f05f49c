package reconciler

import (
	"slices"
	"sync"
	"testing"
)

// A backlog carries its items out in order, on one goroutine at a time, and
// the WaitGroup it was given covers them all; once drained, the next add
// starts a goroutine again.
func TestBacklogOrderAndWait(t *testing.T) {
	var b backlog[int]
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []int
	inside, maxInside := 0, 0
	gate := make(chan struct{})
	do := func(i int) {
		mu.Lock()
		inside++
		maxInside = max(maxInside, inside)
		mu.Unlock()
		if i == 0 {
			<-gate // hold the first item until the rest are queued
		}
		mu.Lock()
		got = append(got, i)
		inside--
		mu.Unlock()
	}
	for i := range 100 {
		b.add(&wg, i, do)
	}
	close(gate)
	wg.Wait()
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order: got %v", got)
	}
	if maxInside != 1 {
		t.Fatalf("%d items were carried out at once, want 1", maxInside)
	}
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if running {
		t.Fatal("the goroutine did not end with the backlog drained")
	}

	// Drained: a later add starts a goroutine again, and wg covers it.
	b.add(&wg, 100, do)
	wg.Wait()
	if len(got) != 101 || got[100] != 100 {
		t.Fatalf("after a drain: got %v", got[len(got)-1:])
	}
}
