package spec

import (
	"reflect"
	"strings"
	"testing"
)

func TestContainmentFields(t *testing.T) {
	p := mustParse(t, "w.yaml", `spec:
  command: x
  resources: {memory: 512Mi, cpu: "500m", pids: 200}
  ioNice: {class: best-effort, level: 6}
  limits:
    stack: 8Mi
    nofile: {soft: 1024, hard: 65536}
    core: 0
    memlock: 64Ki
    as: unlimited
    cpu: 1h
    rttime: 200ms
    nproc: 512
`)
	s := p.Spec
	if want := (Resources{Memory: 512 << 20, MilliCPU: 500, Pids: 200}); s.Resources != want {
		t.Errorf("resources = %+v, want %+v", s.Resources, want)
	}
	if want := (IONice{Class: IONiceBestEffort, Level: 6}); s.IONice == nil || *s.IONice != want {
		t.Errorf("ioNice = %+v, want %+v", s.IONice, want)
	}
	want := []Rlimit{
		{"as", Unlimited, Unlimited},
		{"core", 0, 0},
		{"cpu", 3600, 3600},
		{"memlock", 64 << 10, 64 << 10},
		{"nofile", 1024, 65536},
		{"nproc", 512, 512},
		{"rttime", 200000, 200000},
		{"stack", 8 << 20, 8 << 20},
	}
	if !reflect.DeepEqual(s.Limits, want) {
		t.Errorf("limits =\n%+v\nwant (sorted by name)\n%+v", s.Limits, want)
	}
}

func TestContainmentDefaults(t *testing.T) {
	p := mustParse(t, "w.yaml", "spec:\n  command: x\n")
	if !p.Spec.Resources.IsZero() || p.Spec.IONice != nil || p.Spec.Limits != nil {
		t.Errorf("unset fields: %+v %+v %+v", p.Spec.Resources, p.Spec.IONice, p.Spec.Limits)
	}
	p = mustParse(t, "w.yaml", "spec:\n  command: x\n  resources: {}\n  limits: {}\n  ioNice:\n")
	if !p.Spec.Resources.IsZero() || p.Spec.IONice != nil || len(p.Spec.Limits) != 0 {
		t.Errorf("empty fields: %+v %+v %+v", p.Spec.Resources, p.Spec.IONice, p.Spec.Limits)
	}
	// ionice(1)'s defaults: level 4; idle has none.
	for src, want := range map[string]IONice{
		"{class: realtime}":           {IONiceRealtime, 4},
		"{class: best-effort}":        {IONiceBestEffort, 4},
		"{class: idle}":               {IONiceIdle, 0},
		"{class: idle, level: null}":  {IONiceIdle, 0},
		"{class: realtime, level: 0}": {IONiceRealtime, 0},
	} {
		p := mustParse(t, "w.yaml", "spec:\n  command: x\n  ioNice: "+src+"\n")
		if p.Spec.IONice == nil || *p.Spec.IONice != want {
			t.Errorf("ioNice: %s = %+v, want %+v", src, p.Spec.IONice, want)
		}
	}
}

