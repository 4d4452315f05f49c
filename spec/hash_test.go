package spec

import (
	"strings"
	"testing"
)

const baseManifest = `# a comment
apiVersion: reconciled.dev/v1
kind: Program
metadata:
  name: worker
  labels: {team: a}
  annotations: {note: x}
spec:
  command: ["sleep", "10"]
  replicas: 2
  desired: running
  startSeconds: 10
  env: {A: "1", B: "2"}
`

func hashOf(t *testing.T, src string) string {
	t.Helper()
	return Hash(mustParse(t, "worker.yaml", src))
}

func TestHashStable(t *testing.T) {
	base := hashOf(t, baseManifest)
	if !strings.HasPrefix(base, "sha256:") || len(base) != len("sha256:")+64 {
		t.Fatalf("hash %q", base)
	}
	same := map[string]string{
		"key order and formatting": "spec:\n  env:\n    B: \"2\"\n    A: \"1\"\n  startSeconds: 10s\n  command: sleep 10   # as a string\nmetadata: {name: worker}\n",
		"replicas":                 strings.Replace(baseManifest, "replicas: 2", "replicas: 7", 1),
		"desired":                  strings.Replace(baseManifest, "desired: running", "desired: stopped", 1),
		"labels":                   strings.Replace(baseManifest, "team: a", "team: b", 1),
		"other annotations":        strings.Replace(baseManifest, "note: x", "note: y", 1),
		"supervision settings":     baseManifest + "  restartPolicy: Never\n  startRetries: 9\n  stopTimeout: 1s\n  stopSignal: INT\n  updateStrategy: {type: Recreate}\n",
	}
	for name, src := range same {
		if got := hashOf(t, src); got != base {
			t.Errorf("%s changed the hash", name)
		}
	}
	differ := map[string]string{
		"command":      strings.Replace(baseManifest, `"10"]`, `"11"]`, 1),
		"env value":    strings.Replace(baseManifest, `B: "2"`, `B: "3"`, 1),
		"env name":     strings.Replace(baseManifest, `B: "2"`, `C: "2"`, 1),
		"restartedAt":  strings.Replace(baseManifest, "note: x", "note: x, reconciled.dev/restartedAt: \"2026-11-22T10:00:00Z\"", 1),
		"workingDir":   baseManifest + "  workingDir: /tmp\n",
		"user":         baseManifest + "  user: nobody\n",
		"umask":        baseManifest + "  umask: \"077\"\n",
		"nice":         baseManifest + "  nice: 3\n",
		"stdout":       baseManifest + "  stdout: null\n  stderr: stdout\n",
		"memory":       baseManifest + "  resources: {memory: 1Gi}\n",
		"cpu":          baseManifest + "  resources: {cpu: 1}\n",
		"pids":         baseManifest + "  resources: {pids: 100}\n",
		"ioNice":       baseManifest + "  ioNice: {class: idle}\n",
		"ioNice level": baseManifest + "  ioNice: {class: best-effort, level: 7}\n",
		"limit":        baseManifest + "  limits: {nofile: 1024}\n",
		"soft limit":   baseManifest + "  limits: {nofile: {soft: 512, hard: 1024}}\n",
	}
	seen := map[string]string{}
	for name, src := range differ {
		h := hashOf(t, src)
		if h == base {
			t.Errorf("%s did not change the hash", name)
		}
		if other, dup := seen[h]; dup {
			t.Errorf("%s and %s hash equally", name, other)
		}
		seen[h] = name
	}
}

// TestHashContainmentSpellings: equivalent spellings of resources, ioNice
// and limits hash equally.
func TestHashContainmentSpellings(t *testing.T) {
	groups := [][]string{
		{"resources: {memory: 1Gi, cpu: 500m}", "resources: {cpu: 0.5, memory: 1073741824}", "resources: {memory: 1024Mi, cpu: \"500m\"}"},
		{"ioNice: {class: best-effort}", "ioNice: {class: best-effort, level: 4}"},
		{"limits: {nofile: 1024, stack: 8Mi}", "limits: {stack: 8388608, nofile: {soft: 1024, hard: 1024}}"},
		{"limits: {cpu: 1h}", "limits: {cpu: 3600}"},
		// Empty settings are no settings.
		{"resources: {}", "limits: {}", "ioNice:", ""},
	}
	for _, g := range groups {
		want := hashOf(t, baseManifest+"  "+g[0]+"\n")
		for _, src := range g[1:] {
			if got := hashOf(t, baseManifest+"  "+src+"\n"); got != want {
				t.Errorf("%q and %q hash differently", g[0], src)
			}
		}
	}
}

