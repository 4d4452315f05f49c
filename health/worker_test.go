package health

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
)

// scripted is a Prober whose results the test hands over one by one: a send
// on results completes when a probe call takes it, so once the test's send
// of result n is done, the worker has handled results 1..n-1 completely.
type scripted struct {
	clk     *fakeclock.Clock
	results chan Result
	mu      sync.Mutex
	at      []time.Time // fake time of each call
}

func newScripted(clk *fakeclock.Clock) *scripted {
	return &scripted{clk: clk, results: make(chan Result)}
}

func (s *scripted) Probe(ctx context.Context) Result {
	s.mu.Lock()
	s.at = append(s.at, s.clk.Now())
	s.mu.Unlock()
	select {
	case r := <-s.results:
		return r
	case <-ctx.Done():
		return Result{Err: ctx.Err()}
	}
}

// give hands r to the next probe call, within 10s.
func (s *scripted) give(t *testing.T, r Result) {
	t.Helper()
	select {
	case s.results <- r:
	case <-time.After(10 * time.Second):
		t.Fatalf("no probe call to take %+v", r)
	}
}

func (s *scripted) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

var (
	ok   = Result{OK: true}
	fail = Result{Err: errors.New("exit code 1"), Output: "boom"}
)

// startWorker runs Run in a goroutine that the test's cleanup stops and
// waits for; verdicts go to the returned channel.
func startWorker(t *testing.T, p *spec.Probe, pr Prober, clk clock.Clock) <-chan Verdict {
	t.Helper()
	verdicts := make(chan Verdict, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, p, pr, clk, func(v Verdict) { verdicts <- v })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return verdicts
}

// noVerdict fails if a verdict has been reported.
func noVerdict(t *testing.T, verdicts <-chan Verdict, when string) {
	t.Helper()
	select {
	case v := <-verdicts:
		t.Fatalf("%s: unexpected verdict %+v", when, v)
	default:
	}
}

// verdict waits, at most 10s, for the next verdict.
func verdict(t *testing.T, verdicts <-chan Verdict, when string) Verdict {
	t.Helper()
	select {
	case v := <-verdicts:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no verdict", when)
		return Verdict{}
	}
}

const period = 10 * time.Second

func probeSpec(failure, success int) *spec.Probe {
	return &spec.Probe{Period: period, Timeout: time.Hour, FailureThreshold: failure, SuccessThreshold: success}
}

