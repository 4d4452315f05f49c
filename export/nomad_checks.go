package export

// Nomad service checks from probes, and the JSON the jobs are written as.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/reconciled/reconciled/spec"
)

// services turns the probes into checks of one service of the task:
// readiness gates the rolling update (update.health_check "checks"),
// liveness restarts the task (check_restart). Nomad's own service provider
// runs http and tcp checks; a script check (an exec probe) needs Consul.
// Checks reach ports through labels of the group's network: each probe's
// port becomes a static one. checked says whether any check was made.
func (n *nomadProgram) services() (svcs []*api.Service, nets []*api.NetworkResource, checked bool) {
	s := &n.p.Spec
	probes := []struct {
		name, field string
		pr          *spec.Probe
	}{{"readiness", "spec.readinessProbe", s.ReadinessProbe}, {"liveness", "spec.livenessProbe", s.LivenessProbe}}
	provider := "nomad"
	for _, p := range probes {
		if p.pr != nil && p.pr.Exec != nil {
			provider = api.ServiceProviderConsul
		}
	}
	res := newResolver(n.p, -1)
	if s.Replicas <= 1 {
		res = newResolver(n.p, 0)
	}
	var checks []api.ServiceCheck
	ports := map[int]string{}
	servicePort := ""
	for _, p := range probes {
		if p.pr == nil {
			continue
		}
		c, port, ok := n.check(p.name, p.field, p.pr, res, provider)
		if !ok {
			continue
		}
		if port > 0 {
			c.PortLabel = "p" + strconv.Itoa(port)
			ports[port] = c.PortLabel
			if servicePort == "" {
				servicePort = c.PortLabel
			}
		}
		checks = append(checks, c)
	}
	if len(checks) == 0 {
		return nil, nil, false
	}
	svc := &api.Service{
		Name:      dnsName(n.p, n.w, "Nomad service"),
		Provider:  provider,
		PortLabel: servicePort,
		Checks:    checks,
	}
	if len(ports) > 0 {
		net := &api.NetworkResource{}
		for _, port := range slices.Sorted(maps.Keys(ports)) {
			net.ReservedPorts = append(net.ReservedPorts, api.Port{Label: ports[port], Value: port})
		}
		nets = []*api.NetworkResource{net}
	}
	return []*api.Service{svc}, nets, true
}

// check builds one check; port is the static port it needs, 0 for none.
func (n *nomadProgram) check(name, field string, pr *spec.Probe, res *resolver, provider string) (c api.ServiceCheck, port int, ok bool) {
	c = api.ServiceCheck{
		Name:     name,
		Interval: n.checkDuration(field+".period", pr.Period),
		Timeout:  n.checkDuration(field+".timeout", pr.Timeout),
	}
	ok = true
	static := func(sub, s string) string {
		v, good := staticValue(n.w, field+"."+sub, s, res, "a Nomad check")
		ok = ok && good
		return v
	}
	portOf := func(sub, s string) int {
		v := static(sub, s)
		p, err := strconv.Atoi(v)
		if ok && (err != nil || p < 1 || p > 65535) {
			n.w.add(field+"."+sub, "%q is not a port number once expanded: the probe is left out", v)
			ok = false
		}
		return p
	}
	host := func(sub, h string) {
		if v := static(sub, h); ok && probeHost(v) != "" {
			n.w.add(field+"."+sub, "%q has no equivalent: Nomad checks the service's own address", v)
		}
	}
	shallow := newShallowResolver(n.p)
	switch {
	case pr.Exec != nil:
		c.Type = "script"
		for i, a := range pr.Exec.Command {
			v := n.envValue(fmt.Sprintf("%s.exec.command[%d]", field, i), shallow.expand(a))
			if i == 0 {
				c.Command = v
			} else {
				c.Args = append(c.Args, v)
			}
		}
	case pr.TCPSocket != nil:
		c.Type = "tcp"
		host("tcpSocket.host", pr.TCPSocket.Host)
		port = portOf("tcpSocket.port", pr.TCPSocket.Port)
	case pr.HTTPGet != nil:
		c.Type = "http"
		host("httpGet.host", pr.HTTPGet.Host)
		port = portOf("httpGet.port", pr.HTTPGet.Port)
		c.Path = n.envValue(field+".httpGet.path", shallow.expand(pr.HTTPGet.Path))
		if pr.HTTPGet.Scheme == "HTTPS" {
			c.Protocol = "https"
		}
	}
	if !ok {
		return c, 0, false
	}
	if name == "liveness" {
		c.CheckRestart = &api.CheckRestart{Limit: pr.FailureThreshold, Grace: new(pr.InitialDelay)}
		return c, port, true
	}
	if pr.InitialDelay > 0 {
		n.w.add(field+".initialDelay", "%v has no equivalent: a Nomad check starts with the task", pr.InitialDelay)
	}
	if provider == api.ServiceProviderConsul {
		if pr.FailureThreshold > 1 {
			c.FailuresBeforeCritical = pr.FailureThreshold
		}
		if pr.SuccessThreshold > 1 {
			c.SuccessBeforePassing = pr.SuccessThreshold
		}
		return c, port, true
	}
	if pr.FailureThreshold != 3 {
		n.w.add(field+".failureThreshold", "%d has no equivalent: Nomad's own checks turn critical on the first failure", pr.FailureThreshold)
	}
	if pr.SuccessThreshold != 1 {
		n.w.add(field+".successThreshold", "%d has no equivalent: Nomad's own checks pass on the first success", pr.SuccessThreshold)
	}
	return c, port, true
}

// checkDuration is d, raised to Nomad's shortest check interval.
func (n *nomadProgram) checkDuration(field string, d time.Duration) time.Duration {
	if d < nomadMinCheckInterval {
		n.w.add(field, "%v is raised to %v: Nomad's shortest", d, nomadMinCheckInterval)
		return nomadMinCheckInterval
	}
	return d
}

// marshalNomad writes job as indented JSON, leaving out what is not set:
// nil pointers, empty lists and maps, and zero values of fields that are
// not pointers (they decode to the same job). A pointer to a zero value is
// a setting and stays (restart attempts 0).
func marshalNomad(job *api.Job) ([]byte, error) {
	v, _ := pruned(reflect.ValueOf(job))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "a && b" in a command stays readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// pruned returns v as plain maps, lists and scalars, and whether it is set.
func pruned(v reflect.Value) (any, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, false
		}
		x, _ := pruned(v.Elem())
		return x, true
	case reflect.Struct:
		m := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if x, set := pruned(v.Field(i)); set {
				m[name] = x
			}
		}
		return m, len(m) > 0
	case reflect.Map:
		if v.Len() == 0 {
			return nil, false
		}
		m := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			m[it.Key().String()], _ = pruned(it.Value())
		}
		return m, true
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return nil, false
		}
		l := make([]any, v.Len())
		for i := range l {
			l[i], _ = pruned(v.Index(i))
		}
		return l, true
	}
	return v.Interface(), !v.IsZero()
}
