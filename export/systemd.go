package export

// systemd: a template unit NAME@.service, one instance per index (%i is
// RECONCILED_INSTANCE), and NAME.target, which wants NAME@0..N-1 and is
// what one enables and starts. The manifest's env goes to an
// EnvironmentFile of mode 0600 beside the units, never into a unit (units
// are world-readable); when a value depends on the instance, there is one
// file per instance, NAME-%i.env.
//
//	restartPolicy Always     -> Type=exec (Type=notify with --notify), Restart=always
//	restartPolicy OnFailure  -> Type=oneshot, RemainAfterExit=yes, Restart=on-failure
//	restartPolicy Never      -> Type=oneshot, RemainAfterExit=yes, Restart=no
//
// A oneshot unit is started once its process has exited successfully, so
// that After= on it waits for completion: dependsOn's Completed.

import (
	"fmt"
	"math"
	"math/bits"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reconciled/reconciled/spec"
)

// systemdLimitName is the directive of a spec.limits name: LimitNOFILE=.
func systemdLimitName(name string) string { return "Limit" + strings.ToUpper(name) }

func exportSystemd(r *Result, progs []*spec.Program, o Options) error {
	dir := o.UnitDir
	if dir == "" {
		dir = DefaultUnitDir
	}
	if !path.IsAbs(dir) {
		return fmt.Errorf("the unit directory %q is not absolute", dir)
	}
	oneshot := map[string]bool{}
	for _, p := range progs {
		oneshot[p.Metadata.Name] = p.Spec.RestartPolicy != spec.RestartAlways
	}
	for _, p := range progs {
		u := &unitWriter{p: p, w: warnings{r: r, program: p.Metadata.Name}, o: o, dir: dir, oneshot: oneshot}
		r.Files = append(r.Files, u.files()...)
	}
	return nil
}

type unitWriter struct {
	p   *spec.Program
	w   warnings
	o   Options
	dir string
	// oneshot says which exported programs are oneshot units; a program
	// that is not exported counts as long-running.
	oneshot map[string]bool
	b       strings.Builder
}

func (u *unitWriter) line(format string, args ...any) {
	fmt.Fprintf(&u.b, format+"\n", args...)
}

func (u *unitWriter) files() []File {
	name := u.p.Metadata.Name
	envFiles, envPath := u.envFiles()
	service := File{Name: name + "@.service", Data: u.service(envPath), Mode: 0o644}
	target := File{Name: name + ".target", Data: u.target(), Mode: 0o644}
	return append([]File{service, target}, envFiles...)
}

// envFiles are the manifest's env, expanded here (systemd expands nothing
// in an EnvironmentFile): one file, or one per instance when a value
// depends on it. envPath is the EnvironmentFile= value, escaped, "" for
// none.
func (u *unitWriter) envFiles() (files []File, envPath string) {
	s := &u.p.Spec
	if len(s.Env) == 0 {
		return nil, ""
	}
	warnCycles(u.p, u.w)
	name := u.p.Metadata.Name
	perInstance := false
	any := newResolver(u.p, -1)
	for _, k := range sortedKeys(s.Env) {
		e := any.value(k)
		perInstance = perInstance || e.has(segInstance)
		for _, o := range e.outer() {
			u.w.add("spec.env."+k, "refers to $(%s), which the manifest does not set: systemd expands nothing in an EnvironmentFile, so it stays as written", o)
		}
	}
	file := func(base string, res *resolver, title string) File {
		var b strings.Builder
		fmt.Fprintf(&b, "# Environment of %s. Mode 0600: values may be secrets.\n", title)
		for _, k := range sortedKeys(s.Env) {
			e := res.value(k)
			var v strings.Builder
			for _, seg := range e {
				if seg.kind == segOuter {
					v.WriteString("$(" + seg.text + ")")
				} else {
					v.WriteString(seg.text)
				}
			}
			fmt.Fprintf(&b, "%s=%s\n", k, envFileValue(v.String()))
		}
		return File{Name: base, Data: []byte(b.String()), Mode: 0o600}
	}
	if !perInstance {
		return []File{file(name+".env", any, name)}, unitValue(path.Join(u.dir, name+".env"))
	}
	for i := range s.Replicas {
		files = append(files, file(fmt.Sprintf("%s-%d.env", name, i), newResolver(u.p, i), fmt.Sprintf("%s, instance %d", name, i)))
	}
	return files, unitValue(path.Join(u.dir, name)) + "-%i.env"
}

