package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIExportRunsCompanion: `reconciled export` runs reconciled-export
// from PATH in its place, with every argument (flags before the verb too)
// and the environment; its output and exit code are the command's. The
// real reconciled-export is tested in cmd/reconciled-export.
func TestCLIExportRunsCompanion(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\"\nexit 3\n"
	if err := os.WriteFile(filepath.Join(bin, exportBinary), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	res := cmdRun(t, "--dir", "examples", "export", "nomad", "-l", "tier in (backend)", "--check")
	if want := "--dir\nexamples\nnomad\n-l\ntier in (backend)\n--check\n"; res.code != 3 || res.stdout != want {
		t.Errorf("reconciled export through a companion that prints its arguments and exits 3: %v\nwant stdout %q", res, want)
	}
}

// TestCLIExportWithoutCompanion names the missing binary and how to get it.
func TestCLIExportWithoutCompanion(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	res := cmdRun(t, "export", "nomad", "--all")
	if res.code != 1 || !strings.Contains(res.stderr, "reconciled-export is not installed") ||
		!strings.Contains(res.stderr, "go install github.com/reconciled/reconciled/cmd/reconciled-export@latest") {
		t.Errorf("export without reconciled-export: %v", res)
	}
}
