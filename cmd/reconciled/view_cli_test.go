package main

// Golden files for the tables, with a fixed clock. Regenerate them with
// RECONCILED_UPDATE_GOLDEN=1 go test ./cmd/reconciled -run CLIGolden.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
	"github.com/reconciled/reconciled/usage"
)

var cliNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func cliGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("RECONCILED_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (RECONCILED_UPDATE_GOLDEN=1 writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func cliAgo(d time.Duration) *time.Time {
	t := cliNow.Add(-d)
	return &t
}

// cliStatuses is a directory's worth of statuses in every phase.
func cliStatuses(hash string) []status.ProgramStatus {
	cond := func(typ, st, reason, msg string, ago time.Duration) status.Condition {
		return status.Condition{Type: typ, Status: st, Reason: reason, Message: msg, LastTransitionTime: *cliAgo(ago)}
	}
	return []status.ProgramStatus{
		{Metadata: status.Metadata{Name: "web"}, Status: status.Status{
			SpecHash: hash, Desired: "running", Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2, Phase: "Running",
			Conditions: []status.Condition{
				cond("SpecValid", "True", "Valid", "", 50*time.Hour),
				cond("Available", "True", "MinimumReplicasReady", "2/2 ready", 3*time.Hour),
				cond("Progressing", "False", "Complete", "", 3*time.Hour),
			},
			Instances: []status.Instance{
				{Name: "web-0", Index: 0, State: "RUNNING", Ready: true, Pid: 4100, StartedAt: cliAgo(3*time.Hour + 5*time.Minute), SpecHash: hash},
				{Name: "web-1", Index: 1, State: "RUNNING", Ready: true, Pid: 4101, StartedAt: cliAgo(95 * time.Second), Restarts: 2, SpecHash: hash,
					LastExit: &status.Exit{Code: 0, Signal: "KILL", At: *cliAgo(96 * time.Second), RanFor: status.Duration(3 * time.Hour)}},
			},
			UpdatedAt: *cliAgo(95 * time.Second),
		}},
		{Metadata: status.Metadata{Name: "worker"}, Status: status.Status{
			SpecHash: "sha256:0123456789abcdef", Desired: "running", Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 2, Phase: "Degraded",
			Conditions: []status.Condition{
				cond("SpecValid", "False", "Invalid", "worker.yaml:7:3: spec.replicas: must be between 0 and 10000\nworker.yaml:9:3: spec.colour: unknown field", 10*time.Second),
			},
			Instances: []status.Instance{
				{Name: "worker-0", Index: 0, State: "RUNNING", Ready: true, Pid: 4200, StartedAt: cliAgo(12 * time.Minute), SpecHash: "sha256:0123456789abcdef"},
				{Name: "worker-1", Index: 1, State: "BACKOFF", Restarts: 7, SpecHash: "sha256:0123456789abcdef", Message: "exited too quickly (see logs)",
					LastExit:    &status.Exit{Code: 1, At: *cliAgo(2 * time.Second), RanFor: status.Duration(40 * time.Millisecond)},
					NextRetryAt: cliAgo(-3 * time.Second)},
			},
			UpdatedAt: *cliAgo(2 * time.Second),
		}},
		{Metadata: status.Metadata{Name: "api"}, Status: status.Status{
			SpecHash: "sha256:5555666677778888", Desired: "running", Replicas: 2, Phase: "Progressing",
			Conditions: []status.Condition{
				cond("SpecValid", "True", "Valid", "", time.Hour),
				cond("Progressing", "True", "WaitingForDependencies", "waiting for db: 1/2 ready", 30*time.Second),
			},
			Instances: []status.Instance{
				{Name: "api-0", Index: 0, State: "RUNNING", Ready: false, Pid: 4300, StartedAt: cliAgo(40 * time.Second), SpecHash: "sha256:5555666677778888",
					Message: "readiness probe failed: GET http://127.0.0.1:8080/healthz: HTTP status 503"},
				{Name: "api-1", Index: 1, State: "STOPPED", Message: "waiting for db: 1/2 ready"},
			},
			UpdatedAt: *cliAgo(time.Second),
		}},
		{Metadata: status.Metadata{Name: "batch"}, Status: status.Status{
			SpecHash: "sha256:fedcba9876543210", Desired: "stopped", Phase: "Stopped",
			Conditions: []status.Condition{cond("SpecValid", "True", "Valid", "", 4*24*time.Hour)},
			UpdatedAt:  *cliAgo(time.Hour),
		}},
	}
}

