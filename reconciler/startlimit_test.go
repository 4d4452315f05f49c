package reconciler

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/spec"
)

// A start stopped by a limit becomes a LimitError that names the limit,
// its value and how to raise it, keeps the errno and the (redacted)
// message; any other start error is left as it is.
func TestAsLimitError(t *testing.T) {
	for _, c := range []struct {
		err   error
		limit string
		says  []string
	}{
		{fmt.Errorf("pipe: %w", syscall.EMFILE), "open files", []string{"RLIMIT_NOFILE soft ", "LimitNOFILE=", "pipe: too many open files"}},
		{&redactedError{msg: "exec $(CMD): resource temporarily unavailable", err: fmt.Errorf("fork: %w", syscall.EAGAIN)}, "processes",
			[]string{"kernel.pid_max ", "TasksMax=", "exec $(CMD): resource temporarily unavailable"}},
		{fmt.Errorf("open: %w", syscall.ENFILE), "open files", []string{"fs.file-max ", "too many open files in system"}},
		{fmt.Errorf("fork: %w", syscall.ENOMEM), "memory", []string{"out of memory"}},
	} {
		var le *LimitError
		if !errors.As(asLimitError(c.err, &spec.Program{}), &le) {
			t.Errorf("%v: not a LimitError", c.err)
			continue
		}
		if le.Limit != c.limit {
			t.Errorf("%v: limit %q, want %q", c.err, le.Limit, c.limit)
		}
		for _, want := range c.says {
			if !strings.Contains(le.Error(), want) {
				t.Errorf("%q lacks %q", le.Error(), want)
			}
		}
		if strings.Contains(le.Error(), "fork:") && strings.Contains(c.err.Error(), "$(CMD)") {
			t.Errorf("%q shows the unredacted error", le.Error())
		}
		var errno syscall.Errno
		if !errors.As(le, &errno) {
			t.Errorf("%v: the errno is lost", c.err)
		}
	}
	for _, err := range []error{nil, errors.New("no such file"), fmt.Errorf("exec: %w", syscall.ENOENT)} {
		if got := asLimitError(err, &spec.Program{}); got != err {
			t.Errorf("%v became %v", err, got)
		}
	}
	// Under the program's own resources, EAGAIN and ENOMEM are its failure.
	own := &spec.Program{Spec: spec.ProgramSpec{Resources: spec.Resources{Pids: 10, Memory: 1 << 20}}}
	for _, err := range []error{fmt.Errorf("fork: %w", syscall.EAGAIN), fmt.Errorf("fork: %w", syscall.ENOMEM)} {
		if got := asLimitError(err, own); got != err {
			t.Errorf("%v under the program's own resources became %v", err, got)
		}
	}
}
