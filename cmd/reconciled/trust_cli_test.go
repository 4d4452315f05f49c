package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate as root checks as a root daemon would: the mode rule and the
// owner rule; --trust-all-owners turns the owner rule off.
func TestValidateAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the privilege policy applies to root")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.yaml")
	write := func(content string, mode os.FileMode, uid int) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	const spec = "spec:\n  command: [sleep, \"1\"]\n"
	write(spec+"  user: root\n", 0o644, 0)
	if res := cmdRun(t, "validate", path); res.code != 0 {
		t.Fatalf("root's manifest naming root: %v", res)
	}
	write(spec+"  user: root\n", 0o644, 65534)
	res := cmdRun(t, "validate", path)
	if want := path + ":3:3: spec.user: names uid 0: a manifest owned by uid 65534 runs only as that user"; res.code != 1 || !strings.HasPrefix(res.stdout, want) {
		t.Fatalf("nobody's manifest naming root: %v\nwant %s", res, want)
	}
	if res := cmdRun(t, "validate", "--trust-all-owners", path); res.code != 0 {
		t.Fatalf("--trust-all-owners: %v", res)
	}
	write(spec, 0o666, 65534)
	res = cmdRun(t, "validate", "--trust-all-owners", path)
	if want := path + ": file " + path + ": mode 0666 owner uid 65534: writable by group or other\n"; res.code != 1 || res.stdout != want {
		t.Fatalf("a 0666 manifest: %v\nwant %s", res, want)
	}
}

// apply as root refuses what a root daemon would.
func TestApplyAsRootRefusesInsecureDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the privilege policy applies to root")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(src, []byte("spec:\n  command: [sleep, \"1\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := cmdRun(t, "apply", "--dir", dir, "-f", src)
	if res.code != 1 || !strings.Contains(res.stderr, "a daemon running as root would refuse it, nothing was written: directory "+dir+": mode 0777") {
		t.Fatalf("apply into a 0777 directory: %v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "web.yaml")); err == nil {
		t.Fatal("the refused manifest was written")
	}
}
