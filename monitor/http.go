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
	// reconciled_instance_memory_bytes, whose figures are read from files.
	NoUsage bool
	// UsageEvery is how old the usage figures may grow before a scrape
	// has them read again, in the background, for the scrapes after it
	// (default 10s).
	UsageEvery time.Duration
	// Clock times UsageEvery (default: the wall clock).
	Clock clock.Clock
	// AliveTimeout bounds how long /healthz waits for the loop to answer
	// (default 5s).
	AliveTimeout time.Duration
	Log          logr.Logger

	// promGzip leaves compression to promhttp, at gzip's default level
	// (benchmarks compare the two).
	promGzip bool
}

// Endpoints serves /metrics (Prometheus), /healthz (200 while the loop
// answers) and /readyz (200 from the moment the first full pass has
// started every instance it desired until the daemon begins to stop).
// Close it once the server that serves it has shut down.
type Endpoints struct {
	mux   *http.ServeMux
	usage *usageCache // nil without usage
}

// Handler returns the daemon's endpoints over s.
func Handler(s *State, o HandlerOptions) *Endpoints {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.UsageEvery <= 0 {
		o.UsageEvery = 10 * time.Second
	}
	var u *usageCache
	if !o.NoUsage {
		u = newUsageCache(fileUsage(s, o.Log), o.Clock, o.UsageEvery)
	}
	return newEndpoints(s, o, u)
}

func newEndpoints(s *State, o HandlerOptions, u *usageCache) *Endpoints {
	if o.AliveTimeout <= 0 {
		o.AliveTimeout = 5 * time.Second
	}
	mux := http.NewServeMux()
	metrics := promhttp.HandlerForTransactional(newGatherers(s, u), promhttp.HandlerOpts{
		ErrorLog:           promLog{o.Log},
		ErrorHandling:      promhttp.ContinueOnError,
		DisableCompression: !o.promGzip,
	})
	if !o.promGzip {
		metrics = newGzipHandler(metrics)
	}
	mux.Handle("GET /metrics", metrics)
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
	return &Endpoints{mux: mux, usage: u}
}

func (e *Endpoints) ServeHTTP(w http.ResponseWriter, r *http.Request) { e.mux.ServeHTTP(w, r) }

// Close stops a read of usage in progress and waits for it; no other
// starts after.
func (e *Endpoints) Close() {
	if e.usage != nil {
		e.usage.close()
	}
}

// newGatherers returns what /metrics serves: the daemon's families from
// the gatherer, and a registry with the loop's passes and the standard
// go_*, process_* and go_build_info collectors. Their names differ, so the
// two are merged by a sort.
func newGatherers(s *State, u *usageCache) prometheus.TransactionalGatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "reconciled_reconcile_passes_total",
			Help: "Passes of the loop that read the directory.",
		}, func() float64 { return float64(s.passes.Load()) }),
		s.passSeconds,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return prometheus.NewMultiTRegistry(prometheus.ToTransactionalGatherer(reg), newGatherer(s, u))
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
