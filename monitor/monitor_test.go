package monitor

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// scrape GETs path from a handler of s and returns the status code and body.
func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w.Code, w.Body.String()
}

// parse reads a text exposition with Prometheus's own parser.
func parse(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mfs
}

// value returns the value of the sample of family name whose labels include
// labels ("k=v" each), and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func testStatus() status.ProgramStatus {
	started := time.Date(2026, 12, 1, 10, 0, 0, 500_000_000, time.UTC)
	return status.ProgramStatus{Metadata: status.Metadata{Name: "web"}, Status: status.Status{
		Desired: "Running", Replicas: 3, ReadyReplicas: 1, UpdatedReplicas: 2, Phase: "Degraded",
		Conditions: []status.Condition{
			{Type: status.ConditionSpecValid, Status: status.ConditionFalse, Reason: "Invalid"},
			{Type: status.ConditionAvailable, Status: status.ConditionFalse},
			{Type: status.ConditionProgressing, Status: status.ConditionTrue},
		},
		Instances: []status.Instance{
			{Name: "web-0", Index: 0, State: "RUNNING", Ready: true, Pid: 4242, StartedAt: &started, Restarts: 2,
				LastExit: &status.Exit{Code: 1}},
			{Name: "web-1", Index: 1, State: "BACKOFF", Restarts: 5, LastExit: &status.Exit{Code: -1, Signal: "KILL"}},
			{Name: "web-2", Index: 2, State: "FATAL"},
		},
	}}
}

// TestMetrics feeds State as the daemon would and reads every metric of
// docs/reference.md §11 back through Prometheus's text parser.
func TestMetrics(t *testing.T) {
	s := NewState()
	s.Update(testStatus())
	for range 3 {
		s.Event(status.Event{Program: "web", Reason: "Started", Type: status.EventNormal})
	}
	s.Event(status.Event{Program: "web", Reason: "Exited", Type: status.EventWarning})
	ready := s.ProbeCounter("web", 0, false)
	ready(true)
	ready(true)
	ready(false)
	s.ProbeCounter("web", 0, true)(true)
	s.HookRan("web", true)
	s.Pass(reconciler.PassReport{Took: 2 * time.Millisecond, Programs: []string{"web"}})
	s.Pass(reconciler.PassReport{Took: 3 * time.Millisecond, Programs: []string{"web"}})

	code, body := scrape(t, Handler(s, HandlerOptions{NoUsage: true, Log: logr.Discard()}), "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	mfs := parse(t, body)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"reconciled_program_replicas", []string{"program=web", "state=desired"}, 3},
		{"reconciled_program_replicas", []string{"program=web", "state=ready"}, 1},
		{"reconciled_program_replicas", []string{"program=web", "state=updated"}, 2},
		{"reconciled_program_phase", []string{"program=web", "phase=Degraded"}, 1},
		{"reconciled_program_spec_valid", []string{"program=web"}, 0},
		{"reconciled_program_condition", []string{"program=web", "type=Progressing", "status=True"}, 1},
		{"reconciled_program_condition", []string{"program=web", "type=Available", "status=False"}, 1},
		{"reconciled_instance_state", []string{"program=web", "replica=0", "state=RUNNING"}, 1},
		{"reconciled_instance_state", []string{"program=web", "replica=1", "state=BACKOFF"}, 1},
		{"reconciled_instance_state", []string{"program=web", "replica=2", "state=FATAL"}, 1},
		{"reconciled_instance_ready", []string{"program=web", "replica=0"}, 1},
		{"reconciled_instance_ready", []string{"program=web", "replica=1"}, 0},
		{"reconciled_instance_restarts_total", []string{"program=web", "replica=1"}, 5},
		{"reconciled_instance_start_time_seconds", []string{"program=web", "replica=0"}, 1796119200.5},
		{"reconciled_instance_last_exit_code", []string{"program=web", "replica=0"}, 1},
		{"reconciled_instance_last_exit_code", []string{"program=web", "replica=1"}, 137},
		{"reconciled_probe_results_total", []string{"program=web", "replica=0", "probe=readiness", "result=success"}, 2},
		{"reconciled_probe_results_total", []string{"program=web", "replica=0", "probe=readiness", "result=failure"}, 1},
		{"reconciled_probe_results_total", []string{"program=web", "replica=0", "probe=liveness", "result=success"}, 1},
		{"reconciled_events_total", []string{"program=web", "reason=Started", "type=Normal"}, 3},
		{"reconciled_events_total", []string{"program=web", "reason=Exited", "type=Warning"}, 1},
		{"reconciled_hook_runs_total", []string{"program=web", "result=success"}, 1},
		{"reconciled_reconcile_passes_total", nil, 2},
		{"reconciled_reconcile_pass_seconds", nil, 2},
	} {
		got, ok := value(mfs, c.name, c.labels...)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	for _, absent := range [][]string{
		{"reconciled_instance_start_time_seconds", "replica=1"}, // no process
		{"reconciled_instance_last_exit_code", "replica=2"},     // never exited
		{"reconciled_instance_state", "replica=0", "state=STOPPED"},
	} {
		if _, ok := value(mfs, absent[0], absent[1:]...); ok {
			t.Errorf("%v present, want absent", absent)
		}
	}
	for name, mf := range mfs {
		if mf.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "instance" {
					t.Errorf("%s carries the label instance, which Prometheus keeps for the target", name)
				}
			}
		}
	}
	for _, std := range []string{"go_goroutines", "go_info", "process_cpu_seconds_total", "process_resident_memory_bytes", "go_build_info"} {
		if mfs[std] == nil {
			t.Errorf("standard metric %s missing", std)
		}
	}
	promtoolCheck(t, body)
}

