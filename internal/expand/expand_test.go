package expand

import "testing"

// The full table of rules lives in spec's TestExpand, which goes through
// spec.Expand to here; this checks the package on its own.
func TestString(t *testing.T) {
	lookup := Lookup([]string{"PORT=8080", "EMPTY=", "PORT2=$(PORT)", "DUP=a", "DUP=b"})
	cases := map[string]string{
		"--port=$(PORT)": "--port=8080",
		"$$(PORT)":       "$(PORT)",
		"$(MISSING)":     "$(MISSING)",
		"$(EMPTY)x":      "x",
		"$(PORT":         "$(PORT",
		"$(PORT2)":       "$(PORT)", // one pass, never recursive
		"$(DUP)":         "b",
	}
	for in, want := range cases {
		if got := String(in, lookup); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}