func (u *unitWriter) header() {
	u.line("# Made by reconciled export from the manifest of %s.", u.p.Metadata.Name)
	for _, k := range sortedKeys(u.p.Metadata.Labels) {
		u.line("# label %s=%s", unitComment(k), unitComment(u.p.Metadata.Labels[k]))
	}
	for _, k := range sortedKeys(u.p.Metadata.Annotations) {
		u.line("# annotation %s=%s", unitComment(k), unitComment(u.p.Metadata.Annotations[k]))
	}
}

func (u *unitWriter) target() []byte {
	u.b.Reset()
	name := u.p.Metadata.Name
	u.header()
	u.line("[Unit]")
	u.line("Description=reconciled program %s", name)
	if n := u.p.Spec.Replicas; n > 0 {
		wants := make([]string, n)
		for i := range wants {
			wants[i] = fmt.Sprintf("%s@%d.service", name, i)
		}
		u.line("Wants=%s", strings.Join(wants, " "))
	}
	u.line("")
	u.line("[Install]")
	u.line("WantedBy=multi-user.target")
	return []byte(u.b.String())
}

func (u *unitWriter) service(envPath string) []byte {
	u.b.Reset()
	s := &u.p.Spec
	name := u.p.Metadata.Name
	u.header()
	u.line("[Unit]")
	u.line("Description=reconciled program %s, instance %%i", name)
	u.line("PartOf=%s.target", name)
	u.dependencies()
	u.startLimit()
	u.line("")
	u.line("[Service]")
	switch {
	case s.RestartPolicy != spec.RestartAlways:
		u.line("Type=oneshot")
		u.line("RemainAfterExit=yes")
		u.line("TimeoutStartSec=infinity")
	case u.o.Notify:
		u.line("Type=notify")
	default:
		u.line("Type=exec")
	}
	u.line("ExecStart=%s", u.execStart())
	u.line("Environment=%s=%s", spec.EnvProgram, name)
	u.line("Environment=%s=%%i", spec.EnvInstance)
	u.line("Environment=%s=%d", spec.EnvReplicas, s.Replicas)
	if envPath != "" {
		u.line("EnvironmentFile=%s", envPath)
	}
	u.process()
	u.restart()
	u.line("KillMode=control-group")
	u.line("KillSignal=SIG%s", s.StopSignal.Name)
	u.line("TimeoutStopSec=%s", sdDuration(s.StopTimeout))
	u.warnings()
	return []byte(u.b.String())
}

func (u *unitWriter) execStart() string {
	res := newShallowResolver(u.p)
	words := make([]string, len(u.p.Spec.Command))
	for i, a := range u.p.Spec.Command {
		field := fmt.Sprintf("spec.command[%d]", i)
		words[i] = execWord(res.expand(a), i == 0, func(name string) {
			u.w.add(field, "refers to $(%s), which the manifest does not set: systemd takes it from the unit's environment, where it may be empty", name)
		})
	}
	return strings.Join(words, " ")
}