// promtoolCheck runs `promtool check metrics` (Debian's prometheus package)
// on body, when promtool is installed.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not found (Debian package prometheus): `promtool check metrics` skipped")
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetricsPromtool checks a large exposition, with a memo rebuilt and
// reused, with promtool when it is installed, or says it was skipped.
func TestMetricsPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not found (Debian package prometheus): `promtool check metrics` skipped")
	}
	s := benchState(20, 15)
	h := Handler(s, HandlerOptions{Log: logr.Discard()})
	t.Cleanup(h.Close)
	for range 2 { // the second scrape reuses the memos
		code, body := scrape(t, h, "/metrics")
		if code != 200 {
			t.Fatalf("GET /metrics: %d", code)
		}
		promtoolCheck(t, body)
	}
}

// TestMemo: an unchanged status is not rebuilt, a new one is.
func TestMemo(t *testing.T) {
	s := NewState()
	s.Update(testStatus())
	h := Handler(s, HandlerOptions{NoUsage: true, Log: logr.Discard()})
	scrape(t, h, "/metrics")
	p, _ := s.programs.load("web")
	first := p.memo.Load()
	scrape(t, h, "/metrics")
	if p.memo.Load() != first {
		t.Error("an unchanged status was built again")
	}
	st := testStatus()
	st.Status.ReadyReplicas = 3
	s.Update(st)
	_, body := scrape(t, h, "/metrics")
	if v, _ := value(parse(t, body), "reconciled_program_replicas", "state=ready"); v != 3 {
		t.Errorf("ready replicas after an update = %v, want 3", v)
	}
}

func TestDeleteForgets(t *testing.T) {
	s := NewState()
	s.Update(testStatus())
	s.Event(status.Event{Program: "web", Reason: "Started", Type: status.EventNormal})
	s.Delete("web")
	_, body := scrape(t, Handler(s, HandlerOptions{NoUsage: true, Log: logr.Discard()}), "/metrics")
	if strings.Contains(body, `program="web"`) {
		t.Errorf("a deleted program is still exported:\n%s", body)
	}
}

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		e    status.Exit
		want int
	}{
		{status.Exit{Code: 3}, 3}, {status.Exit{Code: -1, Signal: "TERM"}, 143},
		{status.Exit{Code: -1, Signal: "9"}, 137}, {status.Exit{Code: 2, Signal: "NOSUCH"}, 2},
	} {
		if got := exitCode(&c.e); got != c.want {
			t.Errorf("exitCode(%+v) = %d, want %d", c.e, got, c.want)
		}
	}
}

