package main

// What describe says about a manifest's spec: every field that is set, in
// the order of the manifest reference. TestCLIDescribeEveryField fails for
// a field of spec.ProgramSpec that is not shown here.

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/reconciled/reconciled/spec"
)

// describeSpec writes s through field, one line per setting: the ones
// every program has always, the others when set (not their zero value or
// default).
func describeSpec(field func(k, v string), s *spec.ProgramSpec) {
	field("Command", shellJoin(s.Command))
	field("Desired", string(s.Desired))
	field("Replicas", fmt.Sprint(s.Replicas))
	restart := fmt.Sprintf("%s, startSeconds %v, startRetries %d, restartDelay %v (max %v)",
		s.RestartPolicy, s.StartSeconds, s.StartRetries, s.RestartDelay, s.MaxRestartDelay)
	if !slices.Equal(s.SuccessExitCodes, []int{0}) {
		codes := make([]string, len(s.SuccessExitCodes))
		for i, c := range s.SuccessExitCodes {
			codes[i] = strconv.Itoa(c)
		}
		restart += ", successExitCodes " + strings.Join(codes, " ")
	}
	if s.BackoffResetAfter != spec.DefaultBackoffResetAfter {
		restart += fmt.Sprintf(", backoffResetAfter %v", s.BackoffResetAfter)
	}
	field("Restart", restart)
	switch f := s.Flapping; {
	case f.Restarts == 0:
		field("Flapping", "off")
	case f != spec.Flapping{Restarts: spec.DefaultFlappingRestarts, Window: spec.DefaultFlappingWindow}:
		field("Flapping", fmt.Sprintf("%d restarts within %v", f.Restarts, f.Window))
	}
	field("Stop", fmt.Sprintf("%s, then KILL after %v", s.StopSignal.Name, s.StopTimeout))
	update := string(s.UpdateStrategy.Type)
	if s.UpdateStrategy.Type == spec.RollingUpdate {
		update += fmt.Sprintf(", maxUnavailable %d", s.UpdateStrategy.MaxUnavailable)
	}
	field("Update", update)
	if s.WorkingDir != "" {
		field("Working dir", s.WorkingDir)
	}
	if s.User != "" || s.Group != "" {
		field("User", strings.TrimSuffix(s.User+":"+s.Group, ":"))
	}
	if s.Umask != nil {
		field("Umask", fmt.Sprintf("%04o", *s.Umask))
	}
	if s.Nice != 0 {
		field("Nice", strconv.Itoa(s.Nice))
	}
	if io := s.IONice; io != nil {
		v := string(io.Class)
		if io.Class != spec.IONiceIdle {
			v += fmt.Sprintf(", level %d", io.Level)
		}
		field("IO nice", v)
	}
	if len(s.Limits) > 0 {
		ls := make([]string, len(s.Limits))
		for i, l := range s.Limits {
			ls[i] = l.Name + " " + rlimitValue(l.Soft) + ":" + rlimitValue(l.Hard)
		}
		field("Limits", strings.Join(ls, ", ")+" (soft:hard)")
	}
	if r := s.Resources; !r.IsZero() {
		var rs []string
		if r.MilliCPU > 0 {
			rs = append(rs, fmt.Sprintf("cpu %dm", r.MilliCPU))
		}
		if r.Memory > 0 {
			rs = append(rs, "memory "+exactBytes(r.Memory))
		}
		if r.Pids > 0 {
			rs = append(rs, fmt.Sprintf("pids %d", r.Pids))
		}
		field("Resources", strings.Join(rs, ", "))
	}
	env := make([]string, 0, len(s.Env))
	for k := range s.Env {
		env = append(env, k)
	}
	sort.Strings(env)
	if len(env) > 0 {
		field("Env", strings.Join(env, ", ")+" (values not shown)")
	}
	field("Output", fmt.Sprintf("stdout %s, stderr %s", outputName(s.Stdout), outputName(s.Stderr)))
	if s.ReadinessProbe != nil {
		field("Readiness", probeText(s.ReadinessProbe))
	}
	if s.LivenessProbe != nil {
		field("Liveness", probeText(s.LivenessProbe))
	}
	if len(s.DependsOn) > 0 {
		deps := make([]string, len(s.DependsOn))
		for i, d := range s.DependsOn {
			deps[i] = fmt.Sprintf("%s (%s)", d.Program, d.Condition)
		}
		field("Depends on", strings.Join(deps, ", "))
	}
}

// rlimitValue prints a limit in the kernel's units, or "unlimited".
func rlimitValue(v uint64) string {
	if v == spec.Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// exactBytes prints n in the largest binary unit that divides it, so that
// nothing is rounded: 256Mi, 1536Ki, 1000.
func exactBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func outputName(o spec.Output) string {
	if o.Mode != spec.OutputFile {
		return string(o.Mode)
	}
	return fmt.Sprintf("%s (maxSize %s, maxBackups %d)", o.File, exactBytes(o.MaxSize), o.MaxBackups)
}
