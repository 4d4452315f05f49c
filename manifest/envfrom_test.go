package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/spec"
)

func parseEnvFrom(t *testing.T, entries string) *spec.Program {
	t.Helper()
	p, errs := spec.Parse("web.yaml", []byte("spec:\n  command: x\n  envFrom:\n"+entries))
	if errs != nil {
		t.Fatal(errs)
	}
	return p
}

func TestLoadEnvFrom(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, ".env"), "A=1\nB=2\n")
	write(filepath.Join(other, "prod.env"), "B=prod\n")
	p := parseEnvFrom(t, "  - file: .env\n  - file: "+filepath.Join(other, "prod.env")+"\n")

	got, files, err := LoadEnvFrom(dir, "web.yaml", p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.EnvFromVars["A"] != "1" || got.EnvFromVars["B"] != "prod" || len(got.EnvFromVars) != 2 {
		t.Errorf("vars %v", got.EnvFromVars)
	}
	if len(files) != 2 || files[0].Path != filepath.Join(dir, ".env") || files[1].Path != filepath.Join(other, "prod.env") ||
		files[0].Info == nil || files[1].Info == nil {
		t.Errorf("files %+v", files)
	}
	if p.EnvFromVars != nil {
		t.Error("LoadEnvFrom changed its argument")
	}

	// The hash a command computes is the daemon's.
	if h := Hashes(filepath.Join(dir, "web.yaml"), p)[0]; h != spec.Hash(got) {
		t.Errorf("Hashes %s, want the hash with the files' variables %s", h, spec.Hash(got))
	}

	// A missing file, a FIFO (not waited on) and bad syntax: located at the
	// entry, values never quoted.
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.env"), 0o600); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "bad.env"), "A=1\nTOKEN='s3cr3t\n")
	p = parseEnvFrom(t, "  - file: missing.env\n  - file: fifo.env\n  - file: bad.env\n")
	_, files, err = LoadEnvFrom(dir, "web.yaml", p, nil)
	want := []string{
		"web.yaml:4:5: spec.envFrom[0].file: cannot read " + filepath.Join(dir, "missing.env") + ": no such file or directory",
		"web.yaml:5:5: spec.envFrom[1].file: cannot read " + filepath.Join(dir, "fifo.env") + ": not a regular file",
		"web.yaml:6:5: spec.envFrom[2].file: bad.env:2: TOKEN: no closing '",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("error:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if len(files) != 3 || files[0].Info != nil || files[2].Info == nil {
		t.Errorf("files %+v", files)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Error("the error quotes a value")
	}

	// Without envFrom: the same program, no files.
	plain, _ := spec.Parse("w.yaml", []byte("spec:\n  command: x\n"))
	if got, files, err := LoadEnvFrom(dir, "w.yaml", plain, nil); got != plain || files != nil || err != nil {
		t.Errorf("without envFrom: %p %v %v", got, files, err)
	}
}

// Under the privilege policy an env file is held to a manifest's rules.
func TestEnvFileCheck(t *testing.T) {
	pol := Policy{DaemonUID: 0}
	for _, c := range []struct {
		name  string
		fs    fakeFS
		owner uint32
		want  string // "" for allowed
	}{
		{"root's", withBase(fakeFS{"/etc/r/.env": "f 600 0"}), 0, ""},
		{"the manifest owner's", withBase(fakeFS{"/etc/r/.env": "f 600 1000"}), 1000, ""},
		{"another user's", withBase(fakeFS{"/etc/r/.env": "f 600 1000"}), 0,
			"file /etc/r/.env: mode 0600 owner uid 1000: not owned by root"},
		{"writable by others", withBase(fakeFS{"/etc/r/.env": "f 666 0"}), 0,
			"file /etc/r/.env: mode 0666 owner uid 0: writable by group or other"},
		{"in a writable directory", withBase(fakeFS{"/etc/r": "d 777 0", "/etc/r/.env": "f 600 0"}), 0,
			"directory /etc/r: mode 0777 owner uid 0: writable by group or other"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := pol.EnvFileCheck(c.fs, c.owner)("/etc/r/.env")
			var te *TrustError
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (!errors.As(err, &te) || te.Reason != ReasonInsecureFile || te.Message != c.want):
				t.Errorf("got %v, want InsecureFile %q", err, c.want)
			}
		})
	}

	// LoadEnvFrom passes the refusal on as a TrustError, located.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte("A=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	refuse := func(string) error { return &TrustError{Reason: ReasonInsecureFile, Message: "file .env: writable"} }
	_, _, err := LoadEnvFrom(dir, "web.yaml", parseEnvFrom(t, "  - file: .env\n"), refuse)
	var te *TrustError
	if !errors.As(err, &te) || te.Reason != ReasonInsecureFile || te.Message != "web.yaml:4:5: spec.envFrom[0].file: file .env: writable" {
		t.Errorf("got %v", err)
	}
}
