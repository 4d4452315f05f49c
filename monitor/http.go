package monitor

import (
	"context"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/reconciled/reconciled/internal/clock"
)

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// NoUsage leaves out reconciled_instance_cpu_seconds_total and
	// reconciled_instance_memory_bytes, which read files at scrape time.
	NoUsage bool
	// UsageEvery is the least time between two reads of the instances'
	// usage (default 10s): a scrape sooner shows the last figures again.
	UsageEvery time.Duration
	// Clock times UsageEvery (default: the wall clock).
	Clock clock.Clock
	// AliveTimeout bounds how long /healthz waits for the loop to answer
	// (default 5s).
	AliveTimeout time.Duration
	Log          logr.Logger
}

// NewRegistry returns a registry of the daemon's metrics from s, with the
// standard go_* and process_* collectors and go_build_info.
func NewRegistry(s *State, o HandlerOptions) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newCollector(s, o),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}

// Handler serves /metrics (Prometheus), /healthz (200 while the loop
// answers) and /readyz (200 from the moment the first full pass has
// started every instance it desired until the daemon begins to stop).
func Handler(s *State, o HandlerOptions) http.Handler {
	if o.AliveTimeout <= 0 {
		o.AliveTimeout = 5 * time.Second
	}
	mux := http.NewServeMux()
	reg := NewRegistry(s, o)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLog{o.Log},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), o.AliveTimeout)
		defer cancel()
		if err := s.Alive(ctx); err != nil {
			http.Error(w, "not alive: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case s.StoppingNow():
			http.Error(w, "not ready: stopping", http.StatusServiceUnavailable)
		case !s.Ready():
			http.Error(w, "not ready: the first pass has not started every instance yet", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	return mux
}

// promLog is promhttp's error log, on the daemon's logger.
type promLog struct{ log logr.Logger }

func (l promLog) Println(v ...any) {
	for _, x := range v {
		if err, ok := x.(error); ok {
			l.log.Error(err, "Serving metrics failed")
			return
		}
	}
	l.log.Info("Serving metrics failed")
}
