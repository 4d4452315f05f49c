package export

// Nomad: one job per program, from the github.com/hashicorp/nomad/api
// types, as the JSON that `nomad job run -json` takes. One group of
// `count` allocations, one task.
//
//	restartPolicy Always            -> type service
//	restartPolicy OnFailure, Never  -> type batch (a batch task that exits 0 is done)
//
// Nomad reads the strings of a task's config as HCL templates (${...}
// interpolates, $${ and %%{ are literal) and interpolates ${NAME} in env
// values and service checks with no escape at all: each is rendered by its
// own function below.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/reconciled/reconciled/spec"
)

const (
	// nomadAllocIndex is Nomad's number of an allocation in its group,
	// 0..count-1: RECONCILED_INSTANCE.
	nomadAllocIndex = "NOMAD_ALLOC_INDEX"
	// nomadMinRestartInterval is the shortest restart interval Nomad takes.
	nomadMinRestartInterval = 5 * time.Second
	// nomadMinCheckInterval is the shortest check interval and timeout.
	nomadMinCheckInterval = time.Second
	// nomadHealthyDeadline is Nomad's default update.healthy_deadline.
	nomadHealthyDeadline = 5 * time.Minute
)

func exportNomad(r *Result, progs []*spec.Program, o Options) error {
	driver := o.Driver
	switch driver {
	case "":
		driver = DriverRawExec
	case DriverRawExec, DriverExec:
	default:
		return fmt.Errorf("--driver %q: use raw_exec or exec", o.Driver)
	}
	for _, p := range progs {
		n := &nomadProgram{p: p, w: warnings{r: r, program: p.Metadata.Name}, driver: driver}
		data, err := marshalNomad(n.job())
		if err != nil {
			return fmt.Errorf("%s: %w", p.Metadata.Name, err)
		}
		r.Files = append(r.Files, File{Name: p.Metadata.Name + ".nomad.json", Data: data, Mode: envFileMode(p)})
	}
	return nil
}

type nomadProgram struct {
	p      *spec.Program
	w      warnings
	driver string
}

func (n *nomadProgram) batch() bool { return n.p.Spec.RestartPolicy != spec.RestartAlways }

func (n *nomadProgram) job() *api.Job {
	s := &n.p.Spec
	name := n.p.Metadata.Name
	typ := "service"
	if n.batch() {
		typ = "batch"
	}
	count := s.Replicas
	if s.Desired == spec.DesiredStopped {
		count = 0
	}
	task := &api.Task{
		Name:        name,
		Driver:      n.driver,
		User:        s.User,
		Config:      n.config(),
		Env:         n.env(),
		Resources:   n.resources(),
		KillTimeout: new(s.StopTimeout),
		KillSignal:  "SIG" + s.StopSignal.Name,
	}
	// A change of the task's meta replaces its allocations: the rolling
	// restart that restartedAt asks for.
	if at, ok := n.p.Metadata.Annotations[spec.RestartedAtAnnotation]; ok {
		task.Meta = map[string]string{spec.RestartedAtAnnotation: at}
	}
	services, networks, checked := n.services()
	task.Services = services
	group := &api.TaskGroup{
		Name:          new(name),
		Count:         new(count),
		Tasks:         []*api.Task{task},
		Networks:      networks,
		RestartPolicy: n.restart(),
		// reconciled gives up on an instance (FATAL) where it is: no
		// replacement elsewhere.
		ReschedulePolicy: &api.ReschedulePolicy{Attempts: new(0), Unlimited: new(false)},
		Update:           n.update(checked),
	}
	n.warnings()
	return &api.Job{
		ID:         new(name),
		Name:       new(name),
		Type:       new(typ),
		Meta:       n.meta(),
		TaskGroups: []*api.TaskGroup{group},
	}
}

