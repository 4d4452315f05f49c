package export

// $(VAR) references, resolved at export time as far as the manifest alone
// allows. Each target expands references with its own syntax and its own
// rules, so a value is first turned into segments that say what reconciled
// would put there: literal text, the instance's index (known only where the
// engine numbers the instances), or a variable the manifest does not set,
// which reconciled takes from the daemon's environment.

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/reconciled/reconciled/spec"
)

// segKind says what a segment of an expanded value is.
type segKind uint8

const (
	segText     segKind = iota // literal text, unescaped
	segInstance                // RECONCILED_INSTANCE, left to the engine
	segOuter                   // $(NAME) of a variable the manifest does not set
	segVar                     // $(NAME) of a variable the engine sets too (shallow)
)

type segment struct {
	kind segKind
	text string // the literal text, or the variable's name
}

// expr is an expanded value: its segments in order, adjacent texts merged.
type expr []segment

func (e expr) add(s segment) expr {
	if s.kind == segText {
		if s.text == "" {
			return e
		}
		if n := len(e); n > 0 && e[n-1].kind == segText {
			e[n-1].text += s.text
			return e
		}
	}
	return append(e, s)
}

// static returns the value when it is all literal text.
func (e expr) static() (string, bool) {
	var b strings.Builder
	for _, s := range e {
		if s.kind != segText {
			return "", false
		}
		b.WriteString(s.text)
	}
	return b.String(), true
}

// has reports whether e has a segment of kind k.
func (e expr) has(k segKind) bool {
	for _, s := range e {
		if s.kind == k {
			return true
		}
	}
	return false
}

// outer returns the names of the segOuter segments, in order.
func (e expr) outer() []string {
	var names []string
	for _, s := range e {
		if s.kind == segOuter {
			names = append(names, s.text)
		}
	}
	return names
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolver expands values of one program as spec.InstanceEnv does, with the
// manifest's env, RECONCILED_PROGRAM and RECONCILED_REPLICAS known, and
// RECONCILED_INSTANCE known only for a given index.
type resolver struct {
	env    map[string]string // the manifest's, unexpanded
	fixed  map[string]string
	done   map[string]expr
	active []string // the variables being expanded, outermost first
	// cyclic names the variables of reference cycles: a reference met
	// again while being expanded is kept as written, as spec.InstanceEnv
	// keeps it.
	cyclic map[string]bool
	// shallow leaves every variable the engine also sets (the manifest's
	// env and RECONCILED_*) as a segVar, for values the engine expands
	// from the environment it gives the process (a command line).
	shallow bool
}

// newResolver prepares the expansion of p's values for instance index, or
// for any instance when index is negative (RECONCILED_INSTANCE is then a
// segInstance).
func newResolver(p *spec.Program, index int) *resolver {
	r := &resolver{
		env: p.Spec.Env,
		fixed: map[string]string{
			spec.EnvProgram:  p.Metadata.Name,
			spec.EnvReplicas: strconv.Itoa(p.Spec.Replicas),
		},
		done:   map[string]expr{},
		cyclic: map[string]bool{},
	}
	if index >= 0 {
		r.fixed[spec.EnvInstance] = strconv.Itoa(index)
	}
	// Resolved in name order, so that a reference cycle always breaks at
	// the same place.
	for _, name := range sortedKeys(p.Spec.Env) {
		r.variable(name)
	}
	return r
}

// newShallowResolver prepares the expansion of p's command line for an
// engine that sets every variable of the manifest and RECONCILED_* in the
// process's environment and expands references to them itself.
func newShallowResolver(p *spec.Program) *resolver {
	r := newResolver(p, -1)
	r.shallow = true
	return r
}

// expand expands s with spec.Expand's rules: $$ is a literal $, $(NAME)
// is replaced when NAME can be resolved, anything else stays as written.
func (r *resolver) expand(s string) expr {
	var e expr
	text := func(t string) { e = e.add(segment{kind: segText, text: t}) }
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			text(s[i : i+1])
			continue
		}
		switch s[i+1] {
		case '$':
			text("$")
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				text(s[i:])
				return e
			}
			if v, ok := r.variable(s[i+2 : i+2+end]); ok {
				for _, seg := range v {
					e = e.add(seg)
				}
			} else {
				text(s[i : i+3+end])
			}
			i += 2 + end
		default:
			text("$")
		}
	}
	return e
}

// variable resolves one $(NAME).
func (r *resolver) variable(name string) (expr, bool) {
	_, own := r.env[name]
	_, fixed := r.fixed[name]
	if r.shallow && (own || fixed || name == spec.EnvInstance) {
		return expr{{kind: segVar, text: name}}, true
	}
	if raw, own := r.env[name]; own {
		if e, ok := r.done[name]; ok {
			return e, true
		}
		if i := slices.Index(r.active, name); i >= 0 {
			for _, n := range r.active[i:] {
				r.cyclic[n] = true
			}
			return nil, false
		}
		r.active = append(r.active, name)
		e := r.expand(raw)
		r.active = r.active[:len(r.active)-1]
		r.done[name] = e
		return e, true
	}
	if v, ok := r.fixed[name]; ok {
		return expr{{kind: segText, text: v}}, true
	}
	if name == spec.EnvInstance {
		return expr{{kind: segInstance}}, true
	}
	if envNameRE.MatchString(name) {
		return expr{{kind: segOuter, text: name}}, true
	}
	return nil, false
}

// value returns the manifest variable name as the instance gets it: for a
// variable in a reference cycle, as resolved in name order.
func (r *resolver) value(name string) expr {
	e, _ := r.variable(name)
	return e
}

// references returns the names s refers to with $(NAME), in order, as
// spec.Expand reads them.
func references(s string) []string {
	var names []string
	for i := 0; i+1 < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		switch s[i+1] {
		case '$':
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				return names
			}
			names = append(names, s[i+2:i+2+end])
			i += 2 + end
		}
	}
	return names
}

// warnCycles names the variables whose references form a cycle: which of
// them keeps its $(VAR) as written depends on the order of expansion, in
// reconciled as in the target.
func warnCycles(p *spec.Program, w warnings) {
	r := newResolver(p, -1)
	for _, name := range sortedKeys(r.cyclic) {
		w.add("spec.env."+name, "is part of a $(VAR) reference cycle: a reference in the cycle stays as written")
	}
}
