package monitor

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/status"
	"github.com/reconciled/reconciled/usage"
)

// collector builds the daemon's metrics from State at scrape time: nothing
// is kept up to date between scrapes. A scrape costs O(instances) and takes
// no lock a program holds.
//
// The metrics a status tells are built once per status: a program keeps
// them beside the status they came from (memo), and a scrape that finds
// the status unchanged sends them again (a const metric never changes).
// Counters (events, probe results) are read every scrape, usage at most
// every usageEvery (readUsage).
// Metrics go out sorted by program, then replica, which is the order the
// registry sorts each family into: its sort then has nothing to do.
type collector struct {
	s     *State
	usage bool
	log   logr.Logger
	// usageEvery is the least time between two reads of the instances'
	// usage: a scrape sooner after the last read shows its figures again.
	usageEvery time.Duration
	clock      clock.Clock

	// usageMu serialises the scrapes' use of lastUsage (a lock of the
	// collector's own: no program ever takes it).
	usageMu   sync.Mutex
	usageAt   time.Time
	lastUsage map[usageKey]usage.Sample

	programReplicas, programPhase, programSpecValid, programCondition *prometheus.Desc
	instanceState, instanceReady, instanceRestarts, instanceStart     *prometheus.Desc
	instanceExit, instanceCPU, instanceMemory                         *prometheus.Desc
	probeResults, events, hookRuns, passes                            *prometheus.Desc
}

// usageKey names one process of one instance: figures read for a process
// are never shown for the next one.
type usageKey struct {
	program string
	index   int
	pid     int
}

// memo is the metrics built from one status of a program.
type memo struct {
	status  *status.ProgramStatus
	metrics []prometheus.Metric
	// order lists the indices of status.Instances by replica label, as
	// strings sort ("10" before "2").
	order []int
}

func newCollector(s *State, o HandlerOptions) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("reconciled_"+name, help, labels, nil)
	}
	inst := func(name, help string, labels ...string) *prometheus.Desc {
		return d(name, help, append([]string{"program", "replica"}, labels...)...)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.UsageEvery <= 0 {
		o.UsageEvery = 10 * time.Second
	}
	return &collector{
		s: s, usage: !o.NoUsage, log: o.Log, usageEvery: o.UsageEvery, clock: o.Clock,
		programReplicas:  d("program_replicas", "Instances of the program: desired (spec.replicas, 0 when desired is Stopped), ready, and updated (alive and running the current spec).", "program", "state"),
		programPhase:     d("program_phase", "1, labelled with the program's current phase: Stopped, Progressing, Running, Degraded or Failed.", "program", "phase"),
		programSpecValid: d("program_spec_valid", "1 when the program's manifest is valid, 0 when the last edit is invalid (the last valid spec keeps running).", "program"),
		programCondition: d("program_condition", "1 for each of the program's conditions (Available, Progressing, SpecValid), labelled with its status (True or False).", "program", "type", "status"),
		instanceState:    inst("instance_state", "1, labelled with the instance's current state: STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED or FATAL.", "state"),
		instanceReady:    inst("instance_ready", "1 when the instance is RUNNING and its readiness probe passes (or it has none)."),
		instanceRestarts: inst("instance_restarts_total", "Times the instance was started again after its process ended."),
		instanceStart:    inst("instance_start_time_seconds", "Start time of the instance's current process, in seconds since the Unix epoch; absent when it has none."),
		instanceExit:     inst("instance_last_exit_code", "Exit code of the instance's last process; 128+N when signal N ended it; absent before its first exit."),
		instanceCPU:      inst("instance_cpu_seconds_total", "CPU time, user and system, of the instance's processes (from its cgroup, else its process group), read at scrape time."),
		instanceMemory:   inst("instance_memory_bytes", "Memory of the instance (its cgroup's, else the resident sets of its process group), read at scrape time."),
		probeResults:     inst("probe_results_total", "Results of the instance's readiness and liveness probes, every run counted.", "probe", "result"),
		events:           d("events_total", "Events recorded for the program (NAME.events.jsonl), by reason and type.", "program", "reason", "type"),
		hookRuns:         d("hook_runs_total", "Runs of the program's hooks by result (no series until a hook has run).", "program", "result"),
		passes:           d("reconcile_passes_total", "Passes of the loop that read the directory."),
	}
}

