package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to Parse: it must return a program or
// located errors, never panic, and a program must hash.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, path := range append(seeds, more...) {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{"", "spec: {command: x}", "spec:\n  command: [a\n", "x: &a [*a]\n", "---\n---\n", "spec: {command: \"$(A)\", env: {A: $(A)}}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, errs := Parse("fuzz.yaml", data)
		if (p == nil) == (errs == nil) {
			t.Fatalf("want exactly one of program and errors: %v %v", p, errs)
		}
		for _, e := range errs {
			if e.Line < 1 || e.Column < 1 || !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
				t.Fatalf("unlocated error %q", e.Error())
			}
		}
		if p != nil {
			Hash(p)
			InstanceCommand(p, InstanceEnv(p, 0, nil))
		}
	})
}

// FuzzEdit feeds arbitrary manifests and values to the comment-preserving
// editor: an edit either fails or gives a manifest that decodes to the old
// program with exactly the one field changed.
func FuzzEdit(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	for _, path := range seeds {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data, 3, "2026-11-22T10:00:00Z")
		}
	}
	for _, s := range []string{
		"spec: {command: x}\n",
		"# c\nspec:\n  command: x # c\n  replicas: 2 # keep\n",
		"spec:\n  command: x\n  replicas:\n",
		"metadata: {annotations: {a: b}}\nspec: {command: x, desired: stopped}\n",
		"spec:\r\n  command: x\r\n  replicas: 1\r\n",
		"spec: &s {command: x, replicas: &r 1}\n",
		"metadata:\n  annotations:\n    reconciled.dev/restartedAt: 'old'\nspec:\n  command: [a, \"b\"]\n",
	} {
		f.Add([]byte(s), 0, "x\ny: 'z\"")
		f.Add([]byte(s), 10000, "")
	}
	f.Fuzz(func(t *testing.T, data []byte, n int, value string) {
		_, errs := Parse("fuzz.yaml", data)
		n = int(uint(n) % 10001)
		edits := []struct {
			name  string
			edit  func([]byte) ([]byte, error)
			apply func(*Program)
		}{
			{"replicas", func(b []byte) ([]byte, error) { return SetReplicas(b, n) }, func(p *Program) { p.Spec.Replicas = n }},
			{"desired", func(b []byte) ([]byte, error) { return SetDesired(b, DesiredStopped) }, func(p *Program) { p.Spec.Desired = DesiredStopped }},
			{"annotation", func(b []byte) ([]byte, error) { return SetAnnotation(b, RestartedAtAnnotation, value) }, func(p *Program) {
				if p.Metadata.Annotations == nil {
					p.Metadata.Annotations = map[string]string{}
				}
				p.Metadata.Annotations[RestartedAtAnnotation] = value
			}},
		}
		for _, e := range edits {
			out, err := e.edit(data)
			if err != nil || errs != nil {
				continue // refusing is fine; an invalid file is never edited by the store
			}
			got, gerrs := Parse("fuzz.yaml", out)
			if gerrs != nil {
				// The value itself may be what a manifest cannot hold.
				if e.name == "annotation" && (!utf8.ValidString(value) || strings.ContainsRune(value, 0)) {
					continue
				}
				t.Fatalf("%s: the edit made a valid manifest invalid: %v\n--- before\n%s\n--- after\n%s", e.name, gerrs, data, out)
			}
			want, _ := Parse("fuzz.yaml", data)
			e.apply(want)
			// Warnings are located: an inserted line moves them.
			got.Warnings, want.Warnings = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: the edit changed more than the field:\n got %+v\nwant %+v\n--- before\n%s\n--- after\n%s", e.name, got, want, data, out)
			}
		}
	})
}

// FuzzClassify checks the name rule against its own promises: a manifest
// name has a valid stem and is the name ManifestFileNames gives; the
// daemon's own files and hidden names are never manifests; a bad name is a
// .yaml or .yml file whose stem is not valid.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"web.yaml", "db.yml", ".web.yaml", "web.yaml~", "web.status.yaml", "web.events.jsonl",
		"web.events.jsonl.1", ".web.status.yaml.tmp-123", "Web.yaml", "a.b.yaml", "4913", "#x.yaml#", "x.yaml.dpkg-new",
		"-x.yaml", strings.Repeat("a", 63) + ".yaml", strings.Repeat("a", 64) + ".yml", ".yaml", "x.YAML", "x/y.yaml", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, base string) {
		kind, name := Classify(base)
		switch kind {
		case Manifest:
			if !ValidName(name) || !slices.Contains(ManifestFileNames(name), base) {
				t.Fatalf("Classify(%q) = manifest %q, which does not name the file", base, name)
			}
			if DaemonFile(base) || strings.HasPrefix(base, ".") || strings.ContainsAny(base, "/\x00") {
				t.Fatalf("Classify(%q) = manifest, but it is hidden, the daemon's or a path", base)
			}
		case BadName:
			ext := filepath.Ext(base)
			if (ext != ".yaml" && ext != ".yml") || ValidName(strings.TrimSuffix(base, ext)) {
				t.Fatalf("Classify(%q) = bad name %q", base, name)
			}
		case Ignored:
			if name != "" {
				t.Fatalf("Classify(%q) = ignored with a name %q", base, name)
			}
		}
		if DaemonFile(base) && kind != Ignored {
			t.Fatalf("Classify(%q) = %v for a file of the daemon's", base, kind)
		}
		// What the daemon writes for a program is its own, whatever the name.
		if ValidName(base) {
			for _, own := range []string{base + ".status.yaml", base + ".events.jsonl", base + ".events.jsonl.1", "." + base + ".status.yaml.tmp-42"} {
				if !DaemonFile(own) {
					t.Fatalf("DaemonFile(%q) = false", own)
				}
			}
			for _, m := range ManifestFileNames(base) {
				if k, n := Classify(m); k != Manifest || n != base {
					t.Fatalf("Classify(%q) = %v %q, want a manifest of %q", m, k, n, base)
				}
			}
		}
	})
}
