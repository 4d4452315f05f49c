package export

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// exportCase is one golden file: a set of manifests through one target.
type exportCase struct {
	name   string // golden file stem
	dir    string // manifests
	target Target
	opts   Options
}

func exportCases() []exportCase {
	var cases []exportCase
	for _, set := range []struct{ name, dir string }{{"examples", "../examples"}, {"every", "testdata/every"}} {
		cases = append(cases,
			exportCase{set.name + ".kubernetes", set.dir, Kubernetes, Options{}},
			exportCase{set.name + ".statefulset", set.dir, Kubernetes, Options{Kind: KindStatefulSet}},
			exportCase{set.name + ".nomad", set.dir, Nomad, Options{}},
			exportCase{set.name + ".systemd", set.dir, Systemd, Options{}},
		)
	}
	cases = append(cases,
		exportCase{"every.statefulset-image", "testdata/every", Kubernetes, Options{Kind: KindStatefulSet, Image: "registry.example/override:2"}},
		exportCase{"every.nomad-exec", "testdata/every", Nomad, Options{Driver: DriverExec}},
		exportCase{"every.systemd-notify", "testdata/every", Systemd, Options{Notify: true, UnitDir: "/srv/units"}},
	)
	return cases
}

// loadDir decodes every manifest of dir.
func loadDir(t *testing.T, dir string) []*spec.Program {
	t.Helper()
	all, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var paths []string
	for _, path := range all {
		// Not the status files a daemon run on the examples leaves beside them.
		if kind, _ := spec.Classify(filepath.Base(path)); kind == spec.Manifest {
			paths = append(paths, path)
		}
	}
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in %s: %v", dir, err)
	}
	var progs []*spec.Program
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, errs := spec.Parse(path, data)
		if errs != nil {
			t.Fatalf("%s: %v", path, errs)
		}
		progs = append(progs, p)
	}
	return progs
}

func runCase(t *testing.T, c exportCase) *Result {
	t.Helper()
	r, err := Export(c.target, loadDir(t, c.dir), c.opts)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return r
}

// TestGolden compares each target's stream and warnings with its golden
// file; go test ./export -update rewrites them.
func TestGolden(t *testing.T) {
	for _, c := range exportCases() {
		t.Run(c.name, func(t *testing.T) {
			r := runCase(t, c)
			var b strings.Builder
			b.Write(r.Stream())
			b.WriteString("# WARNINGS\n")
			for _, w := range r.Warnings {
				b.WriteString(w.String() + "\n")
			}
			golden := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./export -update)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("%s differs from the export (go test ./export -update rewrites it); got:\n%s", golden, got)
			}
		})
	}
}

// TestDeterministic exports twice, from programs in another order.
func TestDeterministic(t *testing.T) {
	for _, c := range exportCases() {
		progs := loadDir(t, c.dir)
		a, err := Export(c.target, progs, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, j := 0, len(progs)-1; i < j; i, j = i+1, j-1 {
			progs[i], progs[j] = progs[j], progs[i]
		}
		b, err := Export(c.target, progs, c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two exports differ", c.name)
		}
	}
}

// TestEveryFieldIsSet keeps the golden files honest: testdata/every sets
// each field of ProgramSpec to something other than its default in at
// least one manifest, so a field added to the spec without a mapping shows
// up here first.
func TestEveryFieldIsSet(t *testing.T) {
	progs := loadDir(t, "testdata/every")
	def, errs := spec.Parse("default.yaml", []byte("spec: {command: x}\n"))
	if errs != nil {
		t.Fatal(errs)
	}
	typ := reflect.TypeOf(spec.ProgramSpec{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		set := false
		for _, p := range progs {
			v := reflect.ValueOf(p.Spec).Field(i)
			if !reflect.DeepEqual(v.Interface(), reflect.ValueOf(def.Spec).Field(i).Interface()) {
				set = true
			}
		}
		if !set {
			t.Errorf("no manifest in testdata/every sets spec.%s: add it, and map it in every target or warn about it", f.Name)
		}
	}
	// Both probe kinds with each action.
	seen := map[string]bool{}
	for _, p := range progs {
		for _, pr := range []*spec.Probe{p.Spec.ReadinessProbe, p.Spec.LivenessProbe} {
			if pr != nil {
				seen["exec"] = seen["exec"] || pr.Exec != nil
				seen["tcpSocket"] = seen["tcpSocket"] || pr.TCPSocket != nil
				seen["httpGet"] = seen["httpGet"] || pr.HTTPGet != nil
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("testdata/every probes with %v; want exec, tcpSocket and httpGet", seen)
	}
}

func TestExportErrors(t *testing.T) {
	progs := loadDir(t, "../examples")
	noImage := []*spec.Program{{Metadata: spec.Metadata{Name: "x"}, Spec: progs[0].Spec}}
	for _, tc := range []struct {
		target Target
		progs  []*spec.Program
		o      Options
		want   string
	}{
		{Kubernetes, noImage, Options{}, "no container image"},
		{Kubernetes, progs, Options{Kind: "daemonset"}, "--kind"},
		{Nomad, progs, Options{Driver: "docker"}, "--driver"},
		{Systemd, progs, Options{UnitDir: "units"}, "not absolute"},
		{"swarm", progs, Options{}, "unknown target"},
	} {
		_, err := Export(tc.target, tc.progs, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: error %v, want %q", tc.target, tc.o, err, tc.want)
		}
	}
	// Two programs that Kubernetes would name alike.
	a, b := *progs[0], *progs[0]
	a.Metadata = spec.Metadata{Name: "a_b"}
	b.Metadata = spec.Metadata{Name: "a-b"}
	if _, err := Export(Kubernetes, []*spec.Program{&a, &b}, Options{Image: "x"}); err == nil || !strings.Contains(err.Error(), "both be named") {
		t.Errorf("a_b and a-b: error %v", err)
	}
}

func TestFileModes(t *testing.T) {
	for _, c := range exportCases() {
		for _, f := range runCase(t, c).Files {
			secret := strings.Contains(string(f.Data), "3600") || strings.HasSuffix(f.Name, ".env")
			if secret && f.Mode != 0o600 {
				t.Errorf("%s: %s holds env values with mode %o", c.name, f.Name, f.Mode)
			}
			if strings.HasSuffix(f.Name, ".service") && strings.Contains(string(f.Data), "3600") {
				t.Errorf("%s: %s holds an env value", c.name, f.Name)
			}
		}
	}
}

func TestCeilSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 0, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 2 * time.Second: 2} {
		if got := ceilSeconds(d); got != want {
			t.Errorf("ceilSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
