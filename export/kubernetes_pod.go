package export

// The Kubernetes container: command, env in an order Kubernetes expands,
// probes, resources, security context, and the warnings for the process
// settings a container has no field for.

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/reconciled/reconciled/spec"
)

func (k *k8sProgram) container() corev1.Container {
	s := &k.p.Spec
	c := corev1.Container{
		Name:            k.name,
		Image:           k.image,
		Command:         s.Command,
		WorkingDir:      s.WorkingDir,
		Env:             k.env(),
		Resources:       k.resources(),
		SecurityContext: k.securityContext(),
	}
	res := k.probeResolver()
	c.ReadinessProbe = k.probe("spec.readinessProbe", s.ReadinessProbe, res)
	c.LivenessProbe = k.probe("spec.livenessProbe", s.LivenessProbe, res)
	k.processWarnings()
	return c
}

// env is RECONCILED_PROGRAM, RECONCILED_REPLICAS and RECONCILED_INSTANCE
// where the kind numbers its pods, then the manifest's env ordered so that
// every $(VAR) refers to an entry before it: Kubernetes expands only those.
// $(VAR) and $$ mean in Kubernetes what they mean in reconciled, so values
// and the command are kept as written.
func (k *k8sProgram) env() []corev1.EnvVar {
	s := &k.p.Spec
	env := []corev1.EnvVar{
		{Name: spec.EnvProgram, Value: k.p.Metadata.Name},
		{Name: spec.EnvReplicas, Value: strconv.Itoa(s.Replicas)},
	}
	fieldRef := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	switch {
	case k.isJob():
		// An Indexed Job runs indices 0..completions-1 to success, as
		// reconciled runs instances 0..replicas-1.
		env = append(env, corev1.EnvVar{Name: spec.EnvInstance, ValueFrom: fieldRef("metadata.annotations['" + jobCompletionIndexAn + "']")})
	case k.kind == KindStatefulSet:
		env = append(env, corev1.EnvVar{Name: spec.EnvInstance, ValueFrom: fieldRef("metadata.labels['" + podIndexLabel + "']")})
	case s.Replicas <= 1:
		env = append(env, corev1.EnvVar{Name: spec.EnvInstance, Value: "0"})
	}
	warnCycles(k.p, k.w)
	res := newResolver(k.p, -1)
	for i, arg := range s.Command {
		k.outerWarnings(fmt.Sprintf("spec.command[%d]", i), res.expand(arg))
	}
	for _, name := range envOrder(s.Env) {
		env = append(env, corev1.EnvVar{Name: name, Value: s.Env[name]})
		k.outerWarnings("spec.env."+name, res.value(name))
	}
	return env
}

func (k *k8sProgram) outerWarnings(field string, e expr) {
	seen := map[string]bool{}
	for _, name := range e.outer() {
		if !seen[name] {
			seen[name] = true
			k.w.add(field, "refers to $(%s), which the manifest does not set: reconciled takes it from the daemon's environment, Kubernetes leaves it as written", name)
		}
	}
}

// envOrder returns the names of env so that each comes after the names
// its value refers to, and otherwise in name order. A cycle is broken at
// its first name (warnCycles says so).
func envOrder(env map[string]string) []string {
	names := sortedKeys(env)
	deps := map[string][]string{}
	for _, name := range names {
		for _, ref := range references(env[name]) {
			if _, own := env[ref]; own && ref != name {
				deps[name] = append(deps[name], ref)
			}
		}
	}
	placed := map[string]bool{}
	order := make([]string, 0, len(names))
	for len(order) < len(names) {
		next, first := "", ""
		for _, n := range names {
			if placed[n] {
				continue
			}
			if first == "" {
				first = n
			}
			ready := true
			for _, d := range deps[n] {
				ready = ready && placed[d]
			}
			if ready {
				next = n
				break
			}
		}
		if next == "" {
			next = first // every name left waits on another: a cycle
		}
		placed[next] = true
		order = append(order, next)
	}
	return order
}

// probeResolver resolves probe values at export time: Kubernetes expands
// no $(VAR) in probes. With one replica the instance is known to be 0.
func (k *k8sProgram) probeResolver() *resolver {
	if k.p.Spec.Replicas <= 1 {
		return newResolver(k.p, 0)
	}
	return newResolver(k.p, -1)
}

func (k *k8sProgram) probe(field string, pr *spec.Probe, res *resolver) *corev1.Probe {
	if pr == nil {
		return nil
	}
	h, ok := k.probeHandler(field, pr, res)
	if !ok {
		return nil
	}
	return &corev1.Probe{
		ProbeHandler:        h,
		InitialDelaySeconds: int32(k.seconds(field+".initialDelay", pr.InitialDelay)),
		PeriodSeconds:       int32(k.seconds(field+".period", pr.Period)),
		TimeoutSeconds:      int32(k.seconds(field+".timeout", pr.Timeout)),
		SuccessThreshold:    int32(pr.SuccessThreshold),
		FailureThreshold:    int32(pr.FailureThreshold),
	}
}

