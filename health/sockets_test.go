package health

import (
	"errors"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
)

// countingListener is listenCounting without the listener.
func countingListener(t *testing.T) (port int, accepted *atomic.Int64) {
	t.Helper()
	_, port, accepted = listenCounting(t)
	return port, accepted
}

// openFds counts this process's open file descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func newPooledProber(t *testing.T, sockets *Sockets, port int) Prober {
	t.Helper()
	pr, err := New(&spec.Probe{TCPSocket: &spec.TCPSocketAction{Port: strconv.Itoa(port)}}, Target{Sockets: sockets})
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestSocketsReused: probes one after another share one socket; each is a
// connection of its own that the listener accepts, and none leaves a
// TIME_WAIT socket or a descriptor behind.
func TestSocketsReused(t *testing.T) {
	port, accepted := countingListener(t)
	sockets := NewSockets()
	defer sockets.Close()
	pr := newPooledProber(t, sockets, port)
	tw := timeWaitSockets()
	before := openFds(t)
	const n = 200
	for i := range n {
		if r := probeWithin(t, pr, 5*time.Second); !r.OK {
			t.Fatalf("probe %d: got %+v, want OK", i, r)
		}
	}
	if got := sockets.idleCount(); got != 1 {
		t.Errorf("%d idle sockets after probes one at a time, want 1", got)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return accepted.Load() == n }, "the listener accepts every probe's connection")
	if got := openFds(t); got != before+1 {
		t.Errorf("%d open fds after %d probes, want %d (one pooled socket)", got, n, before+1)
	}
	if got := timeWaitSockets(); got > tw+n/10 {
		t.Errorf("TIME_WAIT sockets went from %d to %d over %d probes: a socket was not reset", tw, got, n)
	}
	if err := sockets.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openFds(t); got != before {
		t.Errorf("%d open fds after Close, want %d", got, before)
	}
	// A Sockets that is closed lends nothing and keeps nothing.
	if r := probeWithin(t, pr, 5*time.Second); !r.OK {
		t.Fatalf("probe after Close: got %+v, want OK", r)
	}
	if got := sockets.idleCount(); got != 0 {
		t.Errorf("%d idle sockets after Close, want 0", got)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return accepted.Load() == n+1 }, "the listener accepts the last connection")
	if got := openFds(t); got != before {
		t.Errorf("%d open fds after a probe past Close, want %d", got, before)
	}
}

// TestSocketsAfterFailure: a reused socket reports a refused connection as
// a fresh one does, is not kept, and the next probe to a listener succeeds.
func TestSocketsAfterFailure(t *testing.T) {
	port, _ := countingListener(t)
	sockets := NewSockets()
	defer sockets.Close()
	ok := newPooledProber(t, sockets, port)
	refused := newPooledProber(t, sockets, freePort(t))
	for round := range 3 {
		if r := probeWithin(t, ok, 5*time.Second); !r.OK {
			t.Fatalf("round %d: got %+v, want OK", round, r)
		}
		if got := sockets.idleCount(); got != 1 {
			t.Fatalf("round %d: %d idle sockets after a success, want 1", round, got)
		}
		r := probeWithin(t, refused, 5*time.Second)
		if r.OK || !errors.Is(r.Err, syscall.ECONNREFUSED) {
			t.Fatalf("round %d: got %+v, want connection refused", round, r)
		}
		if got := sockets.idleCount(); got != 0 {
			t.Fatalf("round %d: %d idle sockets after a failure, want 0", round, got)
		}
	}
}

// TestSocketsConcurrent: probes at the same time each get a socket of their
// own, and at most maxIdleSockets stay.
func TestSocketsConcurrent(t *testing.T) {
	port, accepted := countingListener(t)
	sockets := NewSockets()
	defer sockets.Close()
	pr := newPooledProber(t, sockets, port)
	const workers, each = 64, 20
	errs := make(chan error, workers)
	ctx := testCtx(t)
	for range workers {
		go func() {
			for range each {
				if r := pr.Probe(ctx); !r.OK {
					errs <- r.Err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := sockets.idleCount(); got < 1 || got > maxIdleSockets {
		t.Errorf("%d idle sockets, want 1..%d", got, maxIdleSockets)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return accepted.Load() == workers*each }, "the listener accepts every connection")
}
