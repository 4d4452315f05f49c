package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// `reconciled version` and `--version` say the same three lines.
func TestVersion(t *testing.T) {
	want := regexp.MustCompile(`^reconciled \S+\ncommit: \S+.*\ngo: go\S+ ` + runtime.GOOS + "/" + runtime.GOARCH + "\n$")
	v := cmdRun(t, "version")
	if v.code != 0 || !want.MatchString(v.stdout) {
		t.Errorf("reconciled version: %+v", v)
	}
	if !strings.Contains(v.stdout, "go: "+runtime.Version()) {
		t.Errorf("reconciled version does not name %s: %q", runtime.Version(), v.stdout)
	}
	if f := cmdRun(t, "--version"); f.code != 0 || f.stdout != v.stdout {
		t.Errorf("reconciled --version: %+v, want %q", f, v.stdout)
	}
}

// `reconciled man DIR` writes a page per command, dated by SOURCE_DATE_EPOCH.
func TestMan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	t.Setenv("SOURCE_DATE_EPOCH", "1796119200")
	if res := cmdRun(t, "man", dir); res.code != 0 {
		t.Fatalf("reconciled man: %+v", res)
	}
	for _, page := range []string{"reconciled.1", "reconciled-run.1", "reconciled-status.1", "reconciled-version.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), ".nh\n.TH \"RECONCILED\" \"1\" \"Dec 2026\"") {
			t.Errorf("%s starts %q", page, string(b)[:min(len(b), 60)])
		}
	}
	run, _ := os.ReadFile(filepath.Join(dir, "reconciled-run.1"))
	if !strings.Contains(string(run), "--http") {
		t.Error("reconciled-run.1 does not document --http")
	}
	if res := cmdRun(t, "man"); res.code != 2 {
		t.Errorf("reconciled man without DIR: exit %d, want 2", res.code)
	}
}
