package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// commented is a manifest as an operator writes it: comments everywhere,
// quoting of every kind, blank lines, a flow mapping and a nested map last.
const commented = `# worker: the payment queue consumer.
# Owned by team payments; page them before editing.

apiVersion: reconciled.dev/v1   # optional
kind: Program

metadata:
  labels: {team: payments}   # used by dashboards
  # no annotations yet

spec:
  # argv, no shell
  command: ["python3", "-u", 'worker.py', --port, "$(PORT)"]

  replicas: 3        # three consumers, one per partition
  desired: running   # admin up

  restartPolicy: 'Always'
  stopSignal: "TERM"
  env:
    NODE_ENV: production   # keep
    PORT: "800$(RECONCILED_INSTANCE)"
    # trailing comment inside env

# end of file comment
`

// changedLines returns the lines of b that differ from a when both have the
// same number of lines, or the lines b has beyond a (inserted lines) when
// removing them gives a back exactly.
func changedLines(t *testing.T, a, b string) []string {
	t.Helper()
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) == len(lb) {
		var out []string
		for i := range la {
			if la[i] != lb[i] {
				out = append(out, la[i]+" => "+lb[i])
			}
		}
		return out
	}
	if len(lb) < len(la) {
		t.Fatalf("lines were removed:\n%s", b)
	}
	n := len(lb) - len(la)
	for i := 0; i+n <= len(lb); i++ {
		if strings.Join(lb[:i], "\n")+"\n"+strings.Join(lb[i+n:], "\n") == "\n"+a || strings.Join(append(append([]string{}, lb[:i]...), lb[i+n:]...), "\n") == a {
			return lb[i : i+n]
		}
	}
	t.Fatalf("the edit is not an insertion of %d consecutive lines:\n--- before\n%s\n--- after\n%s", n, a, b)
	return nil
}

func editParse(t *testing.T, data []byte) *Program {
	t.Helper()
	p, errs := Parse("worker.yaml", data)
	if errs != nil {
		t.Fatalf("edited manifest does not parse: %v\n%s", errs, data)
	}
	return p
}

func TestEditCommentsKept(t *testing.T) {
	before := editParse(t, []byte(commented))
	out, err := SetReplicas([]byte(commented), 5)
	if err != nil {
		t.Fatal(err)
	}
	got := changedLines(t, commented, string(out))
	want := []string{"  replicas: 3        # three consumers, one per partition => " +
		"  replicas: 5        # three consumers, one per partition"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changed lines:\n%q\nwant\n%q", got, want)
	}
	p := editParse(t, out)
	if p.Spec.Replicas != 5 || Hash(p) != Hash(before) {
		t.Errorf("replicas %d, hash changed %v", p.Spec.Replicas, Hash(p) != Hash(before))
	}

	out, err = SetDesired([]byte(commented), DesiredStopped)
	if err != nil {
		t.Fatal(err)
	}
	got = changedLines(t, commented, string(out))
	if len(got) != 1 || got[0] != "  desired: running   # admin up =>   desired: stopped   # admin up" {
		t.Errorf("changed lines %q", got)
	}
	if p := editParse(t, out); p.Spec.Desired != DesiredStopped {
		t.Errorf("desired %q", p.Spec.Desired)
	}
}

func TestEditUnchangedValue(t *testing.T) {
	out, err := SetReplicas([]byte(commented), 3)
	if err != nil || string(out) != commented {
		t.Errorf("setting the same value changed the file: %v\n%s", err, out)
	}
}

func TestEditQuotingStyleKept(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"spec:\n  command: x\n  desired: 'running'\n", "  desired: 'stopped'"},
		{"spec:\n  command: x\n  desired: \"running\"\n", "  desired: \"stopped\""},
		{"spec:\n  command: x\n  desired: running\n", "  desired: stopped"},
		{"spec:\n  command: x\n  desired: &d running\n", "  desired: &d stopped"},
		{"spec:\n  command: x\n  desired: !!str running # c\n", "  desired: !!str stopped # c"},
		{"spec:\n  command: x\n  desired:\n", "  desired: stopped"},
		{"spec:\n  command: x\n  desired: ~\n", "  desired: stopped"},
	} {
		out, err := SetDesired([]byte(tc.in), DesiredStopped)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if lines := strings.Split(string(out), "\n"); lines[2] != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, lines[2], tc.want)
		}
		editParse(t, out)
	}
}

