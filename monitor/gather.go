package monitor

import (
	"cmp"
	"slices"

	dto "github.com/prometheus/client_model/go"
)

// The families the gatherer builds. Those up to famExit are what a status
// tells, kept in its memo; the others are read at every scrape.
const (
	famReplicas = iota
	famPhase
	famSpecValid
	famCondition
	famState
	famReady
	famRestarts
	famStart
	famExit
	famCPU
	famMemory
	famProbes
	famEvents
	famHooks
	numFamilies

	memoFamilies = famExit + 1
)

// family is the name, HELP text and type of a family.
type family struct {
	name, help string
	typ        dto.MetricType
}

// families returns every family the gatherer builds.
func families() [numFamilies]family {
	return [numFamilies]family{
		famReplicas:  {"reconciled_program_replicas", "Instances of the program: desired (spec.replicas, 0 when desired is Stopped), ready, and updated (alive and running the current spec).", dto.MetricType_GAUGE},
		famPhase:     {"reconciled_program_phase", "1, labelled with the program's current phase: Stopped, Progressing, Running, Degraded or Failed.", dto.MetricType_GAUGE},
		famSpecValid: {"reconciled_program_spec_valid", "1 when the program's manifest is valid, 0 when the last edit is invalid (the last valid spec keeps running).", dto.MetricType_GAUGE},
		famCondition: {"reconciled_program_condition", "1 for each of the program's conditions (Available, Progressing, SpecValid), labelled with its status (True or False).", dto.MetricType_GAUGE},
		famState:     {"reconciled_instance_state", "1, labelled with the instance's current state: STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED or FATAL.", dto.MetricType_GAUGE},
		famReady:     {"reconciled_instance_ready", "1 when the instance is RUNNING and its readiness probe passes (or it has none).", dto.MetricType_GAUGE},
		famRestarts:  {"reconciled_instance_restarts_total", "Times the instance was started again after its process ended.", dto.MetricType_COUNTER},
		famStart:     {"reconciled_instance_start_time_seconds", "Start time of the instance's current process, in seconds since the Unix epoch; absent when it has none.", dto.MetricType_GAUGE},
		famExit:      {"reconciled_instance_last_exit_code", "Exit code of the instance's last process; 128+N when signal N ended it; absent before its first exit.", dto.MetricType_GAUGE},
		famCPU:       {"reconciled_instance_cpu_seconds_total", "CPU time, user and system, of the instance's processes (from its cgroup, else its process group), as last read in the background (at most UsageEvery before the previous scrape).", dto.MetricType_COUNTER},
		famMemory:    {"reconciled_instance_memory_bytes", "Memory of the instance (its cgroup's, else the resident sets of its process group), as last read in the background.", dto.MetricType_GAUGE},
		famProbes:    {"reconciled_probe_results_total", "Results of the instance's readiness and liveness probes, every run counted.", dto.MetricType_COUNTER},
		famEvents:    {"reconciled_events_total", "Events recorded for the program (NAME.events.jsonl), by reason and type.", dto.MetricType_COUNTER},
		famHooks:     {"reconciled_hook_runs_total", "Runs of the program's hooks by result (no series until a hook has run).", dto.MetricType_COUNTER},
	}
}

// gatherer builds the daemon's own metric families from State at scrape
// time, as a prometheus.TransactionalGatherer: nothing is kept up to date
// between scrapes. It does what a Registry would do with a collector's
// metrics, without the per-series work a Registry spends on metrics it
// cannot trust: series come out of memos built once per status (memo.go)
// and counters whose labels were made when they appeared (state.go); every
// series has its labels sorted by name and unique label values within
// its family, and families with no series are left out. A scrape costs
// O(instances), reads no file and takes no lock a program holds: usage
// figures come from usageCache, which reads them in the background.
type gatherer struct {
	s     *State
	usage *usageCache // nil: no usage series
	// families are the families' names and HELP texts, which every
	// scrape's families point to.
	families [numFamilies]family
}

func newGatherer(s *State, u *usageCache) *gatherer {
	return &gatherer{s: s, usage: u, families: families()}
}

