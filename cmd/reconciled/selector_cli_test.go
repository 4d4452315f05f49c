package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// cliLabelled is a test manifest with labels.
func cliLabelled(labels string, extra ...string) string {
	return "metadata:\n  labels: {" + labels + "}\n" + cliManifest(`["sh", "-c", "trap 'echo got HUP' HUP; echo up; while :; do sleep 0.1; done"]`, extra...)
}

// Kubernetes selector syntax picks manifests by their labels, an invalid
// manifest's included; nothing matched is an empty list.
func TestSelectManifests(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"pay-api":    cliLabelled("team: payments, tier: front, env: prod"),
		"pay-batch":  cliLabelled("team: payments, tier: batch, env: stage"),
		"search":     cliLabelled("team: search, tier: front, env: prod, canary: \"true\""),
		"plain":      cliManifest("[sleep, '1']"),
		"broken":     "metadata:\n  labels: {team: payments}\nspec:\n  command: x\n  replicas: many\n",
		".hidden":    cliLabelled("team: payments"),
		"notes.txt~": cliLabelled("team: payments"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := &globalOptions{dir: dir}
	for sel, want := range map[string][]string{
		"team=payments":             {"broken", "pay-api", "pay-batch"},
		"team=payments,tier!=batch": {"broken", "pay-api"},
		"env in (prod,stage)":       {"pay-api", "pay-batch", "search"},
		"env notin (prod),team":     {"broken", "pay-batch"}, // notin matches a missing label
		"!canary,tier=front":        {"pay-api"},
		"canary":                    {"search"},
		"team=nobody":               nil,
		"tier":                      {"pay-api", "pay-batch", "search"},
	} {
		s, err := labels.Parse(sel)
		if err != nil {
			t.Fatal(err)
		}
		got, err := selectManifests(g.manifests(), s)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%q: %v %v, want %v", sel, got, err, want)
		}
	}

	// Through the command line: nothing matched is exit 1 with a message;
	// a bad selector, or names with -l or --all, exit 2.
	run := func(args ...string) cliResult {
		return cliExec(t.Context(), "", append([]string{"--dir", dir}, args...)...)
	}
	if res := run("status", "-l", "team=nobody"); res.code != 1 || !strings.Contains(res.stderr, `no program in `+dir+` matches the selector "team=nobody"`) {
		t.Errorf("status -l matching nothing: %v", res)
	}
	for _, args := range [][]string{
		{"status", "-l", "team==="},
		{"stop", "web", "-l", "team=x"},
		{"stop", "--all", "-l", "team=x"},
		{"describe", "web", "--all"},
		{"signal", "web", "-l", "team=x", "HUP"},
		{"scale", "-l", "team=x"},
		{"restart", "-l", "team=x", "--force"},
	} {
		if res := run(args...); res.code != 2 || res.stderr == "" {
			t.Errorf("%v: want exit 2 with a message: %v", args, res)
		}
	}
}

