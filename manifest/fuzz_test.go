package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/spec"
)

// FuzzList puts files of arbitrary names in a directory and checks List
// against the name rule (spec.Classify): every manifest is listed once, as
// a file or in a duplicate, nothing else is, and bad names are reported.
func FuzzList(f *testing.F) {
	for _, s := range []string{"web.yaml\ndb.yml\n.hidden.yaml\nweb.yaml~", "a.yaml\na.yml\nA.yaml",
		"x.status.yaml\nx.events.jsonl\n.x.status.yaml.tmp-1\nx.yaml", "4913\n#x.yaml#\nx.yaml.bak\n-x.yaml"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, names string) {
		dir := t.TempDir()
		created := map[string]bool{}
		for _, n := range strings.Split(names, "\n") {
			if n == "" || n == "." || n == ".." || len(n) > 255 || strings.ContainsAny(n, "/\x00") || created[n] {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, n), []byte("spec: {command: x}\n"), 0o644); err != nil {
				continue // a name the file system refuses
			}
			created[n] = true
		}
		l, err := NewDir(dir).List()
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]int{}
		for _, fl := range l.Files {
			listed[fl.Base]++
			if k, name := spec.Classify(fl.Base); k != spec.Manifest || name != fl.Name {
				t.Fatalf("listed %q as %q, Classify says %v %q", fl.Base, fl.Name, k, name)
			}
		}
		for _, d := range l.Duplicates {
			for _, b := range d.Bases {
				listed[b]++
			}
		}
		for n := range created {
			k, _ := spec.Classify(n)
			if (k == spec.Manifest) != (listed[n] == 1) || listed[n] > 1 {
				t.Fatalf("%q: classified %v, listed %d times", n, k, listed[n])
			}
			if (k == spec.BadName) != slices.Contains(l.BadNames, n) {
				t.Fatalf("%q: classified %v, bad names %v", n, k, l.BadNames)
			}
		}
		if len(l.Problems) != 0 {
			t.Fatalf("regular files reported as problems: %v", l.Problems)
		}
	})
}
