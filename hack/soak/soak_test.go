package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShortSoak runs a soak of a few seconds on 10 programs, so that the
// whole suite exercises the soak and the daemon under it. The orphan grace
// is widened so that a loaded machine stays within the 10s bound.
func TestShortSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: skipped with -short")
	}
	for _, tool := range []string{"go", "sh", "setsid", "sleep", "cp", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("soak needs %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "reconciled")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/reconciled").CombinedOutput(); err != nil {
		t.Fatalf("build reconciled: %v\n%s", err, out)
	}
	var log bytes.Buffer
	line, violations, err := run(ctx, options{
		bin: bin, programs: 10, duration: 12 * time.Second, interval: 100 * time.Millisecond,
		grace: 8 * time.Second, converge: 10 * time.Second, seed: uint64(time.Now().UnixNano()), log: &log,
	})
	if err != nil {
		t.Fatalf("soak: %v\n%s", err, log.String())
	}
	t.Log(line)
	if violations != 0 || !strings.Contains(line, "violations=0") {
		t.Fatalf("soak found %d violations:\n%s", violations, log.String())
	}
}