func TestStarted(t *testing.T) {
	in := func(i int, state string, pid int) status.Instance {
		return status.Instance{Index: i, State: state, Pid: pid}
	}
	waiting := []status.Condition{{Type: status.ConditionProgressing, Status: status.ConditionTrue, Reason: "WaitingForDependencies"}}
	for _, c := range []struct {
		name     string
		replicas int
		insts    []status.Instance
		conds    []status.Condition
		want     bool
	}{
		{"nothing desired", 0, nil, nil, true},
		{"not planned yet", 2, []status.Instance{in(0, "RUNNING", 1)}, nil, false},
		{"stopped", 1, []status.Instance{in(0, "STOPPED", 0)}, nil, false},
		{"spawning", 1, []status.Instance{in(0, "STARTING", 0)}, nil, false},
		{"starting", 1, []status.Instance{in(0, "STARTING", 7)}, nil, true},
		{"failed to start", 2, []status.Instance{in(0, "BACKOFF", 0), in(1, "FATAL", 0)}, nil, true},
		{"exited", 1, []status.Instance{in(0, "EXITED", 0)}, nil, true},
		{"waiting for dependencies", 1, []status.Instance{in(0, "STOPPED", 0)}, waiting, true},
		{"excess instance stopping", 1, []status.Instance{in(0, "RUNNING", 1), in(1, "STOPPED", 0)}, nil, true},
	} {
		st := status.ProgramStatus{Status: status.Status{Replicas: c.replicas, Instances: c.insts, Conditions: c.conds}}
		if got := started(&st); got != c.want {
			t.Errorf("%s: started = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestReady: ready once every program of the first pass has started its
// instances, whatever the order of the pass and the statuses.
func TestReady(t *testing.T) {
	running := func(name string) status.ProgramStatus {
		return status.ProgramStatus{Metadata: status.Metadata{Name: name}, Status: status.Status{
			Replicas: 1, Instances: []status.Instance{{Index: 0, State: "STARTING", Pid: 10}}}}
	}
	spawning := func(name string) status.ProgramStatus {
		st := running(name)
		st.Status.Instances[0].Pid = 0
		return st
	}
	isReady := func(s *State) bool {
		select {
		case <-s.ReadyC():
			return s.Ready()
		default:
			return false
		}
	}
	s := NewState()
	s.Update(running("a")) // before the pass: remembered
	s.Update(spawning("b"))
	if isReady(s) {
		t.Fatal("ready before the first pass")
	}
	s.Pass(reconciler.PassReport{Programs: []string{"a", "b", "c"}})
	if isReady(s) {
		t.Fatal("ready with b spawning and c unheard of")
	}
	s.Update(running("b"))
	s.Update(spawning("c"))
	if isReady(s) {
		t.Fatal("ready with c spawning")
	}
	s.Delete("c") // its manifest went away
	if !isReady(s) {
		t.Fatal("not ready with a and b started and c deleted")
	}
	s.Update(spawning("a")) // a restart: ready stays
	if !isReady(s) {
		t.Fatal("ready turned off by a restart")
	}
	s.Stopping()
	if s.Ready() {
		t.Fatal("ready while stopping")
	}

	empty := NewState()
	empty.Pass(reconciler.PassReport{})
	if !isReady(empty) {
		t.Fatal("an empty directory is not ready after its first pass")
	}
}

func TestSummary(t *testing.T) {
	s := NewState()
	s.Update(testStatus())
	other := testStatus()
	other.Metadata.Name = "db"
	other.Status.Replicas, other.Status.ReadyReplicas = 1, 1
	other.Status.Instances = other.Status.Instances[:1]
	s.Update(other)
	if got, want := s.Summary(), "2 programs, 2/4 ready, 1 failed"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	s.Stopping()
	if got, want := s.Summary(), "stopping: 3 instances left"; got != want {
		t.Errorf("Summary() while stopping = %q, want %q", got, want)
	}
}

func TestHealthReady(t *testing.T) {
	s := NewState()
	h := Handler(s, HandlerOptions{NoUsage: true, AliveTimeout: time.Second, Log: logr.Discard()})
	if code, _ := scrape(t, h, "/healthz"); code != 503 {
		t.Errorf("/healthz before the daemon started = %d, want 503", code)
	}
	var wedged error
	var mu sync.Mutex
	s.Started(reconciler.DaemonView{Alive: func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return wedged
	}})
	if code, body := scrape(t, h, "/healthz"); code != 200 {
		t.Errorf("/healthz = %d %q, want 200", code, body)
	}
	mu.Lock()
	wedged = errors.New("the loop did not answer: context deadline exceeded")
	mu.Unlock()
	if code, body := scrape(t, h, "/healthz"); code != 503 || !strings.Contains(body, "did not answer") {
		t.Errorf("/healthz with a wedged loop = %d %q, want 503", code, body)
	}
	if code, _ := scrape(t, h, "/readyz"); code != 503 {
		t.Errorf("/readyz before the first pass = %d, want 503", code)
	}
	s.Pass(reconciler.PassReport{})
	if code, _ := scrape(t, h, "/readyz"); code != 200 {
		t.Errorf("/readyz after the first pass = %d, want 200", code)
	}
	s.Stopping()
	if code, body := scrape(t, h, "/readyz"); code != 503 || !strings.Contains(body, "stopping") {
		t.Errorf("/readyz while stopping = %d %q, want 503", code, body)
	}
}

// TestScrapeWhilePublishing runs scrapes while programs publish statuses,
// events and probe results, and programs come and go: under -race this
// checks that readers and writers share nothing unguarded.
func TestScrapeWhilePublishing(t *testing.T) {
	s := NewState()
	h := Handler(s, HandlerOptions{Log: logr.Discard()})
	t.Cleanup(h.Close)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			name := fmt.Sprintf("p%d", w)
			for i := 0; ctx.Err() == nil; i++ {
				st := testStatus()
				st.Metadata.Name = name
				st.Status.Instances[0].Restarts = i
				s.Update(st)
				s.Event(status.Event{Program: name, Reason: fmt.Sprintf("R%d", i%5), Type: status.EventNormal})
				s.ProbeCounter(name, i%7, i%2 == 0)(i%3 == 0)
				if i%50 == 49 {
					s.Delete(name)
				}
			}
		})
	}
	for range 30 {
		if code, body := scrape(t, h, "/metrics"); code != 200 {
			t.Fatalf("GET /metrics: %d\n%s", code, body)
		}
	}
	cancel()
	wg.Wait()
}