// dependencies: After= and Requires= on the dependency's target. A target
// is reached once its instances are started (Type=exec: running; oneshot:
// exited successfully; notify: READY=1).
func (u *unitWriter) dependencies() {
	var after []string
	for i, d := range u.p.Spec.DependsOn {
		field := fmt.Sprintf("spec.dependsOn[%d]", i)
		after = append(after, d.Program+".target")
		switch d.Condition {
		case spec.DependencyStarted:
			if u.oneshot[d.Program] {
				u.w.add(field, "Started on %s, a oneshot unit: systemd waits until it has completed", d.Program)
			}
		case spec.DependencyReady:
			if u.oneshot[d.Program] || !u.o.Notify {
				u.w.add(field, "Ready has no equivalent: systemd waits until %s has started, not until it is ready (--notify lets the program say READY=1)", d.Program)
			}
		case spec.DependencyCompleted:
			if !u.oneshot[d.Program] {
				u.w.add(field, "Completed has no equivalent for %s, which is not exported here as a oneshot unit: systemd waits until it has started", d.Program)
			}
		}
	}
	if len(after) > 0 {
		u.line("After=%s", strings.Join(after, " "))
		u.line("Requires=%s", strings.Join(after, " "))
	}
}

// startLimit stops restarting as FATAL does: reconciled gives up after
// startRetries consecutive failed starts, systemd after StartLimitBurst
// starts within StartLimitIntervalSec. The interval is about what a run of
// failed starts takes: startSeconds each, and the back-off before each
// restart.
func (u *unitWriter) startLimit() {
	s := &u.p.Spec
	switch {
	case s.RestartPolicy == spec.RestartNever:
		return
	case s.StartRetries == 0 || s.StartSeconds == 0:
		u.line("StartLimitIntervalSec=0")
		return
	}
	window := s.StartSeconds * time.Duration(s.StartRetries)
	delay := s.RestartDelay
	for range s.StartRetries - 1 {
		window += delay
		delay = min(delay*2, s.MaxRestartDelay)
	}
	u.line("StartLimitIntervalSec=%s", sdDuration(window))
	u.line("StartLimitBurst=%d", s.StartRetries)
}

// restart: Restart=, and reconciled's doubling back-off as systemd's
// RestartSteps= (systemd 254 and later; older ones ignore it with a log
// line and restart after RestartSec= every time).
func (u *unitWriter) restart() {
	s := &u.p.Spec
	u.w.supervisionWarnings(s, "systemd")
	switch s.RestartPolicy {
	case spec.RestartAlways:
		u.line("Restart=always")
	case spec.RestartOnFailure:
		u.line("Restart=on-failure")
	case spec.RestartNever:
		u.line("Restart=no")
	}
	if s.RestartPolicy == spec.RestartNever {
		return
	}
	u.line("RestartSec=%s", sdDuration(s.RestartDelay))
	if s.RestartDelay > 0 && s.MaxRestartDelay > s.RestartDelay {
		steps := bits.Len64(uint64((s.MaxRestartDelay - 1) / s.RestartDelay)) // doublings to reach the cap
		u.line("RestartSteps=%d", steps)
		u.line("RestartMaxDelaySec=%s", sdDuration(s.MaxRestartDelay))
	}
	var codes []string
	for _, c := range s.SuccessExitCodes {
		if s.RestartPolicy == spec.RestartAlways {
			break // every exit is restarted: codes mean nothing
		}
		if c != 0 {
			codes = append(codes, strconv.Itoa(c))
		}
	}
	if len(codes) > 0 {
		u.line("SuccessExitStatus=%s", strings.Join(codes, " "))
	}
}

