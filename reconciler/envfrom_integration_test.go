package reconciler

// spec.envFrom with the real daemon: an edit of a .env file in the
// directory rolls the instances, one outside the directory is read at the
// next resync, and a missing file makes the spec invalid while the running
// instances stay; no value ever reaches the status or the events.

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// itEnvIs is "n instances ready, each with key=value in its environment".
func itEnvIs(n int, key, value string) func(status.ProgramStatus) bool {
	ready := itReady(n)
	return func(st status.ProgramStatus) bool {
		if !ready(st) {
			return false
		}
		for _, in := range st.Status.Instances {
			if v, ok := itEnvValue(in.Pid, key); !ok || v != value {
				return false
			}
		}
		return true
	}
}

func TestITEnvFrom(t *testing.T) {
	other := t.TempDir()
	d := itStart(t, itOpts{resync: 300 * time.Millisecond})
	name := d.name("envfrom")
	envPath, outside := filepath.Join(d.dir, ".env"), filepath.Join(other, "shared.env")
	writeEnv := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeEnv(envPath, "# the app's settings\nexport TOKEN='s3cr3t-one'\nMODE=one\n")
	writeEnv(outside, "SHARED=first\nMODE=shared\n")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2",
		"envFrom: [{file: "+outside+"}, {file: .env}]", "env: {OWN: \"$(MODE)-$(SHARED)\"}"))
	st := itWaitStatus(t, d.dir, name, "2 running with the files' variables", itOrFatal(t, itEnvIs(2, "TOKEN", "s3cr3t-one")))
	for _, in := range st.Status.Instances {
		if v, _ := itEnvValue(in.Pid, "OWN"); v != "one-first" {
			t.Errorf("%s: OWN=%q, want one-first (the later file wins, env refers to both)", in.Name, v)
		}
	}
	first := st.Status.SpecHash

	// An edit of .env in the directory rolls the instances.
	writeEnv(envPath, "TOKEN=s3cr3t-two\nMODE=two\n")
	st = itWaitStatus(t, d.dir, name, "instances with the new .env", itOrFatal(t, itEnvIs(2, "TOKEN", "s3cr3t-two")))
	if st.Status.SpecHash == first {
		t.Error("the spec hash did not change")
	}
	itWaitEvents(t, d.dir, name, "SpecChanged", itHasReason("SpecChanged", ""))

	// A file outside the directory is read at the next resync.
	writeEnv(outside, "SHARED=second\n")
	itWaitStatus(t, d.dir, name, "instances with the new shared.env", itOrFatal(t, itEnvIs(2, "SHARED", "second")))

	// A missing file: SpecInvalid, located; the instances keep running.
	st = itWaitStatus(t, d.dir, name, "2 settled", itReady(2))
	before := itPids(st)
	if err := os.Remove(envPath); err != nil {
		t.Fatal(err)
	}
	st = itWaitStatus(t, d.dir, name, "SpecValid False", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionSpecValid).Status == status.ConditionFalse
	})
	if c := itCondition(st, status.ConditionSpecValid); !strings.HasPrefix(c.Message, name+".yaml:") ||
		!strings.Contains(c.Message, "spec.envFrom[1].file: cannot read "+envPath) {
		t.Errorf("SpecValid message %q does not locate the error", c.Message)
	}
	itWaitEvents(t, d.dir, name, "SpecInvalid event", itHasReason("SpecInvalid", ""))
	if !waitfor.Never(300*time.Millisecond, func() bool {
		st, err := status.ReadFile(status.StatusPath(d.dir, name))
		return err == nil && !maps.Equal(itPids(st), before)
	}) {
		t.Error("a missing env file changed the instances")
	}

	// A syntax error: located at the entry and the line, no value quoted.
	writeEnv(envPath, "TOKEN=s3cr3t-two\nMODE='s3cr3t-three\n")
	itWaitStatus(t, d.dir, name, "the syntax error", func(st status.ProgramStatus) bool {
		return strings.Contains(itCondition(st, status.ConditionSpecValid).Message, "spec.envFrom[1].file: .env:2: MODE: no closing '")
	})

	// Back as it was: valid again, and the same instances (same hash).
	writeEnv(envPath, "TOKEN=s3cr3t-two\nMODE=two\n")
	st = itWaitStatus(t, d.dir, name, "SpecValid True", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionSpecValid).Status == status.ConditionTrue && itReady(2)(st)
	})
	if !maps.Equal(itPids(st), before) {
		t.Errorf("restoring the file restarted instances: %v -> %v", before, itPids(st))
	}
	itNoSecret(t, d, "s3cr3t")
}
