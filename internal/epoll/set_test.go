package epoll

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// waitTimeout bounds every wait of these tests for an outcome. It is
// generous, for a loaded machine under -race: a passing test never waits
// that long.
const waitTimeout = 20 * time.Second

// chanHandler reports each Ready on a channel.
type chanHandler chan struct{}

func (h chanHandler) Ready() { h <- struct{}{} }

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	return fds[0], fds[1]
}

func waitReady(t *testing.T, h chanHandler) {
	t.Helper()
	select {
	case <-h:
	case <-time.After(waitTimeout):
		t.Fatal("no Ready")
	}
}

// notReady checks that h gets no Ready for a while: the negative half of a
// one-shot check, bounded by a short window (a Ready that came would come
// within microseconds).
func notReady(t *testing.T, h chanHandler) {
	t.Helper()
	select {
	case <-h:
		t.Fatal("Ready while disarmed or forgotten")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestOneShotRearmForget(t *testing.T) {
	var s Set
	r, w := pipe(t)
	defer unix.Close(r)
	defer unix.Close(w)
	h := make(chanHandler, 4)
	tok, err := s.Add(r, h)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(w, []byte("a"))
	waitReady(t, h)
	// Still readable, but disarmed: no second Ready.
	unix.Write(w, []byte("b"))
	notReady(t, h)
	if err := s.Rearm(r, tok); err != nil {
		t.Fatal(err)
	}
	waitReady(t, h) // the data still there fires at once
	s.Forget(tok)
	if err := s.Rearm(r, tok); err != nil {
		t.Fatal(err)
	}
	notReady(t, h)
	waitfor.Condition(t, waitTimeout, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.running
	}, "the goroutine to end with nothing registered")
}

// forgetter forgets its token in Ready, as a handler that is done does.
type forgetter struct {
	s     *Set
	tok   chan uint64 // the token, once Add returned it
	ready chan struct{}
}

func (f *forgetter) Ready() {
	f.s.Forget(<-f.tok)
	close(f.ready)
}

// TestHangUpAndRestart: a closed writer makes the read end ready (end of
// file); the wake-up that leaves no token ends the goroutine, and the next
// Add starts a new one.
func TestHangUpAndRestart(t *testing.T) {
	var s Set
	for range 3 {
		r, w := pipe(t)
		f := &forgetter{s: &s, tok: make(chan uint64, 1), ready: make(chan struct{})}
		tok, err := s.Add(r, f)
		if err != nil {
			t.Fatal(err)
		}
		f.tok <- tok
		unix.Close(w)
		<-f.ready
		unix.Close(r)
		waitfor.Condition(t, waitTimeout, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return !s.running
		}, "the goroutine to end")
	}
}

// TestDrain: Drain calls the Handler of a ready fd on the caller's
// goroutine, and an event goes to one caller only.
func TestDrain(t *testing.T) {
	var s Set
	r, w := pipe(t)
	defer unix.Close(r)
	defer unix.Close(w)
	h := make(chanHandler, 4)
	if _, err := s.Add(r, h); err != nil {
		t.Fatal(err)
	}
	unix.Write(w, []byte("x"))
	s.Drain()
	waitReady(t, h)
	notReady(t, h)
}

// TestClose: Close ends a goroutine left parked (the last token was
// forgotten outside a wake-up) and closes the epoll fd; Add, Rearm and
// Drain then fail or do nothing; a second Close is a no-op.
func TestClose(t *testing.T) {
	var s Set
	r, w := pipe(t)
	defer unix.Close(r)
	defer unix.Close(w)
	h := make(chanHandler, 4)
	tok, err := s.Add(r, h)
	if err != nil {
		t.Fatal(err)
	}
	s.Forget(tok) // no wake-up comes: the goroutine stays parked
	s.mu.Lock()
	ep := s.ep
	s.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		t.Error("the goroutine still runs after Close")
	}
	if _, err := unix.FcntlInt(uintptr(ep), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("epoll fd %d still open after Close (fcntl: %v)", ep, err)
	}
	if _, err := s.Add(r, h); err == nil {
		t.Error("Add after Close succeeded")
	}
	if err := s.Rearm(r, tok); err == nil {
		t.Error("Rearm after Close succeeded")
	}
	unix.Write(w, []byte("x"))
	s.Drain()
	notReady(t, h)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestReusedSlot: a forgotten token's slot serves the next Add under a new
// token; an event for the old token (an fd armed with it) reaches neither
// Handler, and the new one gets its own.
func TestReusedSlot(t *testing.T) {
	var s Set
	r1, w1 := pipe(t)
	defer unix.Close(r1)
	defer unix.Close(w1)
	r2, w2 := pipe(t)
	defer unix.Close(r2)
	defer unix.Close(w2)
	h1, h2 := make(chanHandler, 4), make(chanHandler, 4)
	tok1, err := s.Add(r1, h1)
	if err != nil {
		t.Fatal(err)
	}
	s.Forget(tok1)
	s.Forget(tok1) // a second Forget changes nothing
	tok2, err := s.Add(r2, h2)
	if err != nil {
		t.Fatal(err)
	}
	if tok2 == tok1 || tok2 == 0 {
		t.Fatalf("tokens %#x then %#x: want a new, non-zero one", tok1, tok2)
	}
	if n := s.Len(); n != 1 {
		t.Fatalf("Len %d, want 1", n)
	}
	unix.Write(w1, []byte("a")) // r1 is still armed with tok1
	notReady(t, h1)
	notReady(t, h2)
	unix.Write(w2, []byte("b"))
	waitReady(t, h2)
	s.Forget(tok2)
	if n := s.Len(); n != 0 {
		t.Fatalf("Len %d after Forget, want 0", n)
	}
}

// hangupHandler reports Ready and HungUp on channels of their own.
type hangupHandler struct{ ready, hungUp chan struct{} }

func (h hangupHandler) Ready()  { h.ready <- struct{}{} }
func (h hangupHandler) HungUp() { h.hungUp <- struct{}{} }

// TestHangup: a HangupHandler whose pipe hung up empty gets HungUp; one
// whose pipe still holds data gets Ready (the data must be read); a plain
// Handler gets Ready either way.
func TestHangup(t *testing.T) {
	var s Set
	defer s.Close()
	type result struct {
		data   bool // a byte written before the writer closes
		plain  bool // a Handler without HungUp
		hungUp bool // HungUp expected, not Ready
	}
	for _, c := range []result{
		{data: false, hungUp: true},
		{data: true},
		{data: false, plain: true},
	} {
		r, w := pipe(t)
		h := hangupHandler{make(chan struct{}, 1), make(chan struct{}, 1)}
		var err error
		if c.plain {
			_, err = s.Add(r, chanHandler(h.ready))
		} else {
			_, err = s.Add(r, h)
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.data {
			unix.Write(w, []byte("x"))
		}
		unix.Close(w)
		var got string
		select {
		case <-h.ready:
			got = "Ready"
		case <-h.hungUp:
			got = "HungUp"
		case <-time.After(waitTimeout):
			t.Fatalf("%+v: neither Ready nor HungUp", c)
		}
		if want := map[bool]string{true: "HungUp", false: "Ready"}[c.hungUp]; got != want {
			t.Errorf("data %v, plain handler %v: got %s, want %s", c.data, c.plain, got, want)
		}
		unix.Close(r)
	}
}
