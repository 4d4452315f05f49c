package reconciler

import (
	"os"
	"path/filepath"
	"testing"
)

// A claim is a file named after the program: a name that is not a
// program's (it may come from a process's environment) is refused and no
// file outside locks/ is created or removed.
func TestClaimRefusesPaths(t *testing.T) {
	state := t.TempDir()
	victim := filepath.Join(state, "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := newClaims(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../victim", "../../etc/x", "", "a/b", "UPPER"} {
		if ok, _, err := c.claim(name); ok || err == nil {
			t.Errorf("claim(%q) = %v, %v; want refused", name, ok, err)
		}
		c.release(name)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep\n" {
		t.Errorf("the file beside locks/ was touched: %q, %v", b, err)
	}
	if ok, _, err := c.claim("web"); !ok || err != nil {
		t.Errorf("claim(web) = %v, %v", ok, err)
	}
	c.releaseAll()
}
