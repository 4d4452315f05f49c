package reconciler

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/spec"
)

func TestRedactStart(t *testing.T) {
	p, errs := spec.Parse("w.yaml", []byte(`spec:
  command: ["/opt/$(TOKEN)/bin/x", "--token=$(TOKEN)"]
  env: {TOKEN: s3cr3t-v4lue}
  stdout: {file: "/logs/$(TOKEN).log"}
`))
	if errs != nil {
		t.Fatal(errs)
	}
	env := spec.InstanceEnv(p, 0, nil)
	argv := spec.InstanceCommand(p, env)
	cause := &fs.PathError{Op: "open", Path: "/logs/s3cr3t-v4lue.log", Err: fs.ErrNotExist}
	for _, err := range []error{
		errors.New(`start w-0: exec: "/opt/s3cr3t-v4lue/bin/x": no such file or directory`),
		cause,
	} {
		got := redactStart(err, p, argv, env)
		if strings.Contains(got.Error(), "s3cr3t") || !strings.Contains(got.Error(), "$(TOKEN)") || !errors.Is(got, err) {
			t.Errorf("redactStart(%v) = %v", err, got)
		}
	}
	if !errors.Is(redactStart(cause, p, argv, env), fs.ErrNotExist) {
		t.Errorf("the cause is lost")
	}
	plain := errors.New("start w-0: no such user")
	if got := redactStart(plain, p, argv, env); got != plain {
		t.Errorf("an error without expanded values was rewrapped: %v", got)
	}
	if redactStart(nil, p, argv, env) != nil {
		t.Errorf("nil is not nil")
	}
}
