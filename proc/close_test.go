package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// closeRounds is how many Starters the close helper makes one after
// another: a leak of one thread, goroutine or fd per Starter shows as
// many, well above closeSlack.
const closeRounds = 20

// closeSlack is how many threads the Go runtime may add over the rounds
// for itself (an M handed a P while another blocks in a cgo call or a
// system call; the runtime keeps idle Ms).
const closeSlack = 4

// TestStarterClose runs the close helper (runCloseHelper) as a child
// process of its own, so that no other Starter, reaper or test counts in
// its fds, threads and goroutines: it makes closeRounds Starters one after
// another, each with a reaper, starts and releases a process with each,
// closes it, and checks that the fds, threads and goroutines are back to
// where they were. "threads" forks on fork threads (in a cgo build after
// setting the fork server up and dropping it, which Close must end all the
// same).
func TestStarterClose(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{closeServer, closeThreads} {
		t.Run(mode, func(t *testing.T) {
			r, w := pipe(t)
			helper := start(t, Spec{
				Argv:   []string{self, "-test.run=^$"},
				Env:    []string{testPath, helperEnv + "=" + mode},
				Stdout: w,
				Stderr: w,
			})
			// The helper's own waits are bounded by waitTimeout each; this
			// bounds them all.
			w.Close()
			if err := r.SetReadDeadline(time.Now().Add(3 * waitTimeout)); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			out := string(b)
			if err != nil {
				t.Fatalf("read the helper's output: %v (got %q)", err, out)
			}
			if st, err := helper.Wait(testCtx(t)); err != nil || !st.Success() {
				t.Errorf("helper: %v, %v; output:\n%s", st, err, out)
			} else if testing.Verbose() {
				t.Logf("helper output:\n%s", out)
			}
		})
	}
}

// TestCloseUnused checks Close on a Starter that never started anything:
// it succeeds, twice, and Start then fails with ErrClosed.
func TestCloseUnused(t *testing.T) {
	s := NewStarter(logr.Discard())
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close %d: %v", i+1, err)
		}
	}
	if _, err := s.Start(Spec{Argv: []string{"/bin/true"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

// The close helper's modes.
const (
	closeServer  = "close-server"
	closeThreads = "close-threads"
)

// usage is what a Starter must give back: the process's open fds, threads
// and goroutines.
type usage struct{ fds, threads, goroutines int }

func (u usage) String() string {
	return fmt.Sprintf("%d fds, %d threads, %d goroutines", u.fds, u.threads, u.goroutines)
}

func measure() (usage, error) {
	fds, err := readDirNames("/proc/self/fd")
	if err != nil {
		return usage{}, err
	}
	tasks, err := readDirNames("/proc/self/task")
	if err != nil {
		return usage{}, err
	}
	return usage{fds: len(fds), threads: len(tasks), goroutines: runtime.NumGoroutine()}, nil
}

// runCloseHelper is the child of TestStarterClose. It writes what it does
// and what went wrong to stdout and returns 1 on a failure.
func runCloseHelper(mode string) int {
	out := os.Stdout
	// A first round sets up what the runtime and the standard library make
	// once per process (the netpoller, the signal goroutine, ...).
	if err := closeRound(mode, 0); err != nil {
		fmt.Fprintln(out, "warm-up:", err)
		return 1
	}
	before, err := measure()
	if err != nil {
		fmt.Fprintln(out, err)
		return 1
	}
	for i := 1; i <= closeRounds; i++ {
		if err := closeRound(mode, i); err != nil {
			fmt.Fprintf(out, "round %d: %v\n", i, err)
			return 1
		}
	}
	var after usage
	back := waitfor.Until(waitTimeout, func() bool {
		after, err = measure()
		// Threads end a little after their goroutine or join: poll.
		return err == nil && after.fds <= before.fds && after.threads <= before.threads+closeSlack &&
			after.goroutines <= before.goroutines
	})
	fmt.Fprintf(out, "%s: before %v; after %d Starters %v\n", mode, before, closeRounds, after)
	if !back {
		fmt.Fprintf(out, "not given back (error %v)\n", err)
		return 1
	}
	return 0
}

// closeRound is one Starter's life, as a daemon lives it: Run, a start
// whose output goes to a pipe, the exit, the group empty, Release, Run
// returns, Close. Round 0 checks what Close refuses on the way.
func closeRound(mode string, round int) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s := NewStarter(logr.Discard())
	s.threads.idle = time.Hour // no fork thread ends but by Close
	if mode == closeThreads {
		if f := s.forker(); f != forker(s.threads) {
			s.dropForker(f, errForker)
		}
	}
	reaperCtx, stopReaper := context.WithCancel(ctx)
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		s.Run(reaperCtx)
	}()
	stopRun := func() {
		stopReaper()
		<-reaped
	}
	defer stopRun()

	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	p, err := s.Start(Spec{Argv: []string{"sh", "-c", "echo started"}, Env: []string{testPath}, Stdout: w})
	w.Close()
	if err != nil {
		return err
	}
	// Without cgo there is no server: both modes fork on fork threads.
	if viaServer := mode == closeServer && s.server != nil; (p.thread == nil) != viaServer {
		return fmt.Errorf("forked by %s, not as mode %s says", forkerName(s.forker()), mode)
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "started\n" {
		return fmt.Errorf("output %q, %v", b, err)
	}
	if round == 0 {
		if err := s.Close(); err == nil || !strings.Contains(err.Error(), "Run has not returned") {
			return fmt.Errorf("Close while Run runs = %v, want an error", err)
		}
		if _, err := s.Start(Spec{Argv: []string{"/bin/true"}}); !errors.Is(err, ErrClosed) {
			return fmt.Errorf("Start after a refused Close = %v, want ErrClosed", err)
		}
	}
	if st, err := p.Wait(ctx); err != nil || !st.Success() {
		return fmt.Errorf("Wait = %v, %v", st, err)
	}
	if err := p.WaitGroupEmpty(ctx); err != nil {
		return err
	}
	if round == 0 {
		stopRun()
		if err := s.Close(); err == nil || !strings.Contains(err.Error(), "1 processes not released") {
			return fmt.Errorf("Close before Release = %v, want an error", err)
		}
	}
	if err := p.Release(); err != nil {
		return err
	}
	stopRun()
	for i := range 2 {
		if err := s.Close(); err != nil {
			return fmt.Errorf("Close %d: %w", i+1, err)
		}
	}
	if _, err := s.Start(Spec{Argv: []string{"/bin/true"}}); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.Run(ctx) // returns at once: closed
	}()
	select {
	case <-ran:
	case <-ctx.Done():
		return errors.New("Run after Close did not return")
	}
	return nil
}
