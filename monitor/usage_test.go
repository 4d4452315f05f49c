package monitor

import (
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// wait bounds every wait for an outcome; a passing test is far quicker.
const wait = 30 * time.Second

func webStatus(pid int) status.ProgramStatus {
	return status.ProgramStatus{Metadata: status.Metadata{Name: "web"}, Status: status.Status{Replicas: 1,
		Instances: []status.Instance{{Name: "web-0", Index: 0, State: "RUNNING", Pid: pid}}}}
}

// TestFileUsage: the background read finds an instance's usage in its
// process group (no cgroups).
func TestFileUsage(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	s := NewState()
	s.Started(reconciler.DaemonView{}) // no cgroups: /proc
	s.Update(webStatus(cmd.Process.Pid))
	samples := fileUsage(s, logr.Discard())(make(chan struct{}))
	if u, ok := samples[usageKey{"web", 0, cmd.Process.Pid}]; !ok || u.memoryBytes <= 0 {
		t.Fatalf("usage of web-0: %+v (found %v), want memory > 0", u, ok)
	}
}

// fakeReads stands for the file reads: each read is counted and blocks
// until the test releases it with the CPU seconds it returns, or until
// the cache is closed.
type fakeReads struct {
	pid     *atomic.Int64
	started chan int     // the read's number, from 1
	release chan float64 // CPU seconds of the read's only instance
	n       int
}

func newFakeReads() *fakeReads {
	return &fakeReads{pid: new(atomic.Int64), started: make(chan int, 10), release: make(chan float64)}
}

func (f *fakeReads) read(stop <-chan struct{}) map[usageKey]usageSample {
	f.n++ // reads never overlap: the race detector checks it
	f.started <- f.n
	select {
	case cpu := <-f.release:
		return map[usageKey]usageSample{{"web", 0, int(f.pid.Load())}: {cpuSeconds: cpu, memoryBytes: 4096}}
	case <-stop:
		return nil
	}
}

// TestScrapeReadsNoFile: a scrape shows the usage read last and never
// waits for a read: reads run in the background, one at a time, started by
// a scrape that found the figures older than UsageEvery (or lacking a
// running instance), and never when nobody scrapes.
func TestScrapeReadsNoFile(t *testing.T) {
	s := NewState()
	s.Update(webStatus(4242))
	reads := newFakeReads()
	reads.pid.Store(4242)
	fc := fakeclock.New()
	o := HandlerOptions{Clock: fc, UsageEvery: 10 * time.Second, Log: logr.Discard()}
	u := newUsageCache(reads.read, fc, o.UsageEvery)
	h := newEndpoints(s, o, u)
	t.Cleanup(h.Close)

	cpu := func() (float64, bool) {
		t.Helper()
		code, body := scrape(t, h, "/metrics")
		if code != 200 {
			t.Fatalf("GET /metrics: %d", code)
		}
		return value(parse(t, body), "reconciled_instance_cpu_seconds_total", "program=web", "replica=0")
	}
	started := func(want int) {
		t.Helper()
		select {
		case n := <-reads.started:
			if n != want {
				t.Fatalf("read %d started, want %d", n, want)
			}
		case <-time.After(wait):
			t.Fatalf("read %d not started", want)
		}
	}
	noRead := func(when string) {
		t.Helper()
		select {
		case n := <-reads.started:
			t.Fatalf("%s: read %d started", when, n)
		default:
		}
	}
	shown := func(want float64) {
		t.Helper()
		if !waitfor.Until(wait, func() bool {
			p := u.current()
			return p != nil && p.samples[usageKey{"web", 0, int(reads.pid.Load())}].cpuSeconds == want
		}) {
			t.Fatalf("read of %v not kept", want)
		}
		if v, ok := cpu(); !ok || v != want {
			t.Fatalf("cpu = %v (present %v), want %v", v, ok, want)
		}
	}

	// The first scrape has nothing to show and returns while the read it
	// started is blocked: a scrape reads nothing itself.
	if _, ok := cpu(); ok {
		t.Fatal("usage shown before any read")
	}
	started(1)
	if _, ok := cpu(); ok {
		t.Fatal("usage shown while the first read runs")
	}
	noRead("a scrape during a read")
	reads.release <- 1.5
	shown(1.5)
	noRead("a scrape of fresh figures")

	fc.Step(9 * time.Second)
	shown(1.5)
	noRead("a scrape 9s after the read")
	fc.Step(time.Second)
	shown(1.5) // shows the last figures, and starts a read for the next scrape
	started(2)
	reads.release <- 2.5
	shown(2.5)

	// A restart (a new pid) has no figures: a read 1s after the last.
	reads.pid.Store(4343)
	s.Update(webStatus(4343))
	if _, ok := cpu(); ok {
		t.Fatal("figures of the old process shown for the new one")
	}
	noRead("a scrape right after the read")
	fc.Step(time.Second)
	cpu()
	started(3)
	reads.release <- 0.1
	shown(0.1)

	// Nobody scrapes: nothing is read, however long.
	fc.Step(time.Hour)
	noRead("no scrape")

	// Close stops a read in progress and lets none start.
	cpu()
	started(4)
	h.Close()
	fc.Step(time.Hour)
	cpu()
	noRead("after Close")
}

// TestUsageSeries: the usage series carry the labels and values read.
func TestUsageSeries(t *testing.T) {
	s := NewState()
	s.Update(webStatus(4242))
	reads := newFakeReads()
	reads.pid.Store(4242)
	fc := fakeclock.New()
	u := newUsageCache(reads.read, fc, time.Second)
	h := newEndpoints(s, HandlerOptions{Log: logr.Discard()}, u)
	t.Cleanup(h.Close)
	scrape(t, h, "/metrics")
	<-reads.started
	reads.release <- 3
	waitfor.Condition(t, wait, func() bool { return u.current() != nil }, "a read kept")
	_, body := scrape(t, h, "/metrics")
	for _, want := range []string{
		`reconciled_instance_cpu_seconds_total{program="web",replica="0"} 3`,
		`reconciled_instance_memory_bytes{program="web",replica="0"} 4096`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no line %s in\n%s", want, body)
		}
	}
	promtoolCheck(t, body)
}