// Every verb that takes program names takes -l and --all; status -l
// filters.
func TestCLISelectorEveryVerb(t *testing.T) {
	d := cliStart(t)
	d.write(t, "pay-api", cliLabelled("team: payments, tier: front"))
	d.write(t, "pay-batch", cliLabelled("team: payments, tier: batch"))
	d.write(t, "search", cliLabelled("team: search, tier: front"))
	for _, n := range []string{"pay-api", "pay-batch", "search"} {
		d.waitReady(t, n, 1)
	}
	rows := func(res cliResult) []string {
		var names []string
		for _, l := range strings.Split(res.stdout, "\n")[1:] {
			if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(l, " ") {
				names = append(names, f[0])
			}
		}
		return names
	}

	// status: -l filters, --all is everything.
	if res := d.cli(t, "status", "-l", "team=payments"); res.code != 0 || !slices.Equal(rows(res), []string{"pay-api", "pay-batch"}) {
		t.Errorf("status -l team=payments: %v", res)
	}
	if res := d.cli(t, "status", "--all"); res.code != 0 || len(rows(res)) != 3 {
		t.Errorf("status --all: %v", res)
	}
	// describe, events, logs, wait.
	if res := d.cli(t, "describe", "-l", "tier=front"); res.code != 0 || strings.Count(res.stdout, "\nManifest:") != 2 ||
		!strings.Contains(res.stdout, "/pay-api.yaml\n") || !strings.Contains(res.stdout, "/search.yaml\n") {
		t.Errorf("describe -l tier=front: %v", res)
	}
	if res := d.cli(t, "events", "-l", "tier=batch"); res.code != 0 || !strings.Contains(res.stdout, "pay-batch-0") ||
		strings.Contains(res.stdout, "pay-api") || strings.Contains(res.stdout, "search") {
		t.Errorf("events -l tier=batch: %v", res)
	}
	logs := filepath.Join(d.dir, reconciler.StateDirName, "logs")
	waitfor.Condition(t, cliTimeout, func() bool {
		for _, n := range []string{"pay-api-0", "pay-batch-0", "search-0"} {
			if b, _ := os.ReadFile(filepath.Join(logs, n+".stdout.log")); !strings.Contains(string(b), "up") {
				return false
			}
		}
		return true
	}, "every instance to print")
	if res := d.cli(t, "logs", "-l", "team=payments"); res.code != 0 || res.stdout != "pay-api-0 | up\npay-batch-0 | up\n" {
		t.Errorf("logs -l team=payments: %v", res)
	}
	if res := d.cli(t, "logs", "--all"); res.code != 0 || res.stdout != "pay-api-0 | up\npay-batch-0 | up\nsearch-0 | up\n" {
		t.Errorf("logs --all: %v", res)
	}
	if res := d.cli(t, "wait", "-l", "team=payments", "--for", "ready"); res.code != 0 || !strings.Contains(res.stdout, "pay-batch: 1/1 ready") {
		t.Errorf("wait -l: %v", res)
	}
	// signal.
	if res := d.cli(t, "signal", "-l", "tier=front", "HUP"); res.code != 0 ||
		res.stdout != "sent HUP to every instance of pay-api\nsent HUP to every instance of search\n" {
		t.Errorf("signal -l tier=front: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool {
		b, _ := os.ReadFile(filepath.Join(logs, "search-0.stdout.log"))
		return strings.Contains(string(b), "got HUP")
	}, "search-0 to get HUP")
	// Changing verbs: scale, stop, start, restart, delete.
	if res := d.cli(t, "scale", "-l", "tier=batch", "2", "--wait"); res.code != 0 || !strings.HasSuffix(res.stdout, "pay-batch: 2/2 ready\n") {
		t.Errorf("scale -l: %v", res)
	}
	if res := d.cli(t, "stop", "-l", "team=payments", "--wait"); res.code != 0 ||
		!strings.Contains(res.stdout, "pay-api: stopped\n") || !strings.Contains(res.stdout, "pay-batch: stopped\n") {
		t.Errorf("stop -l: %v", res)
	}
	if st, _ := d.status("search"); st.Status.ReadyReplicas != 1 {
		t.Errorf("stop -l team=payments stopped search: %+v", st.Status)
	}
	if res := d.cli(t, "start", "-l", "team=payments", "--wait"); res.code != 0 || !strings.HasSuffix(res.stdout, "pay-batch: started\n") {
		t.Errorf("start -l: %v", res)
	}
	before := cliPids(d.waitReady(t, "search", 1))
	if res := d.cli(t, "restart", "-l", "team=search", "--wait"); res.code != 0 || !strings.HasPrefix(res.stdout, "search restarting\n") {
		t.Errorf("restart -l: %v", res)
	}
	if after := cliPids(d.waitReady(t, "search", 1)); after[0] == before[0] {
		t.Errorf("restart -l did not replace search-0 (pid %d)", after[0])
	}
	if res := d.cli(t, "delete", "-l", "tier=batch", "--wait"); res.code != 0 || !strings.Contains(res.stdout, "pay-batch deleted") {
		t.Errorf("delete -l: %v", res)
	}
	if _, err := os.Stat(status.StatusPath(d.dir, "pay-batch")); !os.IsNotExist(err) {
		t.Errorf("pay-batch status after delete --wait: %v", err)
	}
	// Nothing matched: exit 1 with a message, on every verb.
	for _, args := range [][]string{
		{"status", "-l", "team=nobody"}, {"describe", "-l", "team=nobody"}, {"events", "-l", "team=nobody"},
		{"logs", "-l", "team=nobody"}, {"start", "-l", "team=nobody"}, {"stop", "-l", "team=nobody"},
		{"restart", "-l", "team=nobody"}, {"scale", "-l", "team=nobody", "2"}, {"signal", "-l", "team=nobody", "HUP"},
		{"delete", "-l", "team=nobody"}, {"wait", "-l", "team=nobody"},
	} {
		if res := d.cli(t, args...); res.code != 1 || !strings.Contains(res.stderr, `matches the selector "team=nobody"`) {
			t.Errorf("%v: %v", args, res)
		}
	}
}