// meta carries the labels and the annotations of the program, and the
// replicas of a stopped one.
func (n *nomadProgram) meta() map[string]string {
	m := map[string]string{}
	for k, v := range n.p.Metadata.Labels {
		m[k] = v
	}
	for _, k := range userDefinedAnnotations(n.p) {
		m[k] = n.p.Metadata.Annotations[k]
	}
	if n.p.Spec.Desired == spec.DesiredStopped {
		m[ReplicasAnnotation] = strconv.Itoa(n.p.Spec.Replicas)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// config is the driver's: the command line and the working directory.
func (n *nomadProgram) config() map[string]any {
	s := &n.p.Spec
	res := newShallowResolver(n.p)
	argv := make([]string, len(s.Command))
	for i, a := range s.Command {
		argv[i] = n.hclTemplate(fmt.Sprintf("spec.command[%d]", i), res.expand(a))
	}
	c := map[string]any{"command": argv[0]}
	if len(argv) > 1 {
		c["args"] = argv[1:]
	}
	if s.WorkingDir != "" {
		c["work_dir"] = n.hclTemplate("spec.workingDir", expr{{kind: segText, text: s.WorkingDir}})
	}
	return c
}

// hclTemplate renders e as an HCL template string, which Nomad evaluates
// with the task's environment as variables.
func (n *nomadProgram) hclTemplate(field string, e expr) string {
	var b strings.Builder
	for i, s := range e {
		switch s.kind {
		case segText:
			t := strings.ReplaceAll(s.text, "${", "$${")
			t = strings.ReplaceAll(t, "%{", "%%{")
			if strings.HasSuffix(t, "$") && i+1 < len(e) {
				// "$" before an interpolation would read as the escape $${.
				t = strings.TrimSuffix(t, "$") + `${"$"}`
			}
			b.WriteString(t)
		case segVar, segInstance:
			name := s.text
			if s.kind == segInstance {
				name = spec.EnvInstance
			}
			b.WriteString("${" + name + "}")
		case segOuter:
			n.w.add(field, "refers to $(%s), which the manifest does not set: Nomad takes it from the client's environment and fails the task when it is not there", s.text)
			b.WriteString(`${env["` + s.text + `"]}`)
		}
	}
	return b.String()
}

// nomadInterpolated matches what Nomad's env interpolation replaces.
var nomadInterpolated = regexp.MustCompile(`\$\{[a-zA-Z0-9_\-\.]+\}`)

// envValue renders e for Nomad's env interpolation, which has no escape: a
// literal ${NAME} in a value may be replaced.
func (n *nomadProgram) envValue(field string, e expr) string {
	var b strings.Builder
	for _, s := range e {
		switch s.kind {
		case segText:
			if m := nomadInterpolated.FindString(s.text); m != "" {
				n.w.add(field, "holds %s literally, which Nomad replaces when such a variable exists", m)
			}
			b.WriteString(s.text)
		case segInstance:
			b.WriteString("${" + nomadAllocIndex + "}")
		case segVar, segOuter:
			b.WriteString("${" + s.text + "}")
		}
	}
	return b.String()
}

// env is the manifest's env, expanded here: Nomad interpolates a value
// with the variables it set before, not with the task's other values.
func (n *nomadProgram) env() map[string]string {
	s := &n.p.Spec
	env := map[string]string{
		spec.EnvProgram:  n.p.Metadata.Name,
		spec.EnvReplicas: strconv.Itoa(s.Replicas),
		spec.EnvInstance: "${" + nomadAllocIndex + "}",
	}
	warnCycles(n.p, n.w)
	res := newResolver(n.p, -1)
	for _, k := range sortedKeys(s.Env) {
		env[k] = n.envValue("spec.env."+k, res.value(k))
	}
	return env
}

func (n *nomadProgram) resources() *api.Resources {
	r := n.p.Spec.Resources
	if r.IsZero() {
		return nil
	}
	var out api.Resources
	if r.Memory > 0 {
		mb := int((r.Memory + 1<<20 - 1) >> 20)
		if r.Memory%(1<<20) != 0 {
			n.w.add("spec.resources.memory", "%d bytes is rounded up to %dMiB: Nomad counts MiB", r.Memory, mb)
		}
		out.MemoryMB = new(mb)
	}
	if r.MilliCPU > 0 {
		n.w.add("spec.resources.cpu", "%dm has no equivalent: Nomad reserves CPU in MHz of the client, not in cores", r.MilliCPU)
	}
	if r.Pids > 0 {
		n.w.add("spec.resources.pids", "%d has no equivalent in a Nomad task", r.Pids)
	}
	if out.MemoryMB == nil {
		return nil
	}
	return &out
}

// restart is the group's restart policy. Nomad restarts a task a number of
// times within an interval, then fails it (mode fail) or waits for the
// interval's end (mode delay). reconciled gives up after startRetries
// consecutive failed starts, so the interval is about what such a run
// takes: startSeconds each, and the delay before each restart.
func (n *nomadProgram) restart() *api.RestartPolicy {
	n.w.supervisionWarnings(&n.p.Spec, "Nomad")
	s := &n.p.Spec
	delay := s.RestartDelay
	switch {
	case s.RestartPolicy == spec.RestartNever:
		return &api.RestartPolicy{Attempts: new(0), Interval: new(nomadMinRestartInterval), Delay: new(delay), Mode: new("fail")}
	case s.StartRetries == 0 || s.StartSeconds == 0:
		// reconciled never gives up: at most one restart per
		// maxRestartDelay once they come fast, as its back-off caps.
		return &api.RestartPolicy{Attempts: new(1), Interval: new(max(nomadMinRestartInterval, s.MaxRestartDelay)), Delay: new(delay), Mode: new("delay")}
	}
	attempts := s.StartRetries - 1
	interval := time.Duration(attempts)*(delay+s.StartSeconds) + s.StartSeconds
	if s.MaxRestartDelay != spec.DefaultMaxRestartDelay {
		n.w.add("spec.maxRestartDelay", "%v has no equivalent: Nomad restarts after a fixed delay (restartDelay)", s.MaxRestartDelay)
	}
	return &api.RestartPolicy{Attempts: new(attempts), Interval: new(max(nomadMinRestartInterval, interval)), Delay: new(delay), Mode: new("fail")}
}

// update is the rolling update of a service job; a batch job has none.
func (n *nomadProgram) update(checked bool) *api.UpdateStrategy {
	s := &n.p.Spec
	_, hasDeadline := n.p.Metadata.Annotations[spec.ProgressDeadlineAnnotation]
	if n.batch() {
		if s.UpdateStrategy != (spec.UpdateStrategy{Type: spec.RollingUpdate, MaxUnavailable: 1}) {
			n.w.add("spec.updateStrategy", "has no equivalent: a Nomad batch job has no rolling update")
		}
		if hasDeadline {
			n.w.add("metadata.annotations."+spec.ProgressDeadlineAnnotation, "a Nomad batch job has no progress deadline")
		}
		return nil
	}
	u := &api.UpdateStrategy{MaxParallel: new(s.UpdateStrategy.MaxUnavailable), HealthCheck: new("task_states")}
	if s.UpdateStrategy.Type == spec.Recreate {
		u.MaxParallel = new(max(s.Replicas, 1))
	}
	if checked {
		u.HealthCheck = new("checks")
	}
	// An allocation is healthy once up for min_healthy_time, as an
	// instance is started once up for startSeconds.
	healthy := nomadHealthyDeadline
	if hasDeadline {
		d := n.p.ProgressDeadline()
		u.ProgressDeadline = new(d)
		if d <= healthy {
			healthy = d / 2 // Nomad wants healthy_deadline below progress_deadline
			u.HealthyDeadline = new(healthy)
		}
	}
	minHealthy := s.StartSeconds
	if minHealthy >= healthy {
		minHealthy = healthy / 2
		n.w.add("spec.startSeconds", "%v is cut to %v: Nomad wants min_healthy_time below healthy_deadline (%v)", s.StartSeconds, minHealthy, healthy)
	}
	u.MinHealthyTime = new(minHealthy)
	return u
}

func (n *nomadProgram) warnings() {
	s := &n.p.Spec
	if s.Group != "" {
		n.w.add("spec.group", "has no equivalent: a Nomad task runs with the user's primary group")
	}
	if n.batch() && !isDefaultSuccessCodes(s.SuccessExitCodes) {
		n.w.add("spec.successExitCodes", "%v has no equivalent: a Nomad batch task is done only with exit code 0", s.SuccessExitCodes)
	}
	processSettingWarnings(n.w, s, "a Nomad task")
	for _, o := range []struct {
		field string
		out   spec.Output
	}{{"spec.stdout", s.Stdout}, {"spec.stderr", s.Stderr}} {
		switch o.out.Mode {
		case spec.OutputNull:
			n.w.add(o.field, "null has no equivalent: Nomad keeps a task's output in its logs")
		case spec.OutputFile:
			n.w.add(o.field, "a file has no equivalent: the output goes to the task's logs")
		}
	}
	for i, d := range s.DependsOn {
		n.w.add(fmt.Sprintf("spec.dependsOn[%d]", i), "waiting for %s to be %s has no equivalent: Nomad starts jobs independently (the program must wait for %s itself)", d.Program, d.Condition, d.Program)
	}
}