func TestEditInsertAbsent(t *testing.T) {
	out, err := SetDesired([]byte(commented[:strings.Index(commented, "  desired:")]+commented[strings.Index(commented, "\n\n  restartPolicy")+1:]), DesiredStopped)
	if err != nil {
		t.Fatal(err)
	}
	// Inserted after the last line of spec's content (the env map), before
	// the comments that follow it.
	if !strings.Contains(string(out), "    PORT: \"800$(RECONCILED_INSTANCE)\"\n  desired: stopped\n    # trailing comment inside env\n") {
		t.Errorf("desired not inserted after the last key of spec:\n%s", out)
	}
	if p := editParse(t, out); p.Spec.Desired != DesiredStopped {
		t.Errorf("desired %q", p.Spec.Desired)
	}

	// Four-space indentation, no final newline.
	in := "spec:\n    command: x\n    env:\n        A: b"
	out, err = SetReplicas([]byte(in), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := in + "\n    replicas: 2\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}

	// A following top-level key bounds spec.
	in = "spec:\n  command: x\n  env:\n    A: b\n\n# about metadata\nmetadata:\n  name: worker\n"
	out, err = SetReplicas([]byte(in), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := "spec:\n  command: x\n  env:\n    A: b\n  replicas: 2\n\n# about metadata\nmetadata:\n  name: worker\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestEditAnnotation(t *testing.T) {
	const ts = "2026-11-22T10:00:00Z"
	for _, tc := range []struct{ name, in, want string }{
		{"no metadata", "# header\nspec:\n  command: x\n",
			"# header\nmetadata:\n  annotations:\n    reconciled.dev/restartedAt: \"" + ts + "\"\nspec:\n  command: x\n"},
		{"no metadata, four spaces", "spec:\n    command: x\n",
			"metadata:\n    annotations:\n        reconciled.dev/restartedAt: \"" + ts + "\"\nspec:\n    command: x\n"},
		{"metadata after kind", "kind: Program\n\n# the spec\nspec:\n  command: x\n",
			"kind: Program\nmetadata:\n  annotations:\n    reconciled.dev/restartedAt: \"" + ts + "\"\n\n# the spec\nspec:\n  command: x\n"},
		{"no annotations", "metadata:\n  name: worker\n  labels:\n    a: b\nspec:\n  command: x\n",
			"metadata:\n  name: worker\n  labels:\n    a: b\n  annotations:\n    reconciled.dev/restartedAt: \"" + ts + "\"\nspec:\n  command: x\n"},
		{"other annotation", "metadata:\n  annotations:\n    x: y\nspec:\n  command: x\n",
			"metadata:\n  annotations:\n    x: y\n    reconciled.dev/restartedAt: \"" + ts + "\"\nspec:\n  command: x\n"},
		{"replaced, single quotes", "metadata:\n  annotations:\n    reconciled.dev/restartedAt: '2020-01-01T00:00:00Z'  # last\nspec:\n  command: x\n",
			"metadata:\n  annotations:\n    reconciled.dev/restartedAt: '" + ts + "'  # last\nspec:\n  command: x\n"},
		{"flow annotations", "metadata: {annotations: {}}\nspec:\n  command: x\n",
			"metadata: {annotations: {reconciled.dev/restartedAt: \"" + ts + "\"}}\nspec:\n  command: x\n"},
		{"flow metadata", "metadata: {name: worker}\nspec:\n  command: x\n",
			"metadata: {name: worker, annotations: {reconciled.dev/restartedAt: \"" + ts + "\"}}\nspec:\n  command: x\n"},
	} {
		out, err := SetAnnotation([]byte(tc.in), RestartedAtAnnotation, ts)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(out) != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, out, tc.want)
		}
		if p, errs := Parse("worker.yaml", out); errs != nil || p.Metadata.Annotations[RestartedAtAnnotation] != ts {
			t.Errorf("%s: %v %v", tc.name, errs, p)
		}
	}
}

func TestEditFlowStyle(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"spec: {command: x}\n", "spec: {command: x, replicas: 4}\n"},
		{"spec: {command: x, replicas: 1}  # c\n", "spec: {command: x, replicas: 4}  # c\n"},
		{"spec: {command: x, }\n", "spec: {command: x, replicas: 4 }\n"},
		{"spec: {\n  command: x  # the command\n}\n", "spec: {\n  command: x, replicas: 4  # the command\n}\n"},
		{"spec: {command: \"a } b\", env: {A: '}'}}\n", "spec: {command: \"a } b\", env: {A: '}'}, replicas: 4}\n"},
		{"{spec: {command: x}}\n", "{spec: {command: x, replicas: 4}}\n"},
	} {
		out, err := SetReplicas([]byte(tc.in), 4)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if string(out) != tc.want {
			t.Errorf("got %q, want %q", out, tc.want)
		}
		if p := editParse(t, out); p.Spec.Replicas != 4 {
			t.Errorf("%q: replicas %d", tc.in, p.Spec.Replicas)
		}
	}
}

