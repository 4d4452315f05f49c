package export

import (
	"reflect"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/spec"
)

func program(replicas int, env map[string]string, command ...string) *spec.Program {
	return &spec.Program{Metadata: spec.Metadata{Name: "p"}, Spec: spec.ProgramSpec{Replicas: replicas, Env: env, Command: command}}
}

// TestResolverAgreesWithInstanceEnv: with the instance known, the resolver
// gives what the daemon gives an instance, for every value outside a cycle.
func TestResolverAgreesWithInstanceEnv(t *testing.T) {
	progs := append(loadDir(t, "testdata/every"), loadDir(t, "../examples")...)
	progs = append(progs, program(2, map[string]string{"A": "$(B)-$$(B)-$(", "B": "$(RECONCILED_REPLICAS)x$(C)", "C": "$(RECONCILED_INSTANCE)"}))
	for _, p := range progs {
		for i := range max(p.Spec.Replicas, 1) {
			want := spec.InstanceEnv(p, i, nil)
			r := newResolver(p, i)
			for _, kv := range want {
				k, v, _ := strings.Cut(kv, "=")
				if _, own := p.Spec.Env[k]; !own || r.cyclic[k] {
					continue
				}
				got := r.value(k)
				if s, ok := got.static(); ok && s != v {
					t.Errorf("%s-%d: %s = %q, want %q", p.Metadata.Name, i, k, s, v)
				}
			}
			if got, want := newResolver(p, i).expand(strings.Join(p.Spec.Command, " ")), strings.Join(spec.InstanceCommand(p, want), " "); len(got.outer()) == 0 {
				if s, _ := got.static(); s != want {
					t.Errorf("%s-%d: command %q, want %q", p.Metadata.Name, i, s, want)
				}
			}
		}
	}
}

func TestResolverSegments(t *testing.T) {
	p := program(3, map[string]string{"PORT": "80$(RECONCILED_INSTANCE)", "URL": "h:$(PORT)/$(HOME)"})
	got := newResolver(p, -1).value("URL")
	want := expr{{kind: segText, text: "h:80"}, {kind: segInstance}, {kind: segText, text: "/"}, {kind: segOuter, text: "HOME"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("URL = %#v, want %#v", got, want)
	}
	shallow := newShallowResolver(p).expand("$(URL) $(RECONCILED_PROGRAM) $(NOPE) $$(URL) $((n+1))")
	want = expr{{kind: segVar, text: "URL"}, {kind: segText, text: " "}, {kind: segVar, text: "RECONCILED_PROGRAM"}, {kind: segText, text: " "},
		{kind: segOuter, text: "NOPE"}, {kind: segText, text: " $(URL) $((n+1))"}}
	if !reflect.DeepEqual(shallow, want) {
		t.Errorf("shallow = %#v, want %#v", shallow, want)
	}
}

func TestSelection(t *testing.T) {
	p := &spec.Program{Metadata: spec.Metadata{Name: "web", Labels: map[string]string{"tier": "frontend", "team": "a"}}}
	for _, tc := range []struct {
		sel   Selection
		valid bool
		match bool
	}{
		{Selection{}, false, false},
		{Selection{Names: []string{"web"}, All: true}, false, false},
		{Selection{Selector: "tier in ((("}, false, false},
		{Selection{All: true}, true, true},
		{Selection{Names: []string{"web"}}, true, true},
		{Selection{Names: []string{"db"}}, true, false},
		{Selection{Selector: "tier=frontend,team!=b"}, true, true},
		{Selection{Selector: "tier in (backend)"}, true, false},
		{Selection{Selector: "!canary"}, true, true},
	} {
		err := tc.sel.Validate()
		if (err == nil) != tc.valid {
			t.Errorf("%+v: Validate() = %v", tc.sel, err)
			continue
		}
		if !tc.valid {
			continue
		}
		if m, err := tc.sel.Matches(p); err != nil || m != tc.match {
			t.Errorf("%+v: Matches = %v, %v", tc.sel, m, err)
		}
	}
}
