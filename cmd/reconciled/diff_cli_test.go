package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const diffStored = `# the web server
spec:
  command: ["python3", "-m", "http.server", "8080"]
  replicas: 2
  env: {MODE: prod}
  restartPolicy: Always
`

// diff and apply --dry-run against a directory that holds web.yaml: every
// consequence, and kubectl diff's exit codes. Nothing is ever written.
func TestCLIDiff(t *testing.T) {
	dir := t.TempDir()
	stored := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(stored, []byte(diffStored), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("spec:\n  command: x\n  replicas: lots\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) string { return strings.Replace(diffStored, old, new, 1) }
	cases := []struct {
		name  string
		input string // for web, on stdin
		args  []string
		code  int
	}{
		{"no change", diffStored, nil, 0},
		{"comments only", edit("# the web server", "# the web server, on 8080"), nil, 1},
		{"scale", edit("replicas: 2", "replicas: 5"), nil, 1},
		{"scale and rollout", edit("replicas: 2\n  env: {MODE: prod}", "replicas: 1\n  env: {MODE: test}"), nil, 1},
		{"no restart", edit("restartPolicy: Always", "restartPolicy: OnFailure\n  stopTimeout: 30s"), nil, 1},
		{"stop", edit("replicas: 2", "replicas: 2\n  desired: stopped"), nil, 1},
		{"restart annotation", "metadata:\n  annotations: {reconciled.dev/restartedAt: \"2026-11-22T10:00:00Z\"}\n" + diffStored, nil, 1},
		{"recreate", edit("replicas: 2", "replicas: 2\n  updateStrategy: {type: Recreate}\n  workingDir: /srv"), nil, 1},
		{"invalid", edit("replicas: 2", "replicas: -2"), nil, 2},
		{"dry-run valid", edit("replicas: 2", "replicas: 3"), []string{"apply", "--dry-run"}, 0},
		{"dry-run unchanged", diffStored, []string{"apply", "--dry-run"}, 0},
		{"dry-run invalid", edit("replicas: 2", "replicas: -2"), []string{"apply", "--dry-run"}, 1},
		{"shell operator warning", edit(`["python3", "-m", "http.server", "8080"]`, "python3 -m http.server 8080 > log"), nil, 1},
	}
	var got strings.Builder
	for _, c := range cases {
		verb := []string{"diff"}
		if c.args != nil {
			verb = c.args
		}
		args := append([]string{"--dir", dir}, verb...)
		args = append(args, "-f", "-", "--name", "web")
		res := cliExec(t.Context(), c.input, args...)
		if res.code != c.code {
			t.Errorf("%s: want exit %d: %v", c.name, c.code, res)
		}
		fmt.Fprintf(&got, "== %s: %s (exit %d)\n%s%s", c.name, strings.Join(verb, " "), res.code, res.stdout, res.stderr)
	}
	// A new program, a stored manifest that is invalid, a stopped one started:
	// three files at once.
	newFile := filepath.Join(t.TempDir(), "api.yaml")
	if err := os.WriteFile(newFile, []byte("spec:\n  command: ./api\n  replicas: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fixed := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(fixed, []byte("spec:\n  command: x\n  replicas: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "idle.yaml"), []byte("spec:\n  command: x\n  replicas: 2\n  desired: stopped\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	started := filepath.Join(filepath.Dir(fixed), "idle.yaml")
	if err := os.WriteFile(started, []byte("spec:\n  command: x\n  replicas: 2\n  desired: running\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := cliExec(t.Context(), "", "--dir", dir, "diff", "-f", newFile, "-f", fixed, "-f", started)
	if res.code != 1 {
		t.Errorf("new and fixed: want exit 1: %v", res)
	}
	fmt.Fprintf(&got, "== new and fixed (exit %d)\n%s%s", res.code, res.stdout, res.stderr)
	out := strings.NewReplacer(dir, "DIR", filepath.Dir(newFile), "NEW", filepath.Dir(fixed), "FIXED").Replace(got.String())
	cliGolden(t, "diff.golden", out)

	if data, _ := os.ReadFile(stored); string(data) != diffStored {
		t.Errorf("diff or a dry run wrote web.yaml:\n%s", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "api.yaml")); err == nil {
		t.Errorf("diff created api.yaml")
	}
	for _, args := range [][]string{
		{"diff"},
		{"diff", "-f", "-"},
		{"apply", "-f", "-"},
		{"apply", "--dry-run", "-f", "-"},
		{"apply", "--dry-run", "--wait", "-f", stored},
		{"diff", "extra", "-f", stored},
	} {
		res := cliExec(t.Context(), "spec:\n  command: x\n", append([]string{"--dir", dir}, args...)...)
		if res.code != 2 || res.stderr == "" {
			t.Errorf("%v: want exit 2 (usage) with a message: %v", args, res)
		}
	}
}
