package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIExportExamples exports the examples to every target: it works,
// names what is lost on standard error, and --check turns that into exit 1.
// exportResult is what one run of the command printed and how it exited.
type exportResult struct {
	stdout, stderr string
	code           int
}

func (r exportResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// exportRun runs `reconciled export args...` in-process, as main does.
func exportRun(t *testing.T, args ...string) exportResult {
	t.Helper()
	var out, errOut strings.Builder
	code := run(args, &out, &errOut)
	return exportResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

func TestCLIExportExamples(t *testing.T) {
	for _, target := range []string{"kubernetes", "nomad", "systemd"} {
		res := exportRun(t, "--dir", "../../examples", target, "--all")
		if res.code != 0 || res.stdout == "" {
			t.Fatalf("export %s --all: %v", target, res)
		}
		if !strings.Contains(res.stderr, "warning: web: spec.readinessProbe") {
			t.Errorf("export %s: the web probe is not warned about:\n%s", target, res.stderr)
		}
		res = exportRun(t, "--dir", "../../examples", target, "--all", "--check")
		if res.code != 1 || !strings.Contains(res.stderr, "warnings (--check)") {
			t.Errorf("export %s --check: %v", target, res)
		}
	}
	// A program that loses nothing passes --check.
	res := exportRun(t, "--dir", "../../examples", "kubernetes", "migrate", "--check")
	if res.code != 0 || res.stderr != "" || !strings.Contains(res.stdout, "kind: Job") {
		t.Errorf("export kubernetes migrate --check: %v", res)
	}
}

func TestCLIExportSelect(t *testing.T) {
	res := exportRun(t, "--dir", "../../examples", "nomad", "-l", "tier in (backend)")
	if res.code != 0 || !strings.Contains(res.stdout, `"ID": "worker"`) || strings.Contains(res.stdout, `"ID": "web"`) {
		t.Errorf("-l tier in (backend): %v", res)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nomad"}, 2, "name the programs"},
		{[]string{"nomad", "web", "--all"}, 2, "not several"},
		{[]string{"nomad", "-l", "tier in (("}, 2, "-l"},
		{[]string{"swarm", "--all"}, 2, "unknown target"},
		{[]string{"nomad", "-l", "tier=none"}, 1, "no program matches"},
		{[]string{"nomad", "nosuch"}, 1, "no manifest"},
		{[]string{"kubernetes", "web", "--kind", "daemonset"}, 1, "--kind"},
	} {
		res := exportRun(t, append([]string{"--dir", "../../examples"}, tc.args...)...)
		if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%v: want exit %d and %q: %v", tc.args, tc.code, tc.want, res)
		}
	}
}

// TestCLIExportInvalid refuses to export anything when a manifest of the
// selection is invalid.
func TestCLIExportInvalid(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"ok.yaml": "spec: {command: [sleep, '1']}\n", "bad.yaml": "spec: {replicas: -1}\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := exportRun(t, "--dir", dir, "systemd", "--all")
	if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, "bad.yaml:1:") {
		t.Errorf("export with an invalid manifest: %v", res)
	}
}

// TestCLIExportDir writes files with their modes, and points the units'
// EnvironmentFile= at the directory.
func TestCLIExportDir(t *testing.T) {
	out := filepath.Join(t.TempDir(), "units")
	res := exportRun(t, "--dir", "../../examples", "systemd", "worker", "-o", out)
	if res.code != 0 {
		t.Fatalf("export -o: %v", res)
	}
	modes := map[string]os.FileMode{"worker@.service": 0o644, "worker.target": 0o644, "worker.env": 0o600}
	for name, mode := range modes {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, want mode %o", name, err, mode)
		}
		if !strings.Contains(res.stdout, filepath.Join(out, name)+"\n") {
			t.Errorf("%s is not listed: %v", name, res)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(out, "worker@.service"))
	if !strings.Contains(string(unit), "EnvironmentFile="+filepath.Join(out, "worker.env")+"\n") {
		t.Errorf("EnvironmentFile= does not point into %s:\n%s", out, unit)
	}
}
