package spec

import (
	"sort"
	"strconv"
	"strings"

	"github.com/reconciled/reconciled/internal/expand"
)

// Expand replaces each $(VAR) in s by lookup(VAR) when lookup knows VAR, with
// Kubernetes's rules: $$ is a literal $, so $$(VAR) stays "$(VAR)"; an unknown
// or unterminated reference is kept as written; a $ before anything else is
// kept. It is internal/expand's String, which packages below spec use.
func Expand(s string, lookup func(string) (string, bool)) string {
	return expand.String(s, lookup)
}

// Instance environment variables set by the daemon.
const (
	EnvProgram  = "RECONCILED_PROGRAM"
	EnvInstance = "RECONCILED_INSTANCE"
	EnvReplicas = "RECONCILED_REPLICAS"
)

// InstanceEnv returns the environment of instance index of p: base (the
// daemon's own, "K=V" entries), then the variables of envFrom's files
// (p.EnvFromVars, as written), then RECONCILED_PROGRAM, RECONCILED_INSTANCE
// and RECONCILED_REPLICAS, then the manifest's env with $(VAR) expanded. A
// manifest value may refer to base, to the RECONCILED_* variables and to other
// manifest variables whatever their order in the file; a reference cycle is
// left as written. The result is sorted by name.
func InstanceEnv(p *Program, index int, base []string) []string {
	vars := make(map[string]string, len(base)+len(p.EnvFromVars)+3+len(p.Spec.Env))
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	for k, v := range p.EnvFromVars {
		vars[k] = v
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
	return expand.Lookup(env)
}

// EnvTemplate is InstanceEnv and InstanceCommand of one program and base,
// prepared once for every index: a program's instances differ only in
// RECONCILED_INSTANCE unless the manifest refers to variables. Starting
// N instances then costs one copy of the environment each instead of N
// maps of it. It is immutable once made.
type EnvTemplate struct {
	p    *Program
	base []string
	env  []string // InstanceEnv(p, 0, base); nil: every index computed afresh
	at   int      // index of RECONCILED_INSTANCE in env, or -1 (the manifest sets it)
	argv []string // the command when it refers to no variable, else nil
}

// NewEnvTemplate prepares InstanceEnv(p, i, base) and its command for any i.
func NewEnvTemplate(p *Program, base []string) *EnvTemplate {
	t := &EnvTemplate{p: p, base: base, at: -1}
	if !refersToVars(p.Spec.Command) {
		t.argv = p.Spec.Command
	}
	for _, v := range p.Spec.Env {
		if strings.Contains(v, "$") {
			return t // a value may depend on the index: no shortcut
		}
	}
	t.env = InstanceEnv(p, 0, base)
	if _, own := p.Spec.Env[EnvInstance]; !own {
		prefix := EnvInstance + "="
		t.at = sort.Search(len(t.env), func(i int) bool { return t.env[i] >= prefix })
		if t.at == len(t.env) || !strings.HasPrefix(t.env[t.at], prefix) {
			t.env = nil // not reached: InstanceEnv always sets it
		}
	}
	return t
}

// Program returns the program the template was made for.
func (t *EnvTemplate) Program() *Program { return t.p }

// Env returns InstanceEnv(p, index, base), a new slice.
func (t *EnvTemplate) Env(index int) []string {
	if t.env == nil {
		return InstanceEnv(t.p, index, t.base)
	}
	env := append([]string(nil), t.env...)
	if t.at >= 0 {
		env[t.at] = EnvInstance + "=" + strconv.Itoa(index)
	}
	return env
}

// Command returns InstanceCommand(p, env) for env as Env returned it.
func (t *EnvTemplate) Command(env []string) []string {
	if t.argv != nil {
		return append([]string(nil), t.argv...)
	}
	return InstanceCommand(t.p, env)
}

// refersToVars reports whether any of args holds a $ that Expand may act on.
func refersToVars(args []string) bool {
	for _, a := range args {
		if strings.Contains(a, "$") {
			return true
		}
	}
	return false
}
