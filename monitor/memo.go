package monitor

import (
	"cmp"
	"slices"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/status"
)

// memo is the series one status of a program tells, built once per
// status: a program keeps it beside the status it came from, and a scrape
// that finds the status unchanged hands the same series out again. Nothing
// in a memo changes once it is stored, so concurrent scrapes may encode it
// at the same time.
type memo struct {
	status *status.ProgramStatus
	// series holds the series of each family a status tells (famReplicas
	// up to famExit), in the order the registry would sort them: by
	// program, then replica as strings sort ("10" before "2").
	series [memoFamilies][]*dto.Metric
	// instances are the status's instances in the same order, for the
	// series a scrape adds per instance (usage).
	instances []memoInstance
}

// memoInstance is what a scrape needs of one instance.
type memoInstance struct {
	key usageKey
	// labels are program and replica.
	labels []*dto.LabelPair
}

// memo returns the series st tells, built once per status.
func (p *program) memoOf(st *status.ProgramStatus) *memo {
	if m := p.memo.Load(); m != nil && m.status == st {
		return m
	}
	m := &memo{status: st}
	s := &st.Status
	gauge := func(f int, v float64, labels ...*dto.LabelPair) {
		m.series[f] = append(m.series[f], &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: &v}})
	}
	count := func(f int, v float64, labels ...*dto.LabelPair) {
		m.series[f] = append(m.series[f], &dto.Metric{Label: labels, Counter: &dto.Counter{Value: &v}})
	}
	prog := p.label
	gauge(famReplicas, float64(s.Replicas), prog, labelPair("state", "desired"))
	gauge(famReplicas, float64(s.ReadyReplicas), prog, labelPair("state", "ready"))
	gauge(famReplicas, float64(s.UpdatedReplicas), prog, labelPair("state", "updated"))
	if s.Phase != "" {
		gauge(famPhase, 1, labelPair("phase", s.Phase), prog)
	}
	valid := 1.0
	conds := slices.Clone(s.Conditions)
	slices.SortFunc(conds, func(a, b status.Condition) int {
		return cmp.Or(cmp.Compare(a.Status, b.Status), cmp.Compare(a.Type, b.Type))
	})
	for _, c := range conds {
		if c.Type == status.ConditionSpecValid && c.Status != status.ConditionTrue {
			valid = 0
		}
		gauge(famCondition, 1, prog, labelPair("status", c.Status), labelPair("type", c.Type))
	}
	gauge(famSpecValid, valid, prog)

	order := make([]int, len(s.Instances))
	replicas := make([]string, len(s.Instances))
	for i := range s.Instances {
		order[i] = i
		replicas[i] = strconv.Itoa(s.Instances[i].Index)
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(replicas[a], replicas[b]) })
	m.instances = make([]memoInstance, 0, len(order))
	for _, i := range order {
		in := &s.Instances[i]
		replica := labelPair("replica", replicas[i])
		gauge(famState, 1, prog, replica, labelPair("state", in.State))
		gauge(famReady, one(in.Ready), prog, replica)
		count(famRestarts, float64(in.Restarts), prog, replica)
		if in.StartedAt != nil {
			gauge(famStart, float64(in.StartedAt.UnixNano())/1e9, prog, replica)
		}
		if e := in.LastExit; e != nil {
			gauge(famExit, float64(exitCode(e)), prog, replica)
		}
		m.instances = append(m.instances, memoInstance{key: usageKey{p.name, in.Index, in.Pid}, labels: []*dto.LabelPair{prog, replica}})
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
