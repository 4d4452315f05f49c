package spec

import "testing"

func TestDaemonFile(t *testing.T) {
	cases := map[string]bool{
		"web.status.yaml": true, "web.events.jsonl": true, "web.events.jsonl.1": true,
		".web.status.yaml.tmp-123": true,
		"web.yaml":                 false, "web.yml": false, ".web.yaml.tmp-1": false, "..data": false,
		"web.events.jsonl.2": false, "status.yml": false,
	}
	for base, want := range cases {
		if got := DaemonFile(base); got != want {
			t.Errorf("DaemonFile(%q) = %v, want %v", base, got, want)
		}
		if DaemonFile(base) {
			if kind, _ := Classify(base); kind != Ignored {
				t.Errorf("Classify(%q) = %v: a daemon file is never a manifest", base, kind)
			}
		}
	}
}

// TestManifestFileNames: every name it returns is a manifest of name.
func TestManifestFileNames(t *testing.T) {
	for _, name := range []string{"web", "a_b-1", "x"} {
		files := ManifestFileNames(name)
		if len(files) != 2 || files[0] != name+".yaml" {
			t.Errorf("ManifestFileNames(%q) = %v", name, files)
		}
		for _, f := range files {
			if kind, got := Classify(f); kind != Manifest || got != name {
				t.Errorf("Classify(%q) = %v %q, want Manifest %q", f, kind, got, name)
			}
		}
	}
}
