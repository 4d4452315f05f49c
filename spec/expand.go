package spec

import (
	"sort"
	"strconv"
	"strings"
)

// Expand replaces each $(VAR) in s by lookup(VAR) when lookup knows VAR, with
// Kubernetes's rules: $$ is a literal $, so $$(VAR) stays "$(VAR)"; an unknown
// or unterminated reference is kept as written; a $ before anything else is
// kept.
func Expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// Instance environment variables set by the daemon.
const (
	EnvProgram  = "RECONCILED_PROGRAM"
	EnvInstance = "RECONCILED_INSTANCE"
	EnvReplicas = "RECONCILED_REPLICAS"
)

// InstanceEnv returns the environment of instance index of p: base (the
// daemon's own, "K=V" entries), then RECONCILED_PROGRAM, RECONCILED_INSTANCE
// and RECONCILED_REPLICAS, then the manifest's env with $(VAR) expanded. A
// manifest value may refer to base, to the RECONCILED_* variables and to other
// manifest variables whatever their order in the file; a reference cycle is
// left as written. The result is sorted by name.
func InstanceEnv(p *Program, index int, base []string) []string {
	vars := make(map[string]string, len(base)+3+len(p.Spec.Env))
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	vars[EnvProgram] = p.Metadata.Name
	vars[EnvInstance] = strconv.Itoa(index)
	vars[EnvReplicas] = strconv.Itoa(p.Spec.Replicas)

	const (
		unvisited = iota
		inProgress
		done
	)
	state := make(map[string]int, len(p.Spec.Env))
	var resolve func(name string) (string, bool)
	resolve = func(name string) (string, bool) {
		raw, own := p.Spec.Env[name]
		if !own {
			v, ok := vars[name]
			return v, ok
		}
		switch state[name] {
		case done:
			return vars[name], true
		case inProgress:
			return "", false // a cycle: keep the reference as written
		}
		state[name] = inProgress
		v := Expand(raw, resolve)
		state[name] = done
		vars[name] = v
		return v, true
	}
	for name := range p.Spec.Env {
		resolve(name)
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// InstanceCommand returns p's argv with $(VAR) expanded from env, an
// environment as InstanceEnv returns it.
func InstanceCommand(p *Program, env []string) []string {
	lookup := LookupEnv(env)
	argv := make([]string, len(p.Spec.Command))
	for i, a := range p.Spec.Command {
		argv[i] = Expand(a, lookup)
	}
	return argv
}

// LookupEnv returns a lookup function over "K=V" entries for Expand.
func LookupEnv(env []string) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}