func TestEditCRLF(t *testing.T) {
	in := "spec:\r\n  command: x\r\n  replicas: 1\r\n"
	out, err := SetDesired([]byte(in), DesiredStopped)
	if err != nil {
		t.Fatal(err)
	}
	if want := in + "  desired: stopped\r\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	out, err = SetReplicas([]byte(in), 7)
	if err != nil || string(out) != "spec:\r\n  command: x\r\n  replicas: 7\r\n" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestEditMultibyte(t *testing.T) {
	in := "\ufeffspec: {command: \"é\", replicas: 1}  # ünïcode\n"
	out, err := SetReplicas([]byte(in), 2)
	if err != nil || string(out) != "\ufeffspec: {command: \"é\", replicas: 2}  # ünïcode\n" {
		t.Errorf("got %q, %v", out, err)
	}
}

func TestEditRefused(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"shared anchor", "spec:\n  command: x\n  replicas: &n 2\n  nice: *n\n"},
		{"merge key", "base: &b {replicas: 2}\nspec:\n  <<: *b\n  command: x\n"},
		{"block scalar", "spec:\n  command: x\n  desired: |\n    running\n"},
		{"not a mapping", "- a\n"},
		{"two documents", "spec: {command: x}\n---\nspec: {command: y}\n"},
		{"spec not a mapping", "spec: x\n"},
	} {
		var err error
		if tc.name == "block scalar" {
			_, err = SetDesired([]byte(tc.in), DesiredStopped)
		} else {
			_, err = SetReplicas([]byte(tc.in), 3)
		}
		if !errors.Is(err, ErrNotEditable) {
			t.Errorf("%s: %v, want ErrNotEditable", tc.name, err)
		}
	}
}

// Values that would read back as something else are quoted.
func TestEditQuotesWhenNeeded(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"yes", `"yes"`},
		{"123", `"123"`},
		{"a: b", `"a: b"`},
		{"x # y", `"x # y"`},
		{"plain", "plain"},
		{"", `""`},
	} {
		out, err := SetAnnotation([]byte("metadata:\n  annotations:\n    k: v\nspec:\n  command: x\n"), "k", tc.value)
		if err != nil {
			t.Errorf("%q: %v", tc.value, err)
			continue
		}
		if got := strings.Split(string(out), "\n")[2]; got != "    k: "+tc.want {
			t.Errorf("%q: got %q", tc.value, got)
		}
	}
}

// Every example manifest takes every edit, and stays valid with only that
// field changed.
func TestEditExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		if DaemonFile(filepath.Base(f)) {
			continue // a status file a daemon run on the examples left
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		before, errs := Parse(f, data)
		if errs != nil {
			continue // examples/broken.yaml
		}
		for _, edit := range []struct {
			name string
			do   func([]byte) ([]byte, error)
			ok   func(p *Program) bool
		}{
			{"replicas", func(b []byte) ([]byte, error) { return SetReplicas(b, 7) }, func(p *Program) bool { return p.Spec.Replicas == 7 }},
			{"desired", func(b []byte) ([]byte, error) { return SetDesired(b, DesiredStopped) }, func(p *Program) bool { return p.Spec.Desired == DesiredStopped }},
			{"restartedAt", func(b []byte) ([]byte, error) { return SetAnnotation(b, RestartedAtAnnotation, "2030-01-01T00:00:00Z") },
				func(p *Program) bool { return p.Metadata.Annotations[RestartedAtAnnotation] == "2030-01-01T00:00:00Z" }},
		} {
			out, err := edit.do(data)
			if err != nil {
				t.Errorf("%s: %s: %v", f, edit.name, err)
				continue
			}
			p, errs := Parse(f, out)
			if errs != nil || !edit.ok(p) {
				t.Errorf("%s: %s: %v\n%s", f, edit.name, errs, out)
				continue
			}
			if edit.name != "restartedAt" && Hash(p) != Hash(before) {
				t.Errorf("%s: %s changed the spec hash", f, edit.name)
			}
		}
	}
}
