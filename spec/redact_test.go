package spec

import "testing"

func TestRedact(t *testing.T) {
	templates := []string{"/opt/$(TOKEN)/bin/x", "--port=800$(RECONCILED_INSTANCE)", "$(RECONCILED_INSTANCE)", "plain", "$(A)"}
	expanded := []string{"/opt/s3cr3t-v4lue/bin/x", "--port=8001", "1", "plain", "s3cr3t-v4lue"}
	for _, c := range []struct{ in, want string }{
		{`start w-1: exec: "/opt/s3cr3t-v4lue/bin/x": no such file or directory`, `start w-1: exec: "/opt/$(TOKEN)/bin/x": no such file or directory`},
		{`exec: "s3cr3t-v4lue": executable file not found in $PATH`, `exec: "$(A)": executable file not found in $PATH`},
		{"listen --port=8001: in use", "listen --port=800$(RECONCILED_INSTANCE): in use"},
		{"exited with code 1 (plain)", "exited with code 1 (plain)"}, // short and unchanged values stay
	} {
		if got := Redact(c.in, templates, expanded); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := Redact("x", nil, nil); got != "x" {
		t.Errorf("Redact without pairs = %q", got)
	}
}
