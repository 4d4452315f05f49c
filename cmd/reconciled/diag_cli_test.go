package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every verb writes its own diagnostics on standard error in one style:
// each line starts with "reconciled: ".
func TestDiagnosticsPrefix(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "web")
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte("spec: {command: [sleep, '1']}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	ctx := context.Background()
	for _, args := range [][]string{
		{"status", "nosuch"},
		{"status", "web"}, // no daemon holds the directory: a notice
		{"describe", "nosuch"},
		{"delete", "nosuch"},
		{"scale", "nosuch", "2"},
		{"stop", "nosuch"},
		{"restart", "nosuch"},
		{"events", "nosuch"},
		{"logs", "web-3"},
		{"logs", "web-0"},
		{"apply", "-f", missing},
		{"diff", "-f", missing},
		{"validate", filepath.Join(dir, "web.status.yaml")},
		{"signal", "web", "TERM"},
		{"wait", "nosuch", "--timeout", "1ms"},
		{"status", "--bogus"},
		{"bogus"},
	} {
		res := cliExec(ctx, "", append(args, "--dir", dir)...)
		if res.stderr == "" {
			t.Errorf("%q: no diagnostic (%v)", args, res)
			continue
		}
		for _, line := range strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n") {
			if line == "" || line == "Did you mean this?" || strings.HasPrefix(line, "\t") {
				continue // cobra's suggestions, after its unknown command
			}
			if !strings.HasPrefix(line, diagPrefix) {
				t.Errorf("%q: stderr line %q does not start with %q", args, line, diagPrefix)
			}
		}
	}
}
