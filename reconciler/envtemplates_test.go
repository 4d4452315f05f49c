package reconciler

import (
	"testing"

	"github.com/reconciled/reconciled/spec"
)

// TestEnvTemplatesKeepTwoSpecs: during a rollout the old and the new spec of
// a program both start instances; each keeps its template, and a third spec
// replaces the older one.
func TestEnvTemplatesKeepTwoSpecs(t *testing.T) {
	parse := func(cmd string) *spec.Program {
		p, errs := spec.Parse("web.yaml", []byte("spec:\n  command: "+cmd+"\n"))
		if errs != nil {
			t.Fatal(errs)
		}
		return p
	}
	base := []string{"PATH=/bin"}
	var e envTemplates
	old, cur, next := parse("sleep 1"), parse("sleep 2"), parse("sleep 3")
	tOld := e.get(old, base)
	tCur := e.get(cur, base)
	if e.get(old, base) != tOld || e.get(cur, base) != tCur {
		t.Fatal("a template of one of the two latest specs was made again")
	}
	if got := tCur.Command(tCur.Env(0)); len(got) != 2 || got[1] != "2" {
		t.Errorf("command %q, want sleep 2", got)
	}
	e.get(next, base)
	if e.get(cur, base) != tCur {
		t.Error("the newer of the two was dropped")
	}
	if e.get(old, base) == tOld {
		t.Error("three specs kept")
	}
}