func (k *k8sProgram) probeHandler(field string, pr *spec.Probe, res *resolver) (corev1.ProbeHandler, bool) {
	var h corev1.ProbeHandler
	ok := true
	static := func(sub, s string) string {
		v, good := staticValue(k.w, field+"."+sub, s, res, "a Kubernetes probe")
		ok = ok && good
		return v
	}
	port := func(sub, s string) intstr.IntOrString {
		v := static(sub, s)
		n, err := strconv.Atoi(v)
		if ok && (err != nil || n < 1 || n > 65535) {
			k.w.add(field+"."+sub, "%q is not a port number once expanded: the probe is left out", v)
			ok = false
		}
		return intstr.FromInt32(int32(n))
	}
	switch {
	case pr.Exec != nil:
		cmd := make([]string, len(pr.Exec.Command))
		for i, a := range pr.Exec.Command {
			cmd[i] = static(fmt.Sprintf("exec.command[%d]", i), a)
		}
		h.Exec = &corev1.ExecAction{Command: cmd}
	case pr.TCPSocket != nil:
		h.TCPSocket = &corev1.TCPSocketAction{Host: probeHost(static("tcpSocket.host", pr.TCPSocket.Host)), Port: port("tcpSocket.port", pr.TCPSocket.Port)}
	case pr.HTTPGet != nil:
		h.HTTPGet = &corev1.HTTPGetAction{
			Scheme: corev1.URIScheme(pr.HTTPGet.Scheme),
			Host:   probeHost(static("httpGet.host", pr.HTTPGet.Host)),
			Port:   port("httpGet.port", pr.HTTPGet.Port),
			Path:   static("httpGet.path", pr.HTTPGet.Path),
		}
	}
	return h, ok
}

// staticValue resolves s for an engine that expands nothing there; when it
// cannot (the value depends on the instance, or on the daemon's
// environment) it says so, and the caller leaves the probe out.
func staticValue(w warnings, field, s string, res *resolver, where string) (string, bool) {
	e := res.expand(s)
	if v, ok := e.static(); ok {
		return v, true
	}
	if e.has(segInstance) {
		w.add(field, "%q depends on %s, which %s cannot: the probe is left out", s, spec.EnvInstance, where)
	} else {
		w.add(field, "%q refers to $(%s), which the manifest does not set: the probe is left out", s, e.outer()[0])
	}
	return "", false
}

// probeHost maps reconciled's default, the instance's own host, to the
// pod's own address: the kubelet probes the pod's IP when no host is given
// (127.0.0.1 would be the node's).
func probeHost(h string) string {
	switch h {
	case "", "127.0.0.1", "localhost", "::1", "[::1]":
		return ""
	}
	return h
}

// resources are requests and limits alike: reconciled's are limits, and a
// request as large keeps the pod from being placed where they cannot hold.
func (k *k8sProgram) resources() corev1.ResourceRequirements {
	r := k.p.Spec.Resources
	list := corev1.ResourceList{}
	if r.Memory > 0 {
		format := resource.BinarySI // 512Mi as 512Mi
		if r.Memory%(1<<10) != 0 {
			format = resource.DecimalSI // 1G as 1G
		}
		list[corev1.ResourceMemory] = *resource.NewQuantity(r.Memory, format)
	}
	if r.MilliCPU > 0 {
		list[corev1.ResourceCPU] = *resource.NewMilliQuantity(r.MilliCPU, resource.DecimalSI)
	}
	if r.Pids > 0 {
		k.w.add("spec.resources.pids", "%d has no equivalent: a pod's pids limit is the kubelet's (podPidsLimit)", r.Pids)
	}
	if len(list) == 0 {
		return corev1.ResourceRequirements{}
	}
	return corev1.ResourceRequirements{Requests: list, Limits: list.DeepCopy()}
}

// securityContext carries numeric user and group ids; names mean nothing
// to Kubernetes.
func (k *k8sProgram) securityContext() *corev1.SecurityContext {
	s := &k.p.Spec
	var sc corev1.SecurityContext
	set := false
	if s.User != "" {
		if uid, err := strconv.ParseInt(s.User, 10, 64); err == nil {
			sc.RunAsUser, set = &uid, true
		} else {
			k.w.add("spec.user", "%q is a name: Kubernetes takes a numeric uid (runAsUser), or the image's USER", s.User)
		}
	}
	if s.Group != "" {
		if gid, err := strconv.ParseInt(s.Group, 10, 64); err == nil {
			sc.RunAsGroup, set = &gid, true
		} else {
			k.w.add("spec.group", "%q is a name: Kubernetes takes a numeric gid (runAsGroup)", s.Group)
		}
	}
	if !set {
		return nil
	}
	return &sc
}

// processWarnings name the process settings a container has no field for.
func (k *k8sProgram) processWarnings() {
	s := &k.p.Spec
	if s.StopSignal.Name != "TERM" {
		k.w.add("spec.stopSignal", "SIG%s has no equivalent: Kubernetes sends SIGTERM, or the image's STOPSIGNAL", s.StopSignal.Name)
	}
	processSettingWarnings(k.w, s, "a container")
	for _, o := range []struct {
		field string
		out   spec.Output
	}{{"spec.stdout", s.Stdout}, {"spec.stderr", s.Stderr}} {
		switch o.out.Mode {
		case spec.OutputNull:
			k.w.add(o.field, "null has no equivalent: Kubernetes keeps a container's output in its log")
		case spec.OutputFile:
			k.w.add(o.field, "a file has no equivalent: the output goes to the container's log")
		}
	}
	for i, d := range s.DependsOn {
		k.w.add(fmt.Sprintf("spec.dependsOn[%d]", i), "waiting for %s to be %s has no equivalent: Kubernetes starts workloads independently (the program must wait for %s itself)", d.Program, d.Condition, d.Program)
	}
}

// processSettingWarnings name the settings of the process itself that
// neither a container nor a Nomad task has: umask, nice, ioNice, limits.
func processSettingWarnings(w warnings, s *spec.ProgramSpec, what string) {
	if s.Umask != nil {
		w.add("spec.umask", "%03o has no equivalent in %s", *s.Umask, what)
	}
	if s.Nice != 0 {
		w.add("spec.nice", "%d has no equivalent in %s", s.Nice, what)
	}
	if s.IONice != nil {
		w.add("spec.ioNice", "has no equivalent in %s", what)
	}
	for _, l := range s.Limits {
		w.add("spec.limits."+l.Name, "has no equivalent in %s", what)
	}
}