// process: who runs the program, where, and within which limits.
func (u *unitWriter) process() {
	s := &u.p.Spec
	if s.WorkingDir != "" {
		u.line("WorkingDirectory=%s", unitValue(s.WorkingDir))
	}
	if s.User != "" {
		u.line("User=%s", unitValue(s.User))
	}
	if s.Group != "" {
		u.line("Group=%s", unitValue(s.Group))
	}
	if s.Umask != nil {
		u.line("UMask=%04o", *s.Umask)
	}
	if s.Nice != 0 {
		u.line("Nice=%d", s.Nice)
	}
	if s.IONice != nil {
		u.line("IOSchedulingClass=%s", s.IONice.Class)
		if s.IONice.Class != spec.IONiceIdle {
			u.line("IOSchedulingPriority=%d", s.IONice.Level)
		}
	}
	for _, l := range s.Limits {
		if l.Soft == l.Hard {
			u.line("%s=%s", systemdLimitName(l.Name), limitValue(l.Soft))
		} else {
			u.line("%s=%s:%s", systemdLimitName(l.Name), limitValue(l.Soft), limitValue(l.Hard))
		}
	}
	if r := s.Resources; !r.IsZero() {
		if r.Memory > 0 {
			u.line("MemoryMax=%d", r.Memory)
		}
		if r.MilliCPU > 0 {
			pct := (r.MilliCPU + 9) / 10
			if r.MilliCPU%10 != 0 {
				u.w.add("spec.resources.cpu", "%dm is rounded up to %d%%: CPUQuota= counts whole percents of a core", r.MilliCPU, pct)
			}
			u.line("CPUQuota=%d%%", pct)
		}
		if r.Pids > 0 {
			u.line("TasksMax=%d", r.Pids)
		}
	}
	u.output()
}

func limitValue(v uint64) string {
	if v == spec.Unlimited || v == math.MaxUint64 {
		return "infinity"
	}
	return strconv.FormatUint(v, 10)
}

// output: the journal is systemd's "auto". StandardError= inherits
// StandardOutput='s target unless told, which is reconciled's "stdout".
func (u *unitWriter) output() {
	s := &u.p.Spec
	target := func(field string, o spec.Output) string {
		switch o.Mode {
		case spec.OutputNull:
			return "null"
		case spec.OutputFile:
			u.w.add(field, "systemd appends to %s and does not rotate it (maxSize, maxBackups)", o.File)
			return "append:" + u.outputPath(field+".file", o.File)
		case spec.OutputStdout:
			return "inherit"
		}
		return "journal"
	}
	out := target("spec.stdout", s.Stdout)
	errOut := target("spec.stderr", s.Stderr)
	if out != "journal" {
		u.line("StandardOutput=%s", out)
	}
	if errOut != "inherit" && (errOut != "journal" || out != "journal") {
		u.line("StandardError=%s", errOut)
	}
}

// outputPath renders a log file's path, with %i for the instance.
func (u *unitWriter) outputPath(field, p string) string {
	var b strings.Builder
	for _, s := range newResolver(u.p, -1).expand(p) {
		switch s.kind {
		case segInstance:
			b.WriteString("%i")
		case segOuter:
			u.w.add(field, "refers to $(%s), which the manifest does not set: it stays as written", s.text)
			b.WriteString(unitValue("$(" + s.text + ")"))
		default:
			b.WriteString(unitValue(s.text))
		}
	}
	return b.String()
}

// warnings name what a unit cannot carry.
func (u *unitWriter) warnings() {
	s := &u.p.Spec
	if s.Desired == spec.DesiredStopped {
		u.w.add("spec.desired", "stopped has no equivalent in a unit file: do not enable or start %s.target", u.p.Metadata.Name)
	}
	if s.RestartPolicy != spec.RestartAlways && !slices.Contains(s.SuccessExitCodes, 0) {
		u.w.add("spec.successExitCodes", "%v: systemd counts exit code 0 as a success too", s.SuccessExitCodes)
	}
	for _, pr := range []struct {
		field string
		p     *spec.Probe
	}{{"spec.readinessProbe", s.ReadinessProbe}, {"spec.livenessProbe", s.LivenessProbe}} {
		if pr.p != nil {
			u.w.add(pr.field, "has no equivalent: systemd does not probe (a program can report READY=1 and WATCHDOG=1 itself, with --notify)")
		}
	}
	if s.UpdateStrategy != (spec.UpdateStrategy{Type: spec.RollingUpdate, MaxUnavailable: 1}) {
		u.w.add("spec.updateStrategy", "has no equivalent: systemd restarts instances when told to")
	}
	if _, ok := u.p.Metadata.Annotations[spec.ProgressDeadlineAnnotation]; ok {
		u.w.add("metadata.annotations."+spec.ProgressDeadlineAnnotation, "has no equivalent in systemd")
	}
}
