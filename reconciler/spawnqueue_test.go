package reconciler

import (
	"context"
	"testing"
)

func TestSpawnQueue(t *testing.T) {
	var q spawnQueue
	var started int
	for i := range 5 {
		if q.add(spawnReq{idx: i}, 2) {
			started++
		}
	}
	if started != 2 {
		t.Fatalf("%d spawners for 5 starts with a limit of 2", started)
	}
	// Two spawners drain the five in order, then both end.
	var got []int
	ended := 0
	for ended < 2 {
		r, ok := q.next(t.Context())
		if !ok {
			ended++
			continue
		}
		got = append(got, r.idx)
	}
	if len(got) != 5 || got[0] != 0 || got[4] != 4 {
		t.Errorf("took %v, want 0..4 in order", got)
	}
	if q.spawners != 0 || q.reqs != nil {
		t.Errorf("after draining: %d spawners, %d queued", q.spawners, len(q.reqs))
	}
	// A limit of 0 still has one spawner.
	if !q.add(spawnReq{idx: 9}, 0) || q.add(spawnReq{idx: 10}, 0) {
		t.Error("limit 0: want exactly one spawner")
	}
	// A program that has ended drops what is queued.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok := q.next(ctx); ok || q.spawners != 0 || q.reqs != nil {
		t.Errorf("after the end: took a start, or %d spawners and %d queued are left", q.spawners, len(q.reqs))
	}
}
