package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

func TestCLIApplyInvalidRefused(t *testing.T) {
	d := cliStart(t)
	in := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(in, []byte("spec:\n  command: [sleep, \"1\"]\n  replicas: -1\n  colour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := d.cli(t, "apply", "-f", in)
	if res.code != 1 {
		t.Fatalf("apply of an invalid manifest: %v", res)
	}
	for _, want := range []string{
		in + ":3:3: spec.replicas: must be between 0 and 10000",
		in + ":4:3: spec.colour: unknown field",
		"nothing was written",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if entries, _ := os.ReadDir(d.dir); len(entries) != 1 { // .reconciled only
		t.Errorf("something was written: %v", entries)
	}
	// From standard input, with no name anywhere: refused as a usage error.
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	res = cliExec(ctx, "spec: {command: x}\n", "--dir", d.dir, "apply", "-f", "-")
	if res.code != 2 || !strings.Contains(res.stderr, "--name") { // a usage error
		t.Errorf("apply - without a name: %v", res)
	}
}

func TestCLIApplyDeleteWait(t *testing.T) {
	d := cliStart(t)
	manifest := cliManifest(`[sleep, "1000"]`, "replicas: 2")
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	res := cliExec(ctx, manifest, "--dir", d.dir, "apply", "-f", "-", "--name", "svc", "--wait")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "svc created\n") || !strings.HasSuffix(res.stdout, "svc: 2/2 ready\n") {
		t.Fatalf("apply --wait: %v", res)
	}
	path := filepath.Join(d.dir, "svc.yaml")
	if data, _ := os.ReadFile(path); string(data) != manifest {
		t.Errorf("placed manifest differs:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	st, _ := d.status("svc")
	pids := cliPids(st)

	// Applying the same again changes nothing.
	res = cliExec(ctx, manifest, "--dir", d.dir, "apply", "-f", "-", "--name", "svc")
	if res.code != 0 || res.stdout != "svc unchanged\n" {
		t.Errorf("apply again: %v", res)
	}
	// A file whose metadata.name names it, over an existing file whose mode
	// is kept.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "anything.yaml")
	changed := "metadata: {name: svc}\n" + strings.Replace(manifest, "replicas: 2", "replicas: 1", 1)
	if err := os.WriteFile(in, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	res = d.cli(t, "apply", "-f", in, "--wait")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "svc configured\n") || !strings.HasSuffix(res.stdout, "svc: 1/1 ready\n") {
		t.Errorf("apply a change: %v", res)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after apply %v, want 0600 kept", fi.Mode())
	}

	res = d.cli(t, "delete", "svc", "--wait")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "svc deleted\n") || !strings.HasSuffix(res.stdout, "svc: deleted\n") {
		t.Fatalf("delete --wait: %v", res)
	}
	if _, err := os.Stat(status.StatusPath(d.dir, "svc")); !os.IsNotExist(err) {
		t.Errorf("status file after delete --wait: %v", err)
	}
	for _, pid := range pids {
		if cliAlive(pid) {
			t.Errorf("pid %d alive after delete --wait", pid)
		}
	}
	if res := d.cli(t, "delete", "svc"); res.code != 1 || !strings.Contains(res.stderr, "no manifest named svc") {
		t.Errorf("delete of a missing manifest: %v", res)
	}
	if res := d.cli(t, "delete", "svc", "--ignore-not-found"); res.code != 0 {
		t.Errorf("delete --ignore-not-found: %v", res)
	}
}

// --wait fails with the reason when an instance goes FATAL.
func TestCLIWaitFatal(t *testing.T) {
	d := cliStart(t)
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	// FATAL is noticed when it happens: at the timeout, --wait would say
	// "timed out" instead.
	res := cliExec(ctx, cliManifest("[/bin/false]", "startRetries: 1"), "--dir", d.dir, "apply", "-f", "-", "--name", "doomed", "--wait", "--timeout", "20s")
	if res.code != 1 || !strings.Contains(res.stderr, "doomed: doomed-0 is FATAL: ") {
		t.Fatalf("apply --wait of a failing program: %v", res)
	}
	// wait --for ready says the same.
	res = d.cli(t, "wait", "doomed", "--for", "ready")
	if res.code != 1 || !strings.Contains(res.stderr, "is FATAL") {
		t.Errorf("wait --for ready: %v", res)
	}
	// restart clears FATAL and fails again the same way.
	res = d.cli(t, "restart", "doomed", "--wait")
	if res.code != 1 || !strings.Contains(res.stderr, "is FATAL") {
		t.Errorf("restart --wait: %v", res)
	}
}

func TestCLIWaitTimeout(t *testing.T) {
	d := cliStart(t)
	// Never ready: startSeconds far away.
	d.write(t, "slow", "spec:\n  command: [sleep, \"1000\"]\n  startSeconds: 1h\n  stopTimeout: 1s\n")
	waitfor.Condition(t, cliTimeout, func() bool {
		st, ok := d.status("slow")
		return ok && len(st.Status.Instances) == 1 && st.Status.Instances[0].State == "STARTING"
	}, "slow to be STARTING")
	res := d.cli(t, "wait", "slow", "--for", "ready", "--timeout", "300ms")
	if res.code != 1 || !strings.Contains(res.stderr, "timed out after 300ms waiting for slow (0/1 ready)") {
		t.Errorf("wait --for ready: %v", res)
	}
	if res := d.cli(t, "wait", "slow", "--for", "deleted", "--timeout", "100ms"); res.code != 1 {
		t.Errorf("wait --for deleted of a live program: %v", res)
	}
	// stopped and deleted, for scripts.
	if res := d.cli(t, "stop", "slow"); res.code != 0 {
		t.Fatal(res)
	}
	if res := d.cli(t, "wait", "slow", "--for", "stopped"); res.code != 0 || !strings.HasSuffix(res.stdout, "slow: stopped\n") {
		t.Errorf("wait --for stopped: %v", res)
	}
	if err := os.Remove(filepath.Join(d.dir, "slow.yaml")); err != nil {
		t.Fatal(err)
	}
	if res := d.cli(t, "wait", "slow", "--for", "deleted"); res.code != 0 {
		t.Errorf("wait --for deleted: %v", res)
	}
}
