package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/spec"
)

// describe shows every field of the spec that is set. A manifest that sets
// each field away from its default must show each one; a field of
// spec.ProgramSpec that this test does not know fails it, so that a new
// field is not forgotten in describe.
func TestCLIDescribeEveryField(t *testing.T) {
	manifest := `spec:
  command: "exec python3 -m http.server"
  shell: true
  replicas: 3
  desired: stopped
  restartPolicy: OnFailure
  successExitCodes: [0, 3]
  startSeconds: 2s
  startRetries: 7
  restartDelay: 1s
  maxRestartDelay: 1m
  backoffResetAfter: 5m
  flapping: {restarts: 4, window: 2m}
  stopSignal: QUIT
  stopTimeout: 20s
  workingDir: /srv/web
  env: {PORT: "8000"}
  umask: "027"
  user: www
  group: web
  nice: 10
  ioNice: {class: best-effort, level: 6}
  limits: {nofile: {soft: 1024, hard: 65536}, core: unlimited}
  resources: {memory: 256Mi, cpu: 500m, pids: 100}
  stdout: {file: /var/log/web.log, maxSize: 10Mi, maxBackups: 3}
  stderr: "null"
  readinessProbe: {tcpSocket: {port: "8000"}}
  livenessProbe: {exec: {command: ["true"]}}
  dependsOn: [{program: db, condition: Ready}]
  updateStrategy: {type: Recreate}
`
	p, errs := spec.Parse("web.yaml", []byte(manifest))
	if errs != nil {
		t.Fatal(errs)
	}
	got := map[string]string{}
	describeSpec(func(k, v string) { got[k] = v }, &p.Spec)

	// Each field: the describe line, and what it must say.
	want := map[string][2]string{
		"Command":           {"Command", "/bin/sh -c 'exec python3 -m http.server'"},
		"Shell":             {"Command", "/bin/sh -c "},
		"Replicas":          {"Replicas", "3"},
		"Desired":           {"Desired", "stopped"},
		"RestartPolicy":     {"Restart", "OnFailure"},
		"SuccessExitCodes":  {"Restart", "successExitCodes 0 3"},
		"StartSeconds":      {"Restart", "startSeconds 2s"},
		"StartRetries":      {"Restart", "startRetries 7"},
		"RestartDelay":      {"Restart", "restartDelay 1s"},
		"MaxRestartDelay":   {"Restart", "(max 1m0s)"},
		"BackoffResetAfter": {"Restart", "backoffResetAfter 5m0s"},
		"Flapping":          {"Flapping", "4 restarts within 2m0s"},
		"StopSignal":        {"Stop", "QUIT"},
		"StopTimeout":       {"Stop", "KILL after 20s"},
		"WorkingDir":        {"Working dir", "/srv/web"},
		"Env":               {"Env", "PORT (values not shown)"},
		"Umask":             {"Umask", "0027"},
		"User":              {"User", "www:"},
		"Group":             {"User", ":web"},
		"Nice":              {"Nice", "10"},
		"IONice":            {"IO nice", "best-effort, level 6"},
		"Limits":            {"Limits", "core unlimited:unlimited, nofile 1024:65536 (soft:hard)"},
		"Resources":         {"Resources", "cpu 500m, memory 256Mi, pids 100"},
		"Stdout":            {"Output", "stdout /var/log/web.log (maxSize 10Mi, maxBackups 3)"},
		"Stderr":            {"Output", "stderr null"},
		"ReadinessProbe":    {"Readiness", "tcp-socket 127.0.0.1:8000"},
		"LivenessProbe":     {"Liveness", "exec true"},
		"DependsOn":         {"Depends on", "db (Ready)"},
		"UpdateStrategy":    {"Update", "Recreate"},
	}
	typ := reflect.TypeOf(spec.ProgramSpec{})
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		w, ok := want[name]
		if !ok {
			t.Errorf("spec.%s: describe does not show it (add it to describeSpec and to this test)", name)
			continue
		}
		if !strings.Contains(got[w[0]], w[1]) {
			t.Errorf("spec.%s: %s: %q, want %q in it", name, w[0], got[w[0]], w[1])
		}
	}

	// Fields not set are not shown.
	p, _ = spec.Parse("web.yaml", []byte("spec:\n  command: sleep 1\n"))
	got = map[string]string{}
	describeSpec(func(k, v string) { got[k] = v }, &p.Spec)
	for _, k := range []string{"Working dir", "User", "Umask", "Nice", "IO nice", "Limits", "Resources", "Env", "Readiness", "Liveness", "Depends on"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s shown when not set: %q", k, v)
		}
	}
	if strings.Contains(got["Restart"], "successExitCodes") {
		t.Errorf("default successExitCodes shown: %q", got["Restart"])
	}
}