// Gather returns the families sorted by name; done has nothing to release.
func (g *gatherer) Gather() ([]*dto.MetricFamily, func(), error) {
	programs := g.s.programs.snapshot()
	names := make([]string, 0, len(programs))
	for name := range programs {
		names = append(names, name)
	}
	slices.Sort(names)
	type entry struct {
		p *program
		m *memo
	}
	entries := make([]entry, len(names))
	var sizes [memoFamilies]int
	instances := 0
	for i, name := range names {
		p := programs[name]
		entries[i].p = p
		if st := p.status.Load(); st != nil {
			m := p.memoOf(st)
			entries[i].m = m
			for f := range sizes {
				sizes[f] += len(m.series[f])
			}
			instances += len(m.instances)
		}
	}
	var series [numFamilies][]*dto.Metric
	for f, n := range sizes {
		series[f] = make([]*dto.Metric, 0, n)
	}
	var snap *usageSnapshot
	if g.usage != nil {
		snap = g.usage.current()
		series[famCPU] = make([]*dto.Metric, 0, instances)
		series[famMemory] = make([]*dto.Metric, 0, instances)
	}
	a := arena{chunk: max(64, min(4096, 2*instances+4*len(names)))}
	var sc scratch
	missing := false
	for _, e := range entries {
		sc.counters(e.p, &series, &a)
		if e.m == nil {
			continue
		}
		for f := range memoFamilies {
			series[f] = append(series[f], e.m.series[f]...)
		}
		if g.usage == nil {
			continue
		}
		for _, in := range e.m.instances {
			if in.key.pid == 0 {
				continue
			}
			var u, ok = usageSample{}, false
			if snap != nil {
				u, ok = snap.samples[in.key]
			}
			if !ok {
				missing = true
				continue
			}
			series[famCPU] = append(series[famCPU], a.counter(u.cpuSeconds, in.labels))
			series[famMemory] = append(series[famMemory], a.gauge(u.memoryBytes, in.labels))
		}
	}
	if g.usage != nil {
		g.usage.scraped(snap, missing)
	}
	mfs := make([]*dto.MetricFamily, 0, numFamilies)
	for f := range series {
		if len(series[f]) == 0 {
			continue
		}
		h := &g.families[f]
		mfs = append(mfs, &dto.MetricFamily{Name: &h.name, Help: &h.help, Type: &h.typ, Metric: series[f]})
	}
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return mfs, func() {}, nil
}

// scratch holds what one scrape sorts, reused from program to program.
type scratch struct {
	events []*counter
	probes []*probeCounts
}

// counters appends the program's events, probe results and hook runs, each
// family sorted by its labels.
func (sc *scratch) counters(p *program, series *[numFamilies][]*dto.Metric, a *arena) {
	sc.events = sc.events[:0]
	for _, c := range p.events.snapshot() {
		sc.events = append(sc.events, c)
	}
	// Labels: program, reason, type.
	slices.SortFunc(sc.events, func(x, y *counter) int { return compareLabels(x.labels, y.labels) })
	for _, c := range sc.events {
		series[famEvents] = append(series[famEvents], a.counter(float64(c.n.Load()), c.labels))
	}
	sc.probes = sc.probes[:0]
	p.probes.Range(func(_, v any) bool {
		sc.probes = append(sc.probes, v.(*probeCounts))
		return true
	})
	// Labels: probe, program, replica, result.
	slices.SortFunc(sc.probes, func(x, y *probeCounts) int { return compareLabels(x.labels[0], y.labels[0]) })
	for _, n := range sc.probes {
		series[famProbes] = append(series[famProbes],
			a.counter(float64(n.failure.Load()), n.labels[0]),
			a.counter(float64(n.success.Load()), n.labels[1]))
	}
	hooks := p.hooks.snapshot()
	for _, ok := range []bool{false, true} {
		if c, found := hooks[ok]; found {
			series[famHooks] = append(series[famHooks], a.counter(float64(c.n.Load()), c.labels))
		}
	}
}

// compareLabels orders two series of one family by their label values.
func compareLabels(x, y []*dto.LabelPair) int {
	for i := range min(len(x), len(y)) {
		if c := cmp.Compare(x[i].GetValue(), y[i].GetValue()); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x), len(y))
}

// arena hands out the series a scrape builds afresh (counters, usage) from
// a few large slices instead of three allocations each. The series belong
// to the scrape that made them.
type arena struct {
	chunk    int
	metrics  []dto.Metric
	counters []dto.Counter
	gauges   []dto.Gauge
	values   []float64
}

// next returns the next element of *s, a new chunk when it is full.
func next[T any](s *[]T, chunk int) *T {
	if len(*s) == cap(*s) {
		*s = make([]T, 0, chunk)
	}
	*s = (*s)[:len(*s)+1]
	return &(*s)[len(*s)-1]
}

func (a *arena) counter(v float64, labels []*dto.LabelPair) *dto.Metric {
	m, c, p := next(&a.metrics, a.chunk), next(&a.counters, a.chunk), next(&a.values, a.chunk)
	*p = v
	c.Value = p
	m.Label, m.Counter = labels, c
	return m
}

func (a *arena) gauge(v float64, labels []*dto.LabelPair) *dto.Metric {
	m, g, p := next(&a.metrics, a.chunk), next(&a.gauges, a.chunk), next(&a.values, a.chunk)
	*p = v
	g.Value = p
	m.Label, m.Gauge = labels, g
	return m
}