func TestCowMap(t *testing.T) {
	var m cowMap[int, *int]
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				v := m.loadOrStore(i, func() *int { n := w; return &n })
				// A key that is never deleted keeps its first value.
				if got, _ := m.load(i); i%3 != 0 && got != v {
					t.Errorf("load(%d) after loadOrStore is another value", i)
				}
				if i%3 == 0 {
					m.delete(i)
				}
				_ = len(m.snapshot())
			}
		})
	}
	wg.Wait()
	for k, v := range m.snapshot() {
		if got, ok := m.load(k); !ok || got != v {
			t.Errorf("load(%d) disagrees with the snapshot", k)
		}
	}
}

// gathererFunc lets the daemon's gatherer through a prometheus.Gatherers,
// which checks every series as a registry does.
type gathererFunc func() ([]*dto.MetricFamily, error)

func (f gathererFunc) Gather() ([]*dto.MetricFamily, error) { return f() }

// TestGatherConsistent: the families the gatherer builds without a
// registry pass a registry's checks (types, label names and values,
// unique series), have their labels sorted, and tell the same series as
// the registry's normalised copy.
func TestGatherConsistent(t *testing.T) {
	s := benchState(12, 11) // replicas 0..10: "10" sorts before "2"
	s.Update(testStatus())
	s.ProbeCounter("web", 1, true)(false)
	s.ProbeCounter("web", 0, false)(true)
	s.HookRan("web", false)
	s.HookRan("web", true)
	s.Event(status.Event{Program: "web", Reason: "Bad\xffReason", Type: status.EventWarning})
	g := newGatherer(s, nil)
	mfs, done, err := g.Gather()
	defer done()
	if err != nil {
		t.Fatal(err)
	}
	checked, err := prometheus.Gatherers{gathererFunc(func() ([]*dto.MetricFamily, error) { return mfs, nil })}.Gather()
	if err != nil {
		t.Fatalf("a registry's checks: %v", err)
	}
	exposition := func(mfs []*dto.MetricFamily) string {
		var b strings.Builder
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
		return b.String()
	}
	lines := func(mfs []*dto.MetricFamily) []string {
		l := strings.Split(exposition(mfs), "\n")
		slices.Sort(l)
		return l
	}
	if a, b := lines(mfs), lines(checked); !slices.Equal(a, b) {
		t.Errorf("the gatherer's series differ from the registry's copy:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if !slices.IsSortedFunc(m.GetLabel(), func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }) {
				t.Errorf("%s: labels not sorted: %v", mf.GetName(), m.GetLabel())
			}
		}
	}
	if v, ok := value(parse(t, exposition(mfs)), "reconciled_events_total", "reason=Bad\uFFFDReason"); !ok || v != 1 {
		t.Errorf("event with a bad reason = %v (present %v), want 1 with the bad byte replaced", v, ok)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for _, c := range []struct {
		headers []string
		want    bool
	}{
		{nil, false}, {[]string{"gzip"}, true}, {[]string{"GZIP"}, true}, {[]string{"identity"}, false},
		{[]string{"br, gzip;q=0.5"}, true}, {[]string{"gzip;q=0"}, false}, {[]string{"gzip ; q=0.0"}, false},
		{[]string{"*"}, true}, {[]string{"gzip;q=0, *"}, false}, {[]string{"*;q=0"}, false}, {[]string{"deflate", "gzip"}, true}, {[]string{"gzipx"}, false},
	} {
		if got := acceptsGzip(c.headers); got != c.want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", c.headers, got, c.want)
		}
	}
}

// TestGzip: a client that accepts gzip gets the same exposition, gzipped.
func TestGzip(t *testing.T) {
	s := NewState()
	s.Update(testStatus())
	h := Handler(s, HandlerOptions{NoUsage: true, Log: logr.Discard()})
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 || w.Header().Get("Content-Encoding") != "gzip" || !strings.Contains(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics with gzip: %d %v", w.Code, w.Header())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := value(parse(t, string(body)), "reconciled_program_replicas", "program=web", "state=desired"); !ok || v != 3 {
		t.Errorf("desired replicas from the gzipped body = %v (present %v), want 3", v, ok)
	}
	if _, plain := scrape(t, h, "/metrics"); !strings.Contains(plain, "reconciled_program_replicas") {
		t.Error("no plain exposition without Accept-Encoding")
	}
}
