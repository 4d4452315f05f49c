package lazychan

import "testing"

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A channel asked for before the fire is made open and kept; one asked for
// after is made closed.
func TestGet(t *testing.T) {
	var ch chan struct{}
	got := Get(&ch, false)
	if got == nil || closed(got) {
		t.Fatal("asked before the fire: want an open channel")
	}
	if again := Get(&ch, false); again != got {
		t.Error("a second ask made another channel")
	}
	close(ch) // the fire, by the caller

	var late chan struct{}
	if got := Get(&late, true); got == nil || !closed(got) {
		t.Error("asked after the fire: want a closed channel")
	}
}
