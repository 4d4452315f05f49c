package monitor

import (
	"fmt"
	"io"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// benchState is a daemon of programs programs of replicas instances each,
// all RUNNING and ready, with a readiness probe and a few events each.
func benchState(programs, replicas int) *State {
	s := NewState()
	started := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for p := range programs {
		name := fmt.Sprintf("prog%04d", p)
		st := status.ProgramStatus{Metadata: status.Metadata{Name: name}, Status: status.Status{
			Replicas: replicas, ReadyReplicas: replicas, UpdatedReplicas: replicas, Phase: "Running", Desired: "Running",
			Conditions: []status.Condition{
				{Type: status.ConditionAvailable, Status: status.ConditionTrue},
				{Type: status.ConditionProgressing, Status: status.ConditionFalse},
			},
		}}
		for i := range replicas {
			st.Status.Instances = append(st.Status.Instances, status.Instance{
				Name: fmt.Sprintf("%s-%d", name, i), Index: i, State: string(reconciler.Running), Ready: true,
				Pid: 100000 + p*replicas + i, StartedAt: &started, Restarts: 1,
				LastExit: &status.Exit{Code: 1},
			})
			count := s.ProbeCounter(name, i, false)
			count(true)
		}
		s.Update(st)
		s.Event(status.Event{Program: name, Reason: "Started", Type: status.EventNormal})
		s.Event(status.Event{Program: name, Reason: "Exited", Type: status.EventWarning})
	}
	s.Pass(reconciler.PassReport{Took: time.Millisecond})
	return s
}

// The daemon's side of one GET /metrics as Prometheus sends it (gzip
// accepted), usage figures left out: hack/bench/README.md has the figures.
// The gzip sub-benchmarks compare: the fastest level (what the daemon
// serves), promhttp's own (the default level), and no compression.
func BenchmarkScrape1x1000(b *testing.B) { benchScrapes(b, benchState(1, 1000)) }
func BenchmarkScrape10x100(b *testing.B) { benchScrapes(b, benchState(10, 100)) }
func BenchmarkScrape1000x1(b *testing.B) { benchScrapes(b, benchState(1000, 1)) }

func benchScrapes(b *testing.B, s *State) {
	b.Run("gzip=fast", func(b *testing.B) { benchScrape(b, s, HandlerOptions{}, "gzip") })
	b.Run("gzip=promhttp", func(b *testing.B) { benchScrape(b, s, HandlerOptions{promGzip: true}, "gzip") })
	b.Run("gzip=none", func(b *testing.B) { benchScrape(b, s, HandlerOptions{}, "") })
}

func benchScrape(b *testing.B, s *State, o HandlerOptions, encoding string) {
	o.NoUsage, o.Log = true, logr.Discard()
	h := Handler(s, o)
	req := httptest.NewRequest("GET", "/metrics", nil)
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		b.SetBytes(int64(w.Body.Len()))
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
}

// processCPU is the process's CPU time so far, user and system, its
// garbage collector's included: on a shared machine a steadier figure than
// the wall time per operation.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkGather1000(b *testing.B) {
	g := newGatherers(benchState(1000, 1), nil)
	for b.Loop() {
		_, done, err := g.Gather()
		done()
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGatherEncode1000(b *testing.B) {
	g := newGatherers(benchState(1000, 1), nil)
	for b.Loop() {
		mfs, done, _ := g.Gather()
		for _, mf := range mfs {
			expfmt.MetricFamilyToText(io.Discard, mf)
		}
		done()
	}
}