// TestHashUnchangedWithoutContainment: a manifest that sets none of
// resources, ioNice and limits hashes as before they existed, so that a new
// daemon does not see every program as changed.
func TestHashUnchangedWithoutContainment(t *testing.T) {
	for src, want := range map[string]string{
		baseManifest: "sha256:b64708fc7198bf7b0f1c4af0e1bd2d7db70a3e6b774504eae66230795ccd670f",
		baseManifest + "  umask: \"077\"\n  nice: 3\n  user: nobody\n  readinessProbe: {tcpSocket: {port: 80}}\n": "sha256:e995518916d9b44deeb64074984fbea3cc11dde13451e48604a2909ac642fb8c",
	} {
		if got := hashOf(t, src); got != want {
			t.Errorf("hash of\n%s= %s, want %s", src, got, want)
		}
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"PORT": "8080", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	cases := map[string]string{
		"--port=$(PORT)":    "--port=8080",
		"$$(PORT)":          "$(PORT)",
		"$$":                "$",
		"$(MISSING)":        "$(MISSING)",
		"$(EMPTY)x":         "x",
		"a$b":               "a$b",
		"$(PORT":            "$(PORT",
		"end$":              "end$",
		"$(PORT)$(PORT)":    "80808080",
		"no refs at all":    "no refs at all",
		"$$$(PORT)":         "$8080",
		"price: $5 $(PORT)": "price: $5 8080",
	}
	for in, want := range cases {
		if got := Expand(in, lookup); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInstanceEnvAndCommand(t *testing.T) {
	p := mustParse(t, "web.yaml", `spec:
  command: ["serve", "--port", "$(PORT)", "$$(PORT)"]
  replicas: 3
  env:
    URL: "http://localhost:$(PORT)/"
    PORT: "800$(RECONCILED_INSTANCE)"
    LOOP_A: "$(LOOP_B)"
    LOOP_B: "$(LOOP_A)"
    FROM_BASE: "$(HOME)/x"
`)
	env := InstanceEnv(p, 2, []string{"HOME=/root", "PATH=/bin", "PORT=1"})
	lookup := LookupEnv(env)
	want := map[string]string{
		"RECONCILED_PROGRAM": "web", "RECONCILED_INSTANCE": "2", "RECONCILED_REPLICAS": "3",
		"PORT": "8002", "URL": "http://localhost:8002/", "FROM_BASE": "/root/x", "PATH": "/bin",
	}
	for k, v := range want {
		if got, _ := lookup(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if a, _ := lookup("LOOP_A"); !strings.Contains(a, "$(LOOP_") {
		t.Errorf("a cycle must stay unexpanded, got LOOP_A=%q", a)
	}
	argv := InstanceCommand(p, env)
	if strings.Join(argv, " ") != "serve --port 8002 $(PORT)" {
		t.Errorf("argv = %q", argv)
	}
}

func TestSplitWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"sleep 10", []string{"sleep", "10"}},
		{"  a\tb\n c  ", []string{"a", "b", "c"}},
		{`python3 -c 'print("a b")'`, []string{"python3", "-c", `print("a b")`}},
		{`echo "a \"b\" \$x \n"`, []string{"echo", `a "b" $x \n`}},
		{`a\ b c`, []string{"a b", "c"}},
		{`''`, []string{""}},
		{`x""y`, []string{"xy"}},
		{"a \\\nb", []string{"a", "b"}},
		{"", nil},
	}
	for _, c := range cases {
		got, err := SplitWords(c.in)
		if err != nil || strings.Join(got, "\x00") != strings.Join(c.want, "\x00") || len(got) != len(c.want) {
			t.Errorf("SplitWords(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `a "b`} {
		if _, err := SplitWords(bad); err == nil {
			t.Errorf("SplitWords(%q): want an error", bad)
		}
	}
}

func TestClassify(t *testing.T) {
	cases := map[string]struct {
		kind FileKind
		name string
	}{
		"worker.yaml": {Manifest, "worker"}, "db-1.yml": {Manifest, "db-1"}, "a_b.yaml": {Manifest, "a_b"},
		"worker.status.yaml": {Ignored, ""}, "worker.events.jsonl": {Ignored, ""}, ".hidden.yaml": {Ignored, ""},
		"..data": {Ignored, ""}, "worker.yaml~": {Ignored, ""}, ".worker.yaml.swp": {Ignored, ""},
		"worker.yaml.swp": {Ignored, ""}, "#worker.yaml#": {Ignored, ""}, "4913": {Ignored, ""},
		"worker.yaml.tmp": {Ignored, ""}, "worker.yaml.bak": {Ignored, ""}, "worker.yaml.dpkg-old": {Ignored, ""},
		"worker.yaml.rpmnew": {Ignored, ""}, "README.md": {Ignored, ""}, "worker.json": {Ignored, ""},
		"Worker.yaml": {BadName, "Worker"}, "web.v2.yaml": {BadName, "web.v2"}, "-x.yaml": {BadName, "-x"},
		strings.Repeat("a", 64) + ".yaml": {BadName, strings.Repeat("a", 64)},
		strings.Repeat("a", 63) + ".yaml": {Manifest, strings.Repeat("a", 63)},
	}
	for in, want := range cases {
		kind, name := Classify(in)
		if kind != want.kind || name != want.name {
			t.Errorf("Classify(%q) = %v %q, want %v %q", in, kind, name, want.kind, want.name)
		}
	}
}

func TestSizesAndDurations(t *testing.T) {
	sizes := map[string]int64{"1048576": 1 << 20, "500K": 500000, "50MiB": 50 << 20, "1Gi": 1 << 30, "2GB": 2e9, "10 KiB": 10 << 10, "7B": 7, "1Ti": 1 << 40, "2k": 2000,
		// Units in any case, decimals rounded up to a byte.
		"50mb": 50e6, "1.5GiB": 3 << 29, "1.5gib": 3 << 29, "50MIB": 50 << 20, "512m": 512e6, "0.5k": 500, "0.1B": 1, "1.5Mi": 3 << 19, ".5K": 500}
	for in, want := range sizes {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "MiB", "1Pi", "99999999999999G", "1.2.3", "5 parsecs", "1e3", "1KiKi", "1KBi"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): want an error", bad)
		}
	}
	for _, bad := range []string{"1e400", "NaN", "Inf", "10 s"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q): want an error", bad)
		}
	}
}

// TestEnvTemplate: the template gives what InstanceEnv and InstanceCommand
// give, for every index, whatever the manifest refers to.
func TestEnvTemplate(t *testing.T) {
	base := []string{"HOME=/root", "PATH=/bin", "PORT=1", "RECONCILED_INSTANCE=99", "ZZ=last"}
	for _, body := range []string{
		"spec:\n  command: [sleep, \"1000\"]\n  replicas: 12\n",
		"spec:\n  command: [serve, \"$(PORT)\", \"$$(PORT)\"]\n  replicas: 12\n  env:\n    A: plain\n",
		"spec:\n  command: [serve]\n  replicas: 12\n  env:\n    PORT: \"800$(RECONCILED_INSTANCE)\"\n    URL: \"http://x:$(PORT)/\"\n",
		"spec:\n  command: [serve, \"$(RECONCILED_INSTANCE)\"]\n  replicas: 12\n  env:\n    COST: \"$$5\"\n",
	} {
		p := mustParse(t, "web.yaml", body)
		tmpl := NewEnvTemplate(p, base)
		if tmpl.Program() != p {
			t.Fatal("Program() is not the program")
		}
		for i := range 12 {
			env := tmpl.Env(i)
			if want := InstanceEnv(p, i, base); strings.Join(env, "\n") != strings.Join(want, "\n") {
				t.Errorf("%q index %d: env\n%q\nwant\n%q", body, i, env, want)
			}
			if got, want := tmpl.Command(env), InstanceCommand(p, env); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%q index %d: command %q, want %q", body, i, got, want)
			}
		}
		// Each call returns a slice of its own.
		a, b := tmpl.Env(1), tmpl.Env(2)
		a[0] = "changed"
		if b[0] == "changed" || tmpl.Env(3)[0] == "changed" {
			t.Errorf("%q: Env shares its slice", body)
		}
	}
}