// cliUsage is a fixed usage of some running instances; the others have
// none to show.
func cliUsage(_ string, in status.Instance) (usage.Sample, bool) {
	switch in.Name {
	case "web-0":
		return usage.Sample{CPUSeconds: 192.4, MemoryBytes: 12<<20 + 512<<10, Source: usage.SourceCgroup}, true
	case "web-1":
		return usage.Sample{CPUSeconds: 1.23, MemoryBytes: 4096, Source: usage.SourceCgroupProc}, true
	case "worker-0":
		return usage.Sample{CPUSeconds: 0.04, MemoryBytes: 700, Source: usage.SourceProcessGroup}, true
	}
	return usage.Sample{}, false
}

func TestCLIGoldenStatusTable(t *testing.T) {
	var b bytes.Buffer
	printTable(&b, cliStatuses("sha256:aaaabbbbccccdddd"), false, cliNow, cliUsage, map[string]bool{"batch": true})
	b.WriteString("\n")
	printTable(&b, cliStatuses("sha256:aaaabbbbccccdddd"), true, cliNow, cliUsage, nil)
	b.WriteString("\n")
	printTable(&b, cliStatuses("sha256:aaaabbbbccccdddd")[:1], true, cliNow, nil, nil)
	cliGolden(t, "status.golden", b.String())
}

// describe of a program with a manifest, a status and events.
func TestCLIGoldenDescribe(t *testing.T) {
	dir := t.TempDir()
	manifest := `metadata:
  labels: {team: web, tier: front}
spec:
  command: ["python3", "-m", "http.server", "$(PORT)"]
  replicas: 2
  env: {PORT: "8000", SECRET_TOKEN: hunter2}
  stopSignal: INT
  readinessProbe: {httpGet: {path: /healthz, port: "$(PORT)"}, period: 2s}
  livenessProbe: {exec: {command: [sh, -c, "test -f /tmp/alive"]}, failureThreshold: 5}
  dependsOn: [{program: db, condition: Ready}, {program: migrate, condition: Completed}]
`
	path := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	p, errs := spec.Parse(path, []byte(manifest))
	if errs != nil {
		t.Fatal(errs)
	}
	st := cliStatuses(spec.Hash(p))[0]
	st.Status.Containment = "cgroup"
	if _, err := status.WriteFile(dir, st); err != nil {
		t.Fatal(err)
	}
	var evs []status.Event
	for i := range 12 {
		evs = append(evs, status.Event{Time: cliNow.Add(time.Duration(i-12) * time.Minute), Type: "Normal", Reason: "Started",
			Program: "web", Instance: "web-1", Pid: 4000 + i, Message: "started python3"})
	}
	evs[11] = status.Event{Time: cliNow.Add(-95 * time.Second), Type: "Warning", Reason: "Exited", Program: "web", Instance: "web-1", Message: "killed by signal KILL after 3h"}
	if err := status.AppendEvents(dir, "web", evs); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	g := &globalOptions{dir: dir}
	if !describe(&b, g, "web", cliNow, cliUsage) {
		t.Fatal("nothing described")
	}
	out := strings.ReplaceAll(b.String(), dir, "DIR")
	if strings.Contains(out, "hunter2") {
		t.Errorf("describe shows an env value")
	}
	cliGolden(t, "describe.golden", out)

	// A deleted program that still has a status; then nothing at all.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if !describe(&b, g, "web", cliNow, nil) || !strings.Contains(b.String(), "<none> (deleted)") {
		t.Errorf("describe of a deleted program:\n%s", b.String())
	}
	res := cliExec(context.Background(), "", "--dir", dir, "describe", "nosuch")
	if res.code != 1 || !strings.Contains(res.stderr, "nosuch: no manifest and no status") {
		t.Errorf("describe nosuch: %v", res)
	}
}

// describe of an invalid manifest keeps its columns aligned: the errors
// sit in the value column, and the fields after them align with those
// before.
func TestCLIDescribeInvalidAligned(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte("spec:\n  command: x\n  replicas: -1\n  colour: red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if !describe(&b, &globalOptions{dir: dir}, "web", cliNow, nil) {
		t.Fatal("nothing described")
	}
	col := -1
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing spaces: %q", line)
		}
		at := len(line) - len(strings.TrimLeft(line, " "))
		if key, _, ok := strings.Cut(line, ":  "); ok && !strings.HasPrefix(line, " ") {
			at = len(key) + 1 + len(line[len(key)+1:]) - len(strings.TrimLeft(line[len(key)+1:], " "))
		}
		if col < 0 {
			col = at
		}
		if at != col {
			t.Errorf("value at column %d, want %d: %q\n%s", at, col, line, b.String())
		}
	}
}