// Describe sends every descriptor: the registry checks each scrape's
// metrics against them.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.programReplicas, c.programPhase, c.programSpecValid, c.programCondition,
		c.instanceState, c.instanceReady, c.instanceRestarts, c.instanceStart, c.instanceExit, c.instanceCPU,
		c.instanceMemory, c.probeResults, c.events, c.hookRuns, c.passes} {
		ch <- d
	}
	ch <- c.s.passSeconds.Desc()
}

// Collect reads State once and sends every metric.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil { // not valid UTF-8: no name or reason of ours is
			c.log.Error(err, "Metric left out", "labels", labels)
			return
		}
		ch <- m
	}
	programs := c.s.programs.snapshot()
	names := make([]string, 0, len(programs))
	for name := range programs {
		names = append(names, name)
	}
	slices.Sort(names)
	var samples map[usageKey]usage.Sample
	if c.usage {
		samples = c.readUsage(programs)
	}
	for _, name := range names {
		p := programs[name]
		c.collectCounters(name, p, send)
		st := p.status.Load()
		if st == nil {
			continue // events of a program that has not reported yet
		}
		m := c.memo(name, p, st)
		for _, metric := range m.metrics {
			ch <- metric
		}
		if samples == nil {
			continue
		}
		for _, i := range m.order {
			in := &st.Status.Instances[i]
			u, ok := samples[usageKey{name, in.Index, in.Pid}]
			if !ok {
				continue
			}
			replica := strconv.Itoa(in.Index)
			send(c.instanceCPU, prometheus.CounterValue, u.CPUSeconds, name, replica)
			send(c.instanceMemory, prometheus.GaugeValue, float64(u.MemoryBytes), name, replica)
		}
	}
	send(c.passes, prometheus.CounterValue, float64(c.s.passes.Load()))
	ch <- c.s.passSeconds
}

// readUsage returns the usage of every instance that has a process: read
// now (package usage: a cgroup's files, or one scan of /proc), or the
// figures of the last read when it is less than usageEvery old. Reading
// costs far more than the rest of a scrape (see hack/bench/README.md), and
// two Prometheus servers scraping the same daemon pay it once.
func (c *collector) readUsage(programs map[string]*program) map[usageKey]usage.Sample {
	c.usageMu.Lock()
	defer c.usageMu.Unlock()
	now := c.clock.Now()
	if c.lastUsage != nil && now.Sub(c.usageAt) < c.usageEvery {
		return c.lastUsage
	}
	var dirs cgroup.Dirs // none: /proc alone
	if v := c.s.view.Load(); v != nil {
		dirs = v.Cgroups
	}
	reader := usage.NewReader(dirs)
	samples := map[usageKey]usage.Sample{}
	for name, p := range programs {
		st := p.status.Load()
		if st == nil {
			continue
		}
		for i := range st.Status.Instances {
			in := &st.Status.Instances[i]
			if in.Pid == 0 {
				continue
			}
			u, err := reader.Read(name, in.Name, in.Pid)
			if err != nil {
				c.log.V(1).Info("No usage figures for an instance", "program", name, "instance", in.Name, "reason", err.Error())
				continue
			}
			samples[usageKey{name, in.Index, in.Pid}] = u
		}
	}
	c.lastUsage, c.usageAt = samples, now
	return samples
}

