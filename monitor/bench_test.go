package monitor

import (
	"fmt"
	"io"
	"net/http/httptest"
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
func BenchmarkScrape1x1000(b *testing.B) { benchScrape(b, benchState(1, 1000)) }
func BenchmarkScrape10x100(b *testing.B) { benchScrape(b, benchState(10, 100)) }
func BenchmarkScrape1000x1(b *testing.B) { benchScrape(b, benchState(1000, 1)) }

func benchScrape(b *testing.B, s *State) {
	h := Handler(s, HandlerOptions{NoUsage: true, Log: logr.Discard()})
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		b.SetBytes(int64(w.Body.Len()))
	}
}

func BenchmarkGather1000(b *testing.B) {
	reg := NewRegistry(benchState(1000, 1), HandlerOptions{NoUsage: true, Log: logr.Discard()})
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGatherEncode1000(b *testing.B) {
	reg := NewRegistry(benchState(1000, 1), HandlerOptions{NoUsage: true, Log: logr.Discard()})
	for b.Loop() {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			expfmt.MetricFamilyToText(io.Discard, mf)
		}
	}
}