func TestCLIGoldenEvents(t *testing.T) {
	dir := t.TempDir()
	at := func(min int) time.Time { return cliNow.Add(time.Duration(min) * time.Minute) }
	if err := status.AppendEvents(dir, "web", []status.Event{
		{Time: at(-30), Type: "Normal", Reason: "Started", Program: "web", Instance: "web-0", Pid: 10, Message: "started nginx"},
		{Time: at(-5), Type: "Normal", Reason: "Scaled", Program: "web", Message: "replicas 1 -> 2"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := status.AppendEvents(dir, "worker", []status.Event{
		{Time: at(-20), Type: "Warning", Reason: "BackOff", Program: "worker", Instance: "worker-1", Message: "exited too quickly: retry in 200ms"},
		{Time: at(-1), Type: "Normal", Reason: "Signalled", Program: "worker", Instance: "worker-0", Pid: 11, Message: "sent HUP"},
	}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	ctx := context.Background()
	if err := followEvents(ctx, &b, dir, nil, time.Time{}, false, false, time.UTC); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	if err := followEvents(ctx, &b, dir, []string{"worker"}, at(-10), false, false, time.UTC); err != nil {
		t.Fatal(err)
	}
	cliGolden(t, "events.golden", b.String())

	b.Reset()
	if err := followEvents(ctx, &b, dir, []string{"web"}, time.Time{}, true, false, time.UTC); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	stored, _ := os.ReadFile(status.EventsPath(dir, "web"))
	if b.String() != string(stored) || len(lines) != 2 || !json.Valid([]byte(lines[0])) {
		t.Errorf("-o json does not pass the records through:\n%s\nstored:\n%s", b.String(), stored)
	}
}

// events -f prints what is appended, across a rotation, and for a program
// that appears later, until cancelled.
func TestCLIEventsFollow(t *testing.T) {
	dir := t.TempDir()
	if err := status.AppendEvents(dir, "web", []status.Event{{Time: cliNow, Type: "Normal", Reason: "Started", Program: "web", Message: "one"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &cliBuffer{}
	done := make(chan error, 1)
	go func() { done <- followEvents(ctx, out, dir, nil, time.Time{}, true, true, time.UTC) }()
	waitFor := func(s string) {
		t.Helper()
		waitfor.Condition(t, cliTimeout, func() bool { return strings.Contains(out.String(), s) }, "events -f to print %s", s)
	}
	waitFor(`"message":"one"`)
	if err := status.AppendEvents(dir, "web", []status.Event{{Time: cliNow, Type: "Normal", Reason: "Ready", Program: "web", Message: "two"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(`"message":"two"`)
	// Rotation: renamed away, a new file started.
	path := status.EventsPath(dir, "web")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := status.AppendEvents(dir, "web", []status.Event{{Time: cliNow, Type: "Normal", Reason: "Ready", Program: "web", Message: "three"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(`"message":"three"`)
	if err := status.AppendEvents(dir, "late", []status.Event{{Time: cliNow, Type: "Normal", Reason: "Started", Program: "late", Message: "four"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(`"message":"four"`)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("followEvents: %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 4 {
		t.Errorf("want 4 records once each:\n%s", out.String())
	}
}

// status --watch prints a new table when a status changes (not on a
// terminal: after a blank line), until cancelled.
func TestCLIStatusWatch(t *testing.T) {
	dir := t.TempDir()
	sts := cliStatuses("sha256:aaaabbbbccccdddd")
	if _, err := status.WriteFile(dir, sts[0]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &cliBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- watchStatus(ctx, out, out, &globalOptions{dir: dir}, []string{"web"}, false)
	}()
	waitfor.Condition(t, cliTimeout, func() bool { return strings.Contains(out.String(), "web-1") }, "the first table")
	if strings.Count(out.String(), "NAME ") != 1 {
		t.Errorf("redrawn with nothing changed:\n%s", out.String())
	}
	st := sts[0]
	st.Status.Instances[1].State = "STOPPING"
	if _, err := status.WriteFile(dir, st); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, cliTimeout, func() bool { return strings.Contains(out.String(), "STOPPING") }, "the second table")
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if got := out.String(); !strings.Contains(got, "\n\n") || strings.Count(got, "NAME ") != 2 {
		t.Errorf("output:\n%s", got)
	}
}
