package health

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/spec"
)

// BenchmarkTCPProbe is one tcpSocket probe against a listener in another
// process (so that only the prober's CPU is in the figure).
func BenchmarkTCPProbe(b *testing.B) {
	tcpPort, _ := startListener(b)
	pr, err := New(&spec.Probe{TCPSocket: &spec.TCPSocketAction{Host: "127.0.0.1", Port: strconv.Itoa(tcpPort)}}, Target{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := testCtx(b)
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		r := pr.Probe(pctx)
		cancel()
		if !r.OK {
			b.Fatalf("probe: %v", r.Err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkHTTPProbe is one httpGet probe against a Go HTTP server in another
// process: as shipped (a new connection per probe, as kubelet), and, for
// comparison, with keep-alives.
func BenchmarkHTTPProbe(b *testing.B) {
	_, httpPort := startListener(b)
	for _, keepAlive := range []bool{false, true} {
		b.Run("keepAlive="+strconv.FormatBool(keepAlive), func(b *testing.B) {
			pr, err := New(&spec.Probe{HTTPGet: &spec.HTTPGetAction{Scheme: "HTTP", Host: "127.0.0.1", Port: strconv.Itoa(httpPort), Path: "/"}}, Target{})
			if err != nil {
				b.Fatal(err)
			}
			pr.(*httpProber).client.Transport.(*http.Transport).DisableKeepAlives = !keepAlive
			ctx := testCtx(b)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				pctx, cancel := context.WithTimeout(ctx, time.Second)
				r := pr.Probe(pctx)
				cancel()
				if !r.OK {
					b.Fatalf("probe: %v", r.Err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkExecProbe is one exec probe of /bin/true.
func BenchmarkExecProbe(b *testing.B) {
	pr, err := New(&spec.Probe{Exec: &spec.ExecAction{Command: []string{"/bin/true"}}}, Target{Env: []string{testPath}, Starter: testStarter})
	if err != nil {
		b.Fatal(err)
	}
	ctx := testCtx(b)
	cpu0 := cpuTime()
	for b.Loop() {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r := pr.Probe(pctx)
		cancel()
		if !r.OK {
			b.Fatalf("probe: %v", r.Err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// TestTCPWorkersCPU runs 1000 tcpSocket workers against one listener in
// another process and reports the CPU time of this process (getrusage) per
// probe, and what that makes at 1000 probes a second (issue 6's load):
//
//   - period=100ms: 10000 probes a second for 2s. Busy, the process never
//     idles, so this is the marginal cost of a probe; it underestimates the
//     cost at a lower rate.
//   - period=1s: issue 6's load itself, 1000 probes a second for 5s. Here
//     waking the idle process is a large part of the cost, which is why Run
//     rounds probe times to a shared grid (probes come in batches).
//
// Workers start spread over one period, as instances started one after the
// other are. Under -race the figures mean nothing and are not checked.
func TestTCPWorkersCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10s")
	}
	for _, tc := range []struct {
		period, run time.Duration
	}{
		{100 * time.Millisecond, 2 * time.Second},
		{time.Second, 5 * time.Second},
	} {
		t.Run("period="+tc.period.String(), func(t *testing.T) {
			if raceEnabled && tc.period == time.Second {
				t.Skip("a CPU figure under -race means nothing")
			}
			share := tcpWorkersCPU(t, 1000, tc.period, tc.run)
			// Issue 6 asks for under 5% at 1000 probes/s; the check has
			// room for a noisy machine but catches the loss of batching
			// (about 20% on the 2-vCPU VM this was written on).
			if !raceEnabled && tc.period == time.Second && share > 0.08 {
				t.Errorf("%.2f%% of one core at 1000 probes/s, want under 5%%", share*100)
			}
		})
	}
}

// tcpWorkersCPU runs the workers and returns the share of one core that
// 1000 probes a second cost at the measured CPU time per probe.
func tcpWorkersCPU(t *testing.T, workers int, period, run time.Duration) float64 {
	tcpPort, _ := startListener(t)
	p := &spec.Probe{
		TCPSocket: &spec.TCPSocketAction{Host: "127.0.0.1", Port: strconv.Itoa(tcpPort)},
		Period:    period, Timeout: time.Second, FailureThreshold: 3, SuccessThreshold: 1,
	}
	var probes, failed atomic.Int64
	var firstErr atomic.Value
	var passing atomic.Int32
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for i := range workers {
		pr, err := New(p, Target{})
		if err != nil {
			t.Fatal(err)
		}
		c := &counting{Prober: pr, probes: &probes, failed: &failed, firstErr: &firstErr}
		wp := *p
		wp.InitialDelay = time.Duration(i) * period / time.Duration(workers)
		wg.Go(func() {
			Run(ctx, &wp, c, nil, func(v Verdict) {
				if v.Passing {
					passing.Add(1)
				} else {
					passing.Add(-1)
				}
			})
		})
	}
	eventually(t, "every worker passing", func() bool { return passing.Load() == int32(workers) })
	n0, cpu0, t0 := probes.Load(), cpuTime(), time.Now()
	time.Sleep(run) // the measurement window, not a synchronisation
	n1, cpu1, t1 := probes.Load(), cpuTime(), time.Now()
	tw := timeWaitSockets()

	n := n1 - n0
	perProbe := time.Duration((cpu1 - cpu0) / max(n, 1))
	wall := t1.Sub(t0)
	rate := float64(n) / wall.Seconds()
	want := float64(workers) * float64(time.Second) / float64(period)
	// At 1000 probes a second, the share of one core is perProbe * 1000 / 1s.
	share := float64(perProbe) * 1000 / float64(time.Second)
	t.Logf("%d probes in %s (%.0f/s, want %.0f/s), %d failed; CPU %s (%.1f%% of one core); %s CPU per probe -> %.2f%% of one core at 1000 probes/s; TIME_WAIT sockets: %d",
		n, wall.Round(time.Millisecond), rate, want, failed.Load(),
		time.Duration(cpu1-cpu0).Round(time.Millisecond), float64(cpu1-cpu0)/float64(wall)*100,
		perProbe.Round(100*time.Nanosecond), share*100, tw)
	if f := failed.Load(); f > 0 {
		t.Errorf("%d probes failed, the first with %v", f, firstErr.Load())
	}
	if rate < 0.8*want {
		t.Errorf("%.0f probes/s: workers fell behind their schedule", rate)
	}
	return share
}

// counting counts probes and failures.
type counting struct {
	Prober
	probes, failed *atomic.Int64
	firstErr       *atomic.Value
}

func (c *counting) Probe(ctx context.Context) Result {
	r := c.Prober.Probe(ctx)
	c.probes.Add(1)
	if !r.OK && !errors.Is(r.Err, context.Canceled) { // Run's end is no failure
		c.failed.Add(1)
		c.firstErr.CompareAndSwap(nil, r.Err.Error())
	}
	return r
}

// cpuTime returns this process's user+system CPU time in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// timeWaitSockets counts IPv4 TCP sockets in TIME_WAIT (state 06).
func timeWaitSockets() int {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 3 && fs[3] == "06" {
			n++
		}
	}
	return n
}
