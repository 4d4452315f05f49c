package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// signal goes through the daemon (its control socket), reaches the one
// instance, and is recorded in the events; logs shows what it printed.
func TestCLISignalHUP(t *testing.T) {
	d := cliStart(t)
	d.write(t, "trap", cliManifest(`["sh", "-c", "trap 'echo got HUP' HUP; echo up $RECONCILED_INSTANCE; while :; do sleep 0.1; done"]`, "replicas: 2"))
	st := d.waitReady(t, "trap", 2)
	pids := cliPids(st)
	logs := filepath.Join(d.dir, reconciler.StateDirName, "logs")
	waitfor.Condition(t, cliTimeout, func() bool {
		for _, n := range []string{"trap-0", "trap-1"} {
			if b, _ := os.ReadFile(filepath.Join(logs, n+".stdout.log")); !strings.Contains(string(b), "up ") {
				return false
			}
		}
		return true
	}, "both instances to print")

	res := d.cli(t, "signal", "trap-1", "SIGHUP")
	if res.code != 0 || res.stdout != "sent HUP to trap-1\n" {
		t.Fatalf("signal: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool {
		b, _ := os.ReadFile(filepath.Join(logs, "trap-1.stdout.log"))
		return strings.Contains(string(b), "got HUP")
	}, "trap-1 to print got HUP")
	var signalled []string
	waitfor.Condition(t, cliTimeout, func() bool {
		evs, err := status.ReadEvents(d.dir, "trap")
		if err != nil {
			t.Fatal(err)
		}
		signalled = nil
		for _, ev := range evs {
			if ev.Reason == "Signalled" {
				signalled = append(signalled, ev.Instance+": "+ev.Message)
			}
		}
		return len(signalled) > 0
	}, "a Signalled event")
	if len(signalled) != 1 || signalled[0] != "trap-1: sent HUP" {
		t.Errorf("Signalled events: %q", signalled)
	}
	if b, _ := os.ReadFile(filepath.Join(logs, "trap-0.stdout.log")); strings.Contains(string(b), "got HUP") {
		t.Errorf("trap-0 got the signal too")
	}

	// logs: one instance plain, every instance prefixed.
	res = d.cli(t, "logs", "trap-1")
	if res.code != 0 || res.stdout != "up 1\ngot HUP\n" {
		t.Errorf("logs trap-1: %v", res)
	}
	res = d.cli(t, "logs", "trap")
	if res.code != 0 || res.stdout != "trap-0 | up 0\ntrap-1 | up 1\ntrap-1 | got HUP\n" {
		t.Errorf("logs trap: %v", res)
	}

	// Every instance, by number; the instances keep running (HUP is trapped).
	if res := d.cli(t, "signal", "trap", "1"); res.code != 0 || res.stdout != "sent HUP to every instance of trap\n" {
		t.Errorf("signal all: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool {
		b, _ := os.ReadFile(filepath.Join(logs, "trap-0.stdout.log"))
		return strings.Contains(string(b), "got HUP")
	}, "trap-0 to print got HUP")
	if st, _ := d.status("trap"); cliPids(st)[0] != pids[0] || cliPids(st)[1] != pids[1] {
		t.Errorf("instances restarted: %v -> %v", pids, cliPids(st))
	}

	if res := d.cli(t, "signal", "nosuch", "HUP"); res.code != 1 || !strings.Contains(res.stderr, "nosuch: no such program") {
		t.Errorf("signal of an unknown program: %v", res)
	}
}

func TestCLISignalNoDaemon(t *testing.T) {
	res := cliExec(context.Background(), "", "--dir", t.TempDir(), "signal", "web", "HUP")
	if res.code != 1 || !strings.Contains(res.stderr, "no daemon is listening") {
		t.Errorf("signal with no daemon: %v", res)
	}
}
