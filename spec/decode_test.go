package spec

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func mustParse(t *testing.T, file, src string) *Program {
	t.Helper()
	p, errs := Parse(file, []byte(src))
	if errs != nil {
		t.Fatalf("Parse(%s): unexpected errors:\n%v", file, errs)
	}
	return p
}

func TestDefaults(t *testing.T) {
	p := mustParse(t, "worker.yaml", "spec:\n  command: sleep 10\n")
	s := p.Spec
	if p.Metadata.Name != "worker" || p.APIVersion != APIVersion || p.Kind != Kind {
		t.Errorf("metadata = %+v %s %s", p.Metadata, p.APIVersion, p.Kind)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"replicas", s.Replicas, 1},
		{"desired", s.Desired, DesiredRunning},
		{"restartPolicy", s.RestartPolicy, RestartAlways},
		{"successExitCodes", len(s.SuccessExitCodes) == 1 && s.SuccessExitCodes[0] == 0, true},
		{"startSeconds", s.StartSeconds, time.Second},
		{"startRetries", s.StartRetries, 3},
		{"restartDelay", s.RestartDelay, 100 * time.Millisecond},
		{"maxRestartDelay", s.MaxRestartDelay, 30 * time.Second},
		{"stopSignal", s.StopSignal.Name, "TERM"},
		{"stopTimeout", s.StopTimeout, 10 * time.Second},
		{"stdout", s.Stdout.Mode, OutputAuto},
		{"stderr", s.Stderr.Mode, OutputAuto},
		{"updateStrategy", s.UpdateStrategy, UpdateStrategy{Type: RollingUpdate, MaxUnavailable: 1}},
		{"command", strings.Join(s.Command, "|"), "sleep|10"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestFullManifest(t *testing.T) {
	src := `apiVersion: reconciled.dev/v1
kind: Program
metadata:
  name: web
  labels: {team: payments}
  annotations:
    reconciled.dev/restartedAt: "2026-11-22T10:00:00Z"
spec:
  command: ["python3", "-u", "worker.py", "--port", "$(PORT)"]
  replicas: 3
  desired: stopped
  restartPolicy: OnFailure
  successExitCodes: [0, 2]
  startSeconds: 1.5
  startRetries: 0
  restartDelay: 250ms
  maxRestartDelay: 1m
  stopSignal: SIGint
  stopTimeout: 3
  workingDir: /opt/app
  env: {NODE_ENV: production, PORT: "800$(RECONCILED_INSTANCE)", DEBUG: true, N: 3}
  umask: 022
  user: www-data
  group: "33"
  nice: 5
  stdout: null
  stderr: stdout
  updateStrategy: {type: RollingUpdate, maxUnavailable: 2}
`
	p := mustParse(t, "/etc/reconciled/web.yaml", src)
	s := p.Spec
	if s.Replicas != 3 || s.Desired != DesiredStopped || s.RestartPolicy != RestartOnFailure {
		t.Errorf("replicas/desired/policy = %d %s %s", s.Replicas, s.Desired, s.RestartPolicy)
	}
	if s.StartSeconds != 1500*time.Millisecond || s.StopTimeout != 3*time.Second || s.MaxRestartDelay != time.Minute {
		t.Errorf("durations = %v %v %v", s.StartSeconds, s.StopTimeout, s.MaxRestartDelay)
	}
	if s.StopSignal.Name != "INT" || s.Umask == nil || *s.Umask != 0o22 || s.Group != "33" || s.Nice != 5 {
		t.Errorf("signal/umask/group/nice = %v %v %q %d", s.StopSignal, s.Umask, s.Group, s.Nice)
	}
	if s.Env["DEBUG"] != "true" || s.Env["N"] != "3" {
		t.Errorf("env = %v", s.Env)
	}
	if s.Stdout.Mode != OutputNull || s.Stderr.Mode != OutputStdout {
		t.Errorf("stdout: null (unquoted) is the null target, as docs/reference.md lists it: %v %v", s.Stdout, s.Stderr)
	}
	if s.UpdateStrategy.MaxUnavailable != 2 || p.Metadata.Labels["team"] != "payments" {
		t.Errorf("updateStrategy/labels = %v %v", s.UpdateStrategy, p.Metadata.Labels)
	}
}

// TestErrors checks every class of error with its exact position and text.
func TestErrors(t *testing.T) {
	cases := []struct {
		name, file, src string
		want            []string
	}{
		{"range", "worker.yaml", "spec:\n  command: x\n  replicas: 10001\n",
			[]string{"worker.yaml:3:3: spec.replicas: must be between 0 and 10000"}},
		{"unknown field with suggestion", "w.yaml", "spec:\n  command: x\n  replica: 2\n",
			[]string{`w.yaml:3:3: spec.replica: unknown field (did you mean "replicas"?)`}},
		{"unknown top-level", "w.yaml", "spec: {command: x}\nstatus: {}\n",
			[]string{"w.yaml:2:1: status: unknown field (known: apiVersion, kind, metadata, spec)"}},
		{"wrong type", "w.yaml", "spec:\n  command: x\n  replicas: three\n",
			[]string{`w.yaml:3:3: spec.replicas: must be a whole number, not the string "three"`}},
		{"bad enum", "w.yaml", "spec:\n  command: x\n  restartPolicy: always\n",
			[]string{`w.yaml:3:3: spec.restartPolicy: "always" is not one of Always, OnFailure, Never`}},
		{"bad duration", "w.yaml", "spec:\n  command: x\n  startSeconds: 1 minute\n",
			[]string{`w.yaml:3:3: spec.startSeconds: "1 minute" is not a duration (examples: 500ms, 10s, 1m30s, or a number of seconds)`}},
		{"negative duration", "w.yaml", "spec:\n  command: x\n  stopTimeout: -1s\n",
			[]string{"w.yaml:3:3: spec.stopTimeout: must not be negative"}},
		{"bad signal", "w.yaml", "spec:\n  command: x\n  stopSignal: STOP\n",
			[]string{`w.yaml:3:3: spec.stopSignal: "STOP" is not one of TERM, INT, QUIT, HUP, KILL, USR1, USR2`}},
		{"bad size", "w.yaml", "spec:\n  command: x\n  stdout: {file: /tmp/x, maxSize: 5 parsecs}\n",
			[]string{`w.yaml:3:26: spec.stdout.maxSize: "5 parsecs" is not a size (examples: 1048576, 500K, 50MiB, 1.5GiB)`}},
		{"file target without file", "w.yaml", "spec:\n  command: x\n  stderr: {maxBackups: 3}\n",
			[]string{"w.yaml:3:11: spec.stderr.file: required: the path of the log file"}},
		{"file target limits", "w.yaml", "spec:\n  command: x\n  stdout: {file: out.log, maxBackups: 1001, colour: red}\n",
			[]string{"w.yaml:3:27: spec.stdout.maxBackups: must be between 0 and 1000", `w.yaml:3:45: spec.stdout.colour: unknown field (known: file, maxSize, maxBackups)`}},
		{"bad output mode", "w.yaml", "spec:\n  command: x\n  stdout: stdout\n",
			[]string{`w.yaml:3:3: spec.stdout: "stdout" is not one of auto, null, inherit`}},
		{"bad umask", "w.yaml", "spec:\n  command: x\n  umask: \"999\"\n",
			[]string{`w.yaml:3:3: spec.umask: "999" is not an octal umask between 000 and 777`}},
		{"name mismatch", "worker.yaml", "metadata:\n  name: web\nspec:\n  command: x\n",
			[]string{`worker.yaml:2:3: metadata.name: "web" must equal the file name's stem "worker"`}},
		{"bad file name", "Worker.yaml", "spec:\n  command: x\n",
			[]string{`Worker.yaml:1:1: file name: "Worker" is not a valid program name: use lower-case letters, digits, '-' and '_', starting and ending with a letter or digit, at most 63 characters`}},
		{"several documents", "w.yaml", "spec:\n  command: x\n---\nspec:\n  command: y\n",
			[]string{"w.yaml:3:1: several YAML documents: a manifest holds exactly one Program"}},
		{"empty", "w.yaml", "", []string{"w.yaml:1:1: empty manifest: expected a Program with apiVersion, kind, metadata and spec"}},
		{"only comments", "w.yaml", "# nothing\n  # here\n", []string{"w.yaml:1:1: empty manifest: expected a Program with apiVersion, kind, metadata and spec"}},
		{"binary", "w.yaml", "\x7fELF\x02\x01\x00\x00", []string{"w.yaml:1:1: not a text file: a manifest is UTF-8 YAML"}},
		{"syntax", "w.yaml", "spec:\n  command: [a\n  replicas: 1\n", []string{"w.yaml:2:1: invalid YAML: did not find expected ',' or ']'"}},
		{"syntax mapping", "w.yaml", "spec:\n  command: x\n replicas: 1\n", []string{"w.yaml:3:1: invalid YAML: did not find expected key"}},
		{"syntax scanner", "w.yaml", "spec:\n  command: 'x\n", []string{"w.yaml:2:1: invalid YAML: found unexpected end of stream"}},
		{"not a mapping", "w.yaml", "- a\n- b\n", []string{"w.yaml:1:1: expected a Program (a mapping with apiVersion, kind, metadata and spec), not a list"}},
		{"missing spec", "w.yaml", "kind: Program\n", []string{"w.yaml:1:1: spec: required: the program's command and settings"}},
		{"missing command", "w.yaml", "spec:\n  replicas: 1\n", []string{"w.yaml:2:3: spec.command: required: the program to run, as a list or a string"}},
		{"apiVersion", "w.yaml", "apiVersion: v1\nkind: Pod\nspec: {command: x}\n",
			[]string{`w.yaml:1:1: apiVersion: must be reconciled.dev/v1, not "v1"`, `w.yaml:2:1: kind: must be Program, not "Pod"`}},
		{"number in argv", "w.yaml", "spec:\n  command: [sleep, 10]\n",
			[]string{`w.yaml:2:20: spec.command[1]: must be a string, not a number (quote it: "10")`}},
		{"boolean command", "w.yaml", "spec:\n  command: true\n", []string{`w.yaml:2:3: spec.command: must be a string or a list of strings, not a boolean (quote it: "true")`}},
		{"env as a string never shows the value", "w.yaml", "spec:\n  command: x\n  env: SECRET=hunter2\n", []string{"w.yaml:3:3: spec.env: must be a mapping of NAME: value, not a string"}},
		{"unterminated quote", "w.yaml", "spec:\n  command: echo 'hi\n", []string{"w.yaml:2:3: spec.command: unterminated quote"}},
		{"shell needs string", "w.yaml", "spec:\n  command: [a, b]\n  shell: true\n", []string{"w.yaml:3:3: spec.shell: true requires command to be one string"}},
		{"duplicate key", "w.yaml", "spec:\n  command: x\n  command: y\n", []string{"w.yaml:3:3: spec.command: duplicate field"}},
		{"reserved env", "w.yaml", "spec:\n  command: x\n  env: {RECONCILED_INSTANCE: \"1\", 1BAD: x}\n",
			[]string{`w.yaml:3:9: spec.env.RECONCILED_INSTANCE: RECONCILED_* variables are set by the daemon`, `w.yaml:3:35: spec.env.1BAD: "1BAD" is not a valid environment variable name`}},
		{"restart delays", "w.yaml", "spec:\n  command: x\n  restartDelay: 10s\n  maxRestartDelay: 1s\n", []string{"w.yaml:4:3: spec.maxRestartDelay: 1s is shorter than restartDelay 10s"}},
		{"exit codes", "w.yaml", "spec:\n  command: x\n  successExitCodes: [0, 256]\n", []string{"w.yaml:3:25: spec.successExitCodes[1]: must be between 0 and 255"}},
		{"nice", "w.yaml", "spec:\n  command: x\n  nice: 20\n", []string{"w.yaml:3:3: spec.nice: must be between -20 and 19"}},
		{"group without user", "w.yaml", "spec:\n  command: x\n  group: adm\n", []string{"w.yaml:3:3: spec.group: requires user"}},
		{"recreate with maxUnavailable", "w.yaml", "spec:\n  command: x\n  updateStrategy: {type: Recreate, maxUnavailable: 2}\n",
			[]string{"w.yaml:3:36: spec.updateStrategy.maxUnavailable: applies only to type RollingUpdate"}},
		{"probe needs one action", "w.yaml", "spec:\n  command: x\n  readinessProbe: {period: 1s}\n",
			[]string{"w.yaml:3:19: spec.readinessProbe: needs exactly one of exec, tcpSocket and httpGet"}},
		{"probe port", "w.yaml", "spec:\n  command: x\n  livenessProbe:\n    tcpSocket: {port: 70000}\n    successThreshold: 2\n",
			[]string{"w.yaml:4:17: spec.livenessProbe.tcpSocket.port: must be between 1 and 65535", "w.yaml:5:5: spec.livenessProbe.successThreshold: must be 1 for a liveness probe"}},
		{"dependsOn", "w.yaml", "spec:\n  command: x\n  dependsOn: [{program: db, condition: Healthy}, {condition: Ready}]\n",
			[]string{`w.yaml:3:29: spec.dependsOn[0].condition: "Healthy" is not one of Started, Ready, Completed`, "w.yaml:3:50: spec.dependsOn[1].program: required"}},
		{"self dependency", "w.yaml", "spec:\n  command: x\n  dependsOn: [{program: w}]\n",
			[]string{"w.yaml:3:16: spec.dependsOn[0].program: a program cannot depend on itself"}},
		{"progress deadline", "w.yaml", "metadata:\n  annotations: {reconciled.dev/progressDeadline: soon}\nspec: {command: x}\n",
			[]string{`w.yaml:2:17: metadata.annotations.reconciled.dev/progressDeadline: must be a positive duration such as 90s or 10m, not "soon"`}},
		{"many errors all reported", "w.yaml", "spec:\n  command: x\n  replicas: -1\n  desired: up\n  nice: x\n",
			[]string{"w.yaml:3:3: spec.replicas: must be between 0 and 10000", `w.yaml:4:3: spec.desired: "up" is not one of running, stopped`, `w.yaml:5:3: spec.nice: must be a whole number, not the string "x"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, errs := Parse(c.file, []byte(c.src))
			if p != nil {
				t.Fatalf("got a program, want errors %q", c.want)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("errors:\n got: %q\nwant: %q", got, c.want)
			}
		})
	}
}

// TestFileTargets checks the {file, maxSize, maxBackups} form and its
// defaults (supervisord's: 50MiB, 10 backups).
func TestFileTargets(t *testing.T) {
	p := mustParse(t, "w.yaml", "spec:\n  command: x\n  stdout: {file: \"/var/log/w-$(RECONCILED_INSTANCE).log\"}\n  stderr: {file: err.log, maxSize: 1Ki, maxBackups: 0}\n")
	if got, want := p.Spec.Stdout, (Output{Mode: OutputFile, File: "/var/log/w-$(RECONCILED_INSTANCE).log", MaxSize: 50 << 20, MaxBackups: 10}); got != want {
		t.Errorf("stdout = %+v, want %+v", got, want)
	}
	if got, want := p.Spec.Stderr, (Output{Mode: OutputFile, File: "err.log", MaxSize: 1024, MaxBackups: 0}); got != want {
		t.Errorf("stderr = %+v, want %+v", got, want)
	}
}

func TestOutputNull(t *testing.T) {
	for src, want := range map[string]OutputMode{"null": OutputNull, "Null": OutputNull, `"null"`: OutputNull, "~": OutputAuto, "": OutputAuto} {
		p := mustParse(t, "w.yaml", "spec:\n  command: x\n  stdout: "+src+"\n")
		if p.Spec.Stdout.Mode != want {
			t.Errorf("stdout: %s -> %s, want %s", src, p.Spec.Stdout.Mode, want)
		}
	}
}

func TestHugeFile(t *testing.T) {
	data := []byte("spec:\n  command: x\n" + strings.Repeat("# padding\n", MaxManifestSize/10+1))
	_, errs := Parse("w.yaml", data)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "larger than") {
		t.Fatalf("errs = %v", errs)
	}
}

func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("spec:\n  command: x\n")
	for i := range 200 {
		b.WriteString("  bogus" + strings.Repeat("x", i) + ": 1\n")
	}
	_, errs := Parse("w.yaml", []byte(b.String()))
	if len(errs) != MaxErrors+1 || !strings.Contains(errs[MaxErrors].Error(), "too many errors") {
		t.Fatalf("got %d errors, last %v", len(errs), errs[len(errs)-1])
	}
}

// TestGolden checks the whole output for realistic broken manifests: each
// testdata/NAME.yaml against testdata/NAME.golden.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) < 2 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, errs := Parse(filepath.Base(file), src)
			got := errs.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestExamplesValidate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if len(files) < 3 {
		t.Fatalf("want at least 3 examples, found %v", files)
	}
	for _, f := range files {
		if DaemonFile(filepath.Base(f)) {
			continue // a status file a daemon run on the examples left
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, errs := Parse(f, data); errs != nil {
			t.Errorf("%v", errs)
		}
	}
}

func TestShellOperatorWarning(t *testing.T) {
	for cmd, want := range map[string]string{
		`ls -l | wc -l`:                        "|",
		`make && make install`:                 "&&",
		`./server > out.log 2>&1`:              ">",
		`a; b`:                                 ";",
		`rm /tmp/*.log`:                        "*",
		`curl http://x/?a=1&b=2`:               "&",
		`sh -c 'echo a | b; c > d'`:            "",
		`echo "a > b" \| c`:                    "",
		`python3 -m http.server "$(PORT)"`:     "",
		`grep -e 'x*' "file;name" a\*b`:        "",
		`./run --password=$(SECRET) --port=80`: "",
	} {
		if got := ShellOperator(cmd); got != want {
			t.Errorf("ShellOperator(%q) = %q, want %q", cmd, got, want)
		}
	}
	p := mustParse(t, "w.yaml", "spec:\n  command: ./server > out.log\n")
	if len(p.Warnings) != 1 || p.Warnings[0].Error() != `w.yaml:2:3: spec.command: warning: ">" is shell syntax, but no shell runs this command: the program gets ">" as an argument; did you mean shell: true?` {
		t.Errorf("warnings: %v", p.Warnings)
	}
	for _, src := range []string{
		"spec:\n  shell: true\n  command: ./server > out.log\n",
		"spec:\n  command: [./server, '>', out.log]\n",
		"spec:\n  command: ./server --port 80\n",
	} {
		if p := mustParse(t, "w.yaml", src); p.Warnings != nil {
			t.Errorf("%q: warnings %v", src, p.Warnings)
		}
	}
}

// A file cut short right after "spec:" is invalid, not a program without a
// command (found by the soak).
func TestEmptySpec(t *testing.T) {
	_, errs := Parse("e.yaml", []byte("apiVersion: reconciled.dev/v1\nkind: Program\nmetadata:\n  name: e\nspec:\n"))
	if errs == nil || !strings.Contains(errs.Error(), "e.yaml:5:1: spec: required") {
		t.Fatalf("errors %v, want spec required at 5:1", errs)
	}
}
