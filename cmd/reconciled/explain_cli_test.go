package main

import (
	"strings"
	"testing"
)

// explain prints the field table: golden files for the top level, an
// object, a scalar, a union and an unknown path.
func TestCLIExplain(t *testing.T) {
	for _, c := range []struct {
		golden string
		args   []string
		code   int
	}{
		{"explain.golden", nil, 0},
		{"explain-httpget.golden", []string{"spec.readinessProbe.httpGet"}, 0},
		{"explain-replicas.golden", []string{"program.spec.replicas"}, 0},
		{"explain-stdout.golden", []string{"spec.stdout"}, 0},
		{"explain-dependson.golden", []string{"spec.dependsOn[0].condition"}, 0},
		{"explain-recursive.golden", []string{"spec.readinessProbe", "--recursive"}, 0},
		{"explain-unknown.golden", []string{"spec.readinesProbe.httpGet"}, 1},
		{"explain-unknown-last.golden", []string{"spec.httpGet"}, 1},
	} {
		res := cliExec(t.Context(), "", append([]string{"explain"}, c.args...)...)
		if res.code != c.code {
			t.Errorf("explain %v: want exit %d: %v", c.args, c.code, res)
		}
		cliGolden(t, c.golden, res.stdout+res.stderr)
	}
	if res := cliExec(t.Context(), "", "explain", "a", "b"); res.code != 2 {
		t.Errorf("explain a b: want exit 2: %v", res)
	}
}

// Every field of the table can be explained.
func TestCLIExplainEveryField(t *testing.T) {
	res := cliExec(t.Context(), "", "explain", "--recursive")
	if res.code != 0 {
		t.Fatal(res)
	}
	var stack []string
	for _, line := range strings.Split(res.stdout, "\n") {
		name, rest, ok := strings.Cut(strings.TrimLeft(line, " "), " ")
		if !ok || !strings.Contains(rest, "<") || !strings.HasPrefix(line, "  ") {
			continue
		}
		depth := (len(line)-len(strings.TrimLeft(line, " ")))/2 - 1
		stack = append(stack[:depth], name)
		path := strings.Join(stack, ".")
		if r := cliExec(t.Context(), "", "explain", path); r.code != 0 || !strings.Contains(r.stdout, "FIELD:        "+path+" <") {
			t.Errorf("explain %s: %v", path, r)
		}
	}
	if len(stack) == 0 {
		t.Fatalf("explain --recursive lists nothing: %v", res)
	}
}