// TestWorkerThresholds: with failureThreshold 3 and successThreshold 2, the
// verdict is reported exactly at the 3rd failure and the 2nd success in a
// row, once per change, and a different result resets the count. Each
// result is numbered (in Output), so a verdict tells which result tipped it.
func TestWorkerThresholds(t *testing.T) {
	clk := fakeclock.New()
	pr := newScripted(clk)
	verdicts := startWorker(t, probeSpec(3, 2), pr, clk)

	const script = "xxxxoxooxxoxxxo" // o = success, x = failure
	want := []string{
		"F3",  // 3rd failure in a row: failing (not before, not again at 4)
		"P8",  // 5 is one success, 6 resets the run, 7 and 8: passing
		"F14", // 9, 10, then 11 resets the failure run; 12, 13, 14: failing
	}
	for i, c := range script + "o" { // the last one flushes result 16
		if i > 0 {
			clk.Step(period)
		}
		r := Result{OK: c == 'o', Output: strconv.Itoa(i + 1)}
		if c != 'o' {
			r.Err = errors.New("failed")
		}
		pr.give(t, r)
	}
	// The last give returned once result 16 had been handled.
	var got []string
	for len(verdicts) > 0 {
		v := <-verdicts
		n, _ := strconv.Atoi(v.Result.Output)
		if n > len(script) {
			continue // the flush
		}
		got = append(got, map[bool]string{true: "P", false: "F"}[v.Passing]+v.Result.Output)
		if v.Passing != v.Result.OK {
			t.Errorf("verdict %+v: Passing does not match its result", v)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("verdicts %v, want %v", got, want)
	}
}

// TestWorkerFirstVerdict: the first verdict comes as soon as a threshold is
// first met, on either side.
func TestWorkerFirstVerdict(t *testing.T) {
	clk := fakeclock.New()
	pr := newScripted(clk)
	verdicts := startWorker(t, probeSpec(3, 1), pr, clk)
	pr.give(t, ok)
	if v := verdict(t, verdicts, "after one success"); !v.Passing {
		t.Fatalf("verdict %+v", v)
	}
}

func TestThresholdsTable(t *testing.T) {
	for _, tc := range []struct {
		success, failure int
		results          string // o = ok, x = failure
		want             string // after each result: P passing, F failing, . no change
	}{
		{1, 1, "oxxoo", "PF.P."},
		{1, 3, "xxxxo", "..F.P"},
		{2, 3, "ooxoox", ".P...."},
		{2, 3, "xoxxoxxx", ".......F"},
		{0, 0, "ox", "PF"}, // zero thresholds count as 1
		{3, 1, "xoooo", "F..P."},
	} {
		th := newThresholds(tc.success, tc.failure)
		got := ""
		for _, c := range tc.results {
			switch {
			case !th.observe(c == 'o'):
				got += "."
			case th.passing:
				got += "P"
			default:
				got += "F"
			}
		}
		if got != tc.want {
			t.Errorf("success %d failure %d, %s: got %s, want %s", tc.success, tc.failure, tc.results, got, tc.want)
		}
	}
}

// TestWorkerSchedule: the first probe comes at initialDelay, then one every
// period, on the fake clock.
func TestWorkerSchedule(t *testing.T) {
	clk := fakeclock.New()
	start := clk.Now()
	pr := newScripted(clk)
	p := probeSpec(1, 1)
	p.InitialDelay = 5 * time.Second
	startWorker(t, p, pr, clk)

	waitfor.Condition(t, waitTimeout, func() bool { return clk.Pending() == 1 }, "the initial delay timer is armed")
	clk.Step(5*time.Second - time.Millisecond)
	select {
	case pr.results <- ok:
		t.Fatal("probed before the initial delay")
	default:
	}
	clk.Step(time.Millisecond)
	pr.give(t, ok)
	for range 3 {
		clk.Step(period)
		pr.give(t, fail)
	}
	want := []time.Time{start.Add(5 * time.Second)}
	for i := 1; i <= 3; i++ {
		want = append(want, start.Add(5*time.Second+time.Duration(i)*period))
	}
	got := pr.times()
	if len(got) != len(want) {
		t.Fatalf("probe times %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("probe %d at %s, want %s", i+1, got[i].Sub(start), want[i].Sub(start))
		}
	}
}

// TestWorkerGrid: probe times are rounded up to the shared grid (a tenth of
// the period, at most 100ms) and stay on it.
func TestWorkerGrid(t *testing.T) {
	clk := fakeclock.New()
	clk.Step(37 * time.Millisecond) // start off the grid
	start := clk.Now()
	pr := newScripted(clk)
	p := probeSpec(1, 1) // period 10s: grid 100ms
	startWorker(t, p, pr, clk)

	waitfor.Condition(t, waitTimeout, func() bool { return clk.Pending() == 1 }, "the first probe is scheduled")
	clk.Step(63 * time.Millisecond) // to the next grid point
	pr.give(t, ok)
	for range 2 {
		clk.Step(period)
		pr.give(t, ok)
	}
	got := pr.times()
	for i, want := range []time.Duration{63 * time.Millisecond, 63*time.Millisecond + period, 63*time.Millisecond + 2*period} {
		if d := got[i].Sub(start); d != want {
			t.Errorf("probe %d at +%s, want +%s", i+1, d, want)
		}
	}
}

func TestGrid(t *testing.T) {
	for _, tc := range []struct{ period, grid time.Duration }{
		{10 * time.Second, 100 * time.Millisecond},
		{time.Second, 100 * time.Millisecond},
		{200 * time.Millisecond, 20 * time.Millisecond},
		{5 * time.Millisecond, time.Millisecond},
	} {
		if g := gridFor(tc.period); g != tc.grid {
			t.Errorf("gridFor(%s) = %s, want %s", tc.period, g, tc.grid)
		}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ in, want time.Duration }{
		{0, 0},
		{time.Nanosecond, 100 * time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond},
		{150 * time.Millisecond, 200 * time.Millisecond},
	} {
		if got := align(base.Add(tc.in), 100*time.Millisecond); !got.Equal(base.Add(tc.want)) {
			t.Errorf("align(+%s) = +%s, want +%s", tc.in, got.Sub(base), tc.want)
		}
	}
	// The monotonic reading is kept (String shows it as "m=").
	if now := time.Now(); !strings.Contains(align(now, 100*time.Millisecond).String(), " m=") {
		t.Errorf("align(%v) lost the monotonic reading", now)
	}
}

// blocking is a Prober that blocks until released (or its context ends),
// and records the fake time of its calls.
type blocking struct {
	clk     *fakeclock.Clock
	release chan struct{}
	calls   atomic.Int32
	mu      sync.Mutex
	at      []time.Time
}

func newBlocking(clk *fakeclock.Clock) *blocking {
	return &blocking{clk: clk, release: make(chan struct{})}
}

func (b *blocking) Probe(ctx context.Context) Result {
	b.mu.Lock()
	b.at = append(b.at, b.clk.Now())
	b.mu.Unlock()
	b.calls.Add(1)
	select {
	case <-b.release:
		return ok
	case <-ctx.Done():
		return Result{Err: ctx.Err()}
	}
}

// TestWorkerSlowProbeIsolated: a probe stuck in one worker does not delay
// another worker's probes on the same clock, and the stuck worker's missed
// ticks do not pile up: when it is freed, it probes once at once, then
// keeps its schedule.
func TestWorkerSlowProbeIsolated(t *testing.T) {
	clk := fakeclock.New()
	start := clk.Now()
	slow := newBlocking(clk)
	startWorker(t, probeSpec(3, 1), slow, clk)
	waitfor.Condition(t, waitTimeout, func() bool { return slow.calls.Load() == 1 }, "the slow worker's first probe")

	fast := newScripted(clk)
	fastVerdicts := startWorker(t, probeSpec(3, 1), fast, clk)
	fast.give(t, ok)
	for range 5 {
		clk.Step(period)
		fast.give(t, ok) // would time out if the slow worker held the clock up
	}
	if v := verdict(t, fastVerdicts, "fast worker"); !v.Passing {
		t.Fatalf("fast worker verdict %+v", v)
	}
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("slow worker: %d calls while stuck", n)
	}

	slow.release <- struct{}{} // ends call 1; the tick that came meanwhile starts call 2 at once
	waitfor.Condition(t, waitTimeout, func() bool { return slow.calls.Load() == 2 }, "the slow worker's pending probe")
	slow.release <- struct{}{} // ends call 2; no tick is due, the next one is a period later
	clk.Step(period)
	waitfor.Condition(t, waitTimeout, func() bool { return slow.calls.Load() == 3 }, "the slow worker's next scheduled probe")
	slow.mu.Lock()
	got := append([]time.Time(nil), slow.at...)
	slow.mu.Unlock()
	want := []time.Duration{0, 5 * period, 6 * period}
	for i := range want {
		if d := got[i].Sub(start); d != want[i] {
			t.Errorf("slow probe %d at %s, want %s (missed ticks piled up?)", i+1, d, want[i])
		}
	}
}

