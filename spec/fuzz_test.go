package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
