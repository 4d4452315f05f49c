package watch

import (
	"testing"
	"time"
)

func TestBurstDue(t *testing.T) {
	const debounce, maxDelay = 10 * time.Millisecond, 100 * time.Millisecond
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

	tests := []struct {
		name   string
		events []int // trigger times in ms after t0
		want   []int // wait returned after each trigger, in ms
	}{
		{"single trigger waits debounce", []int{0}, []int{10}},
		{"trailing edge moves with each trigger", []int{0, 5, 9}, []int{10, 10, 10}},
		{"storm is capped at maxDelay after the first trigger", []int{0, 50, 95, 99}, []int{10, 10, 5, 1}},
		{"late trigger in a long burst waits only for the cap", []int{0, 100}, []int{10, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := burst{debounce: debounce, maxDelay: maxDelay}
			for i, at := range tt.events {
				if got, want := b.add(ms(at)), time.Duration(tt.want[i])*time.Millisecond; got != want {
					t.Errorf("trigger at %dms: wait %v, want %v", at, got, want)
				}
			}
			if got := b.take(); got != len(tt.events) {
				t.Errorf("take = %d, want %d", got, len(tt.events))
			}
			if b.open {
				t.Error("burst still open after take")
			}
			// The next trigger opens a new burst.
			if got := b.add(ms(500)); got != debounce {
				t.Errorf("new burst: wait %v, want %v", got, debounce)
			}
		})
	}
}