// TestWorkerStops: Run returns soon after its context ends, also during a
// probe, and reports nothing for the probe it cut short.
func TestWorkerStops(t *testing.T) {
	clk := fakeclock.New()
	slow := newBlocking(clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	reported := make(chan Verdict, 1)
	go func() {
		defer close(done)
		Run(ctx, probeSpec(1, 1), slow, clk, func(v Verdict) { reported <- v })
	}()
	waitfor.Condition(t, waitTimeout, func() bool { return slow.calls.Load() == 1 }, "the probe runs")
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	noVerdict(t, reported, "after cancel")
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d timers left armed", n)
	}
}

// TestWorkerTimeout: the probe's context carries the timeout, in real time.
func TestWorkerTimeout(t *testing.T) {
	clk := fakeclock.New()
	slow := newBlocking(clk)
	p := probeSpec(1, 1)
	p.Timeout = 50 * time.Millisecond
	verdicts := startWorker(t, p, slow, clk)
	v := verdict(t, verdicts, "after the timeout")
	if v.Passing || !errors.Is(v.Result.Err, context.DeadlineExceeded) {
		t.Errorf("verdict %+v, want failing with a deadline error", v)
	}
}

// TestWorkersRealTime: with the wall clock, a worker whose probe hangs (an
// HTTP server that takes the request and never answers, and a timeout an
// hour away) does not hold up a fast tcp worker: while the hung probe is in
// flight, the fast worker goes on probing, and the hung worker starts no
// second probe. TestWorkerSlowProbeIsolated is the same on the fake clock.
func TestWorkersRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("real time")
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var inFlight atomic.Int32
	port := server(t, false, func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	slowPr, err := New(&spec.Probe{HTTPGet: &spec.HTTPGetAction{Host: "127.0.0.1", Port: port, Path: "/"}}, Target{})
	if err != nil {
		t.Fatal(err)
	}
	startWorker(t, &spec.Probe{Period: 50 * time.Millisecond, Timeout: time.Hour, FailureThreshold: 1, SuccessThreshold: 1}, slowPr, nil)
	waitfor.Condition(t, waitTimeout, func() bool { return inFlight.Load() == 1 }, "the slow worker's probe to reach the server")

	_, tport := listen(t)
	fastPr := &callCounting{Prober: newTCPProber(t, "127.0.0.1", strconv.Itoa(tport))}
	startWorker(t, &spec.Probe{Period: 20 * time.Millisecond, Timeout: time.Second, FailureThreshold: 1, SuccessThreshold: 1}, fastPr, nil)
	waitfor.Condition(t, waitTimeout, func() bool { return fastPr.calls.Load() >= 50 }, "50 fast probes while the slow one hangs")
	if n := inFlight.Load(); n != 1 {
		t.Errorf("%d slow probes in flight, want the one that hangs", n)
	}
}

// callCounting counts the calls of its Prober.
type callCounting struct {
	Prober
	calls atomic.Int32
}

func (p *callCounting) Probe(ctx context.Context) Result {
	p.calls.Add(1)
	return p.Prober.Probe(ctx)
}

func ptr[T any](v T) *T { return &v }
