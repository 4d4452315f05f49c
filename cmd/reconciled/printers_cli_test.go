package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/reconciled/reconciled/status"
)

func TestStatusJSONPath(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "worker")
	cmdWriteStatus(t, dir, "web")
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		want string
	}{
		// One program named: the object itself, as kubectl get NAME.
		{[]string{"worker", "-o", "jsonpath={.status.instances[*].name}"}, "worker-0 worker-1"},
		{[]string{"worker", "-o", "jsonpath={.status.instances[0].pid}"}, "4242"},
		// Otherwise a List.
		{[]string{"-o", "jsonpath={.items[*].metadata.name}"}, "web worker"},
		{[]string{"-o", `jsonpath={range .items[*]}{.metadata.name}={.status.readyReplicas}{"\n"}{end}`}, "web=1\nworker=1\n"},
		// Numbers compare as numbers.
		{[]string{"worker", "-o", "jsonpath={.status.instances[?(@.restarts>2)].name}"}, "worker-1"},
		// A missing key prints nothing.
		{[]string{"worker", "-o", "jsonpath={.status.nothing}"}, ""},
	} {
		res := cliExec(ctx, "", append([]string{"status", "--dir", dir}, tt.args...)...)
		if res.code != 0 || res.stdout != tt.want {
			t.Errorf("%q: got %q, want %q\n%v", tt.args, res.stdout, tt.want, res)
		}
	}
}

func TestStatusCustomColumns(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "worker")
	cmdWriteStatus(t, dir, "web")
	res := cliExec(context.Background(), "", "status", "--dir", dir, "-o",
		"custom-columns=NAME:.metadata.name,PHASE:status.phase,PIDS:{.status.instances[*].pid},GONE:.status.nothing")
	if res.code != 0 {
		t.Fatal(res)
	}
	// kubectl's tabwriter: columns at least 10 wide, 3 spaces apart.
	want := "NAME      PHASE      PIDS      GONE\n" +
		"web       Degraded   4242      <none>\n" +
		"worker    Degraded   4242      <none>\n"
	if res.stdout != want {
		t.Errorf("got\n%s\nwant\n%s", res.stdout, want)
	}
}

// -o yaml keeps the status file's order of keys (not sorted), and reads
// back as what -o json says.
func TestStatusYAMLOrder(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "worker")
	cmdWriteStatus(t, dir, "web")
	ctx := context.Background()
	res := cliExec(ctx, "", "status", "--dir", dir, "-o", "yaml", "worker")
	if res.code != 0 {
		t.Fatal(res)
	}
	if !strings.HasPrefix(res.stdout, "- apiVersion: reconciled.dev/v1\n  kind: ProgramStatus\n  metadata:\n    name: worker\n  status:\n    specHash: ") {
		t.Errorf("not in the status file's order:\n%s", res.stdout)
	}
	all := cliExec(ctx, "", "status", "--dir", dir, "-o", "yaml")
	js := cliExec(ctx, "", "status", "--dir", dir, "-o", "json")
	var fromYAML, fromJSON []status.ProgramStatus
	if err := yaml.Unmarshal([]byte(all.stdout), &fromYAML); err != nil {
		t.Fatalf("%v\n%s", err, all.stdout)
	}
	if err := json.Unmarshal([]byte(js.stdout), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if len(fromYAML) != 2 || !reflect.DeepEqual(mustJSON(t, fromYAML), mustJSON(t, fromJSON)) {
		t.Errorf("-o yaml and -o json differ:\n%s\n%s", all.stdout, js.stdout)
	}
	if res := cliExec(ctx, "", "status", "--dir", t.TempDir(), "-o", "yaml"); res.code != 0 || res.stdout != "[]\n" {
		t.Errorf("no programs: %v", res)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStatusOutputUsage(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "worker")
	for _, o := range []string{"jsonpath", "jsonpath=", "jsonpath={.status", "custom-columns=NAME", "custom-columns=N:{{x}}", "xml", "json=x"} {
		res := cliExec(context.Background(), "", "status", "--dir", dir, "-o", o)
		if res.code != 2 || !strings.HasPrefix(res.stderr, "reconciled: -o") {
			t.Errorf("-o %s: %v", o, res)
		}
	}
}