// collectCounters sends the program's events, probe results and hook runs.
func (c *collector) collectCounters(name string, p *program, send func(*prometheus.Desc, prometheus.ValueType, float64, ...string)) {
	events := p.events.snapshot()
	keys := make([]eventKey, 0, len(events))
	for k := range events {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b eventKey) int { return cmp.Or(cmp.Compare(a.reason, b.reason), cmp.Compare(a.typ, b.typ)) })
	for _, k := range keys {
		send(c.events, prometheus.CounterValue, float64(events[k].Load()), name, k.reason, k.typ)
	}
	type probe struct {
		replica, probe string
		n              *probeCounts
	}
	var probes []probe
	p.probes.Range(func(k, v any) bool {
		key := k.(probeKey)
		kind := "readiness"
		if key.liveness {
			kind = "liveness"
		}
		probes = append(probes, probe{strconv.Itoa(key.replica), kind, v.(*probeCounts)})
		return true
	})
	// The family's labels sort as probe, program, replica, result.
	slices.SortFunc(probes, func(a, b probe) int { return cmp.Or(cmp.Compare(a.probe, b.probe), cmp.Compare(a.replica, b.replica)) })
	for _, pr := range probes {
		send(c.probeResults, prometheus.CounterValue, float64(pr.n.failure.Load()), name, pr.replica, pr.probe, "failure")
		send(c.probeResults, prometheus.CounterValue, float64(pr.n.success.Load()), name, pr.replica, pr.probe, "success")
	}
	hooks := p.hooks.snapshot()
	for _, ok := range []bool{false, true} {
		if n, found := hooks[ok]; found {
			send(c.hookRuns, prometheus.CounterValue, float64(n.Load()), name, result(ok))
		}
	}
}

// memo returns the metrics st tells, built once per status.
func (c *collector) memo(name string, p *program, st *status.ProgramStatus) *memo {
	if m := p.memo.Load(); m != nil && m.status == st {
		return m
	}
	m := &memo{status: st}
	send := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		metric, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil {
			c.log.Error(err, "Metric left out", "labels", labels)
			return
		}
		m.metrics = append(m.metrics, metric)
	}
	s := &st.Status
	send(c.programReplicas, prometheus.GaugeValue, float64(s.Replicas), name, "desired")
	send(c.programReplicas, prometheus.GaugeValue, float64(s.ReadyReplicas), name, "ready")
	send(c.programReplicas, prometheus.GaugeValue, float64(s.UpdatedReplicas), name, "updated")
	if s.Phase != "" {
		send(c.programPhase, prometheus.GaugeValue, 1, name, s.Phase)
	}
	valid := 1.0
	for _, cond := range s.Conditions {
		if cond.Type == status.ConditionSpecValid && cond.Status != status.ConditionTrue {
			valid = 0
		}
		send(c.programCondition, prometheus.GaugeValue, 1, name, cond.Type, cond.Status)
	}
	send(c.programSpecValid, prometheus.GaugeValue, valid, name)

	m.order = make([]int, len(s.Instances))
	replicas := make([]string, len(s.Instances))
	for i := range s.Instances {
		m.order[i] = i
		replicas[i] = strconv.Itoa(s.Instances[i].Index)
	}
	slices.SortFunc(m.order, func(a, b int) int { return cmp.Compare(replicas[a], replicas[b]) })
	for _, i := range m.order {
		in, replica := &s.Instances[i], replicas[i]
		send(c.instanceState, prometheus.GaugeValue, 1, name, replica, in.State)
		send(c.instanceReady, prometheus.GaugeValue, one(in.Ready), name, replica)
		send(c.instanceRestarts, prometheus.CounterValue, float64(in.Restarts), name, replica)
		if in.StartedAt != nil {
			send(c.instanceStart, prometheus.GaugeValue, float64(in.StartedAt.UnixNano())/1e9, name, replica)
		}
		if e := in.LastExit; e != nil {
			send(c.instanceExit, prometheus.GaugeValue, float64(exitCode(e)), name, replica)
		}
	}
	p.memo.Store(m)
	return m
}

func result(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// exitCode is the code of e as a shell tells it: 128+N for signal N.
func exitCode(e *status.Exit) int {
	if e.Signal == "" {
		return e.Code
	}
	n, err := strconv.Atoi(e.Signal)
	if err != nil {
		n = int(unix.SignalNum("SIG" + e.Signal))
	}
	if n <= 0 {
		return e.Code
	}
	return 128 + n
}