func TestQuantities(t *testing.T) {
	memory := map[string]int64{
		"536870912": 536870912, "512Mi": 512 << 20, "1Gi": 1 << 30, "1.5Gi": 3 << 29, "2G": 2e9,
		"1Ti": 1 << 40, "100k": 100000, "100K": 100000, "0.5Ki": 512, "1.0001Ki": 1025, "64MiB": 64 << 20,
	}
	for in, want := range memory {
		if got, err := parseMemory(in); err != nil || got != want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"512m":         `"512m" is 512 thousandths of a byte (m is milli): write 512Mi or 512M`,
		"lots":         `"lots" is not a memory quantity (examples: 536870912, 512Mi, 1.5Gi, 2G)`,
		"-1Gi":         `"-1Gi" is not a memory quantity (examples: 536870912, 512Mi, 1.5Gi, 2G)`,
		"1e9":          `"1e9" is not a memory quantity (examples: 536870912, 512Mi, 1.5Gi, 2G)`,
		"3/4":          `"3/4" is not a memory quantity (examples: 536870912, 512Mi, 1.5Gi, 2G)`,
		"9000Pi":       `"9000Pi" is not a memory quantity (examples: 536870912, 512Mi, 1.5Gi, 2G)`,
		"9e9Ti":        `"9e9Ti" is not a memory quantity (examples: 536870912, 512Mi, 1.5Gi, 2G)`,
		"9000000000Ti": `"9000000000Ti" is too large`,
	} {
		if _, err := parseMemory(in); err == nil || err.Error() != want {
			t.Errorf("parseMemory(%q) = %v, want %s", in, err, want)
		}
	}
	cpu := map[string]int64{"500m": 500, "0.5": 500, "2": 2000, "1.25": 1250, ".1": 100, "2.": 2000, "1m": 1, "0.0010": 1}
	for in, want := range cpu {
		if got, err := parseMilliCPU(in); err != nil || got != want {
			t.Errorf("parseMilliCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"0.0005":               `"0.0005" is finer than 1m, a thousandth of a core`,
		"1.5m":                 `"1.5m" is finer than 1m, a thousandth of a core`,
		"half":                 `"half" is not a CPU quantity (examples: 500m, 0.5, 2)`,
		"-1":                   `"-1" is not a CPU quantity (examples: 500m, 0.5, 2)`,
		"2 cores":              `"2 cores" is not a CPU quantity (examples: 500m, 0.5, 2)`,
		"99999999999999999999": `"99999999999999999999" is too large`,
	} {
		if _, err := parseMilliCPU(in); err == nil || err.Error() != want {
			t.Errorf("parseMilliCPU(%q) = %v, want %s", in, err, want)
		}
	}
}

// TestContainmentErrors checks each class of error of resources, ioNice and
// limits with its exact position and text.
func TestContainmentErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"pids 0", "resources: {pids: 0}", []string{"w.yaml:3:15: spec.resources.pids: must be between 1 and 4194304"}},
		{"pids too many", "resources: {pids: 5000000}", []string{"w.yaml:3:15: spec.resources.pids: must be between 1 and 4194304"}},
		{"pids as a string", "resources: {pids: \"200\"}", []string{`w.yaml:3:15: spec.resources.pids: must be a whole number, not the string "200"`}},
		{"memory too small", "resources: {memory: 1Mi}", []string{"w.yaml:3:15: spec.resources.memory: must be at least 4Mi: a smaller cgroup cannot even start a program"}},
		{"memory milli", "resources: {memory: 512m}", []string{`w.yaml:3:15: spec.resources.memory: "512m" is 512 thousandths of a byte (m is milli): write 512Mi or 512M`}},
		{"memory mapping", "resources: {memory: {max: 1Gi}}", []string{"w.yaml:3:15: spec.resources.memory: must be a quantity such as 512Mi or 1G, not a mapping"}},
		{"cpu 0", "resources: {cpu: 0}", []string{"w.yaml:3:15: spec.resources.cpu: must be at least 10m: the kernel's smallest quota is 1ms per 100ms"}},
		{"cpu 5m", "resources: {cpu: 5m}", []string{"w.yaml:3:15: spec.resources.cpu: must be at least 10m: the kernel's smallest quota is 1ms per 100ms"}},
		{"cpu huge", "resources: {cpu: 2000000}", []string{"w.yaml:3:15: spec.resources.cpu: must be at most 1000000"}},
		{"cpu boolean", "resources: {cpu: true}", []string{"w.yaml:3:15: spec.resources.cpu: must be a quantity such as 500m or 0.5, not a boolean"}},
		{"unknown resource", "resources: {gpu: 1}", []string{"w.yaml:3:15: spec.resources.gpu: unknown field (did you mean \"cpu\"?)"}},
		{"resources not a mapping", "resources: 512Mi", []string{`w.yaml:3:14: spec.resources: must be a mapping, not a string`}},
		{"ioNice class", "ioNice: {class: low}", []string{`w.yaml:3:12: spec.ioNice.class: "low" is not one of best-effort, idle, realtime`}},
		{"ioNice no class", "ioNice: {level: 3}", []string{"w.yaml:3:11: spec.ioNice.class: required: best-effort, idle or realtime"}},
		{"ioNice level", "ioNice: {class: best-effort, level: 8}", []string{"w.yaml:3:32: spec.ioNice.level: must be between 0 and 7"}},
		{"ioNice idle level", "ioNice: {class: idle, level: 0}", []string{"w.yaml:3:25: spec.ioNice.level: the idle class has no levels"}},
		{"ioNice as a string", "ioNice: idle", []string{`w.yaml:3:11: spec.ioNice: must be a mapping, not a string`}},
		{"soft above hard", "limits: {nofile: {soft: 4096, hard: 1024}}", []string{"w.yaml:3:21: spec.limits.nofile.soft: 4096 is greater than hard 1024"}},
		{"soft unlimited above hard", "limits: {core: {soft: unlimited, hard: 1Gi}}", []string{"w.yaml:3:19: spec.limits.core.soft: unlimited is greater than hard 1Gi"}},
		{"soft only", "limits: {nofile: {soft: 4096}}", []string{"w.yaml:3:20: spec.limits.nofile.hard: required (or write one value for both)"}},
		{"unknown limit", "limits: {nofiles: 10}", []string{`w.yaml:3:12: spec.limits.nofiles: unknown field (did you mean "nofile"?)`}},
		{"unknown limit far off", "limits: {bandwidth: 10}", []string{"w.yaml:3:12: spec.limits.bandwidth: unknown field (known: as, core, cpu, data, fsize, memlock, msgqueue, nofile, nproc, rtprio, rttime, sigpending, stack)"}},
		{"ignored limits", "limits: {rss: 1Gi, locks: 10}", []string{
			"w.yaml:3:12: spec.limits.rss: Linux ignores it; resources.memory limits memory",
			"w.yaml:3:22: spec.limits.locks: Linux ignores it since 2.4.25"}},
		{"nofile unlimited", "limits: {nofile: unlimited}", []string{"w.yaml:3:12: spec.limits.nofile: cannot be unlimited: the kernel caps open files at fs.nr_open"}},
		{"nofile 0", "limits: {nofile: 0}", []string{"w.yaml:3:12: spec.limits.nofile: must be at least 1: with 0 the program cannot start"}},
		{"negative count", "limits: {nproc: -1}", []string{`w.yaml:3:12: spec.limits.nproc: "-1" is not a whole number or unlimited`}},
		{"count with unit", "limits: {nproc: 10k}", []string{`w.yaml:3:12: spec.limits.nproc: "10k" is not a whole number or unlimited`}},
		{"bad size", "limits: {stack: 8 megs}", []string{`w.yaml:3:12: spec.limits.stack: "8 megs" is not a size such as 64Ki or 8Mi, or unlimited`}},
		{"fractional size", "limits: {stack: 1.5}", []string{`w.yaml:3:12: spec.limits.stack: "1.5" is not a size such as 64Ki or 8Mi, or unlimited`}},
		{"infinity", "limits: {stack: infinity}", []string{`w.yaml:3:12: spec.limits.stack: "infinity" is not a size such as 64Ki or 8Mi, or unlimited`}},
		{"cpu seconds", "limits: {cpu: 1.5}", []string{"w.yaml:3:12: spec.limits.cpu: must be a whole number of seconds, at least 1s"}},
		{"cpu 0", "limits: {cpu: 0}", []string{"w.yaml:3:12: spec.limits.cpu: must be a whole number of seconds, at least 1s"}},
		{"rttime", "limits: {rttime: 1ns}", []string{"w.yaml:3:12: spec.limits.rttime: must be a whole number of microseconds, at least 1µs"}},
		{"limit list", "limits: [nofile]", []string{"w.yaml:3:11: spec.limits: must be a mapping, not a list"}},
		{"limit value boolean", "limits: {core: false}", []string{"w.yaml:3:12: spec.limits.core: must be a size such as 64Ki or 8Mi, or unlimited, not a boolean"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := "spec:\n  command: x\n  " + c.src + "\n"
			p, errs := Parse("w.yaml", []byte(src))
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

// TestRlimitUnits: every accepted name has a unit, and no ignored name is
// accepted.
func TestRlimitNames(t *testing.T) {
	names := RlimitNames()
	for i, n := range names {
		if i > 0 && names[i-1] >= n {
			t.Errorf("RlimitNames not sorted at %q", n)
		}
		if _, ignored := ignoredRlimit(n); ignored {
			t.Errorf("%q is both accepted and ignored", n)
		}
	}
	names[0] = "changed"
	if RlimitNames()[0] == "changed" {
		t.Error("RlimitNames shares its slice")
	}
}
