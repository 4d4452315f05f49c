package reconciler

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/spec"
)

// LimitError is a start stopped by a limit of the daemon or the host, not
// by the program: the daemon out of file descriptors (EMFILE), the system
// out of them (ENFILE), no process to be had (EAGAIN from fork: pid_max,
// threads-max, RLIMIT_NPROC, a pids cgroup) or no memory for it (ENOMEM).
// Such a start does not count towards startRetries: the instance waits in
// BACKOFF and tries again, and its program reports the limit once
// (ResourceLimit), not once per instance and retry.
type LimitError struct {
	Limit string // what ran out, as the message names it: "open files", ...
	msg   string // the limit, its value and how to raise it
	err   error
}

func (e *LimitError) Error() string { return e.msg + ": " + e.err.Error() }

func (e *LimitError) Unwrap() error { return e.err }

// ReasonResourceLimit is the event a program gets once when a limit of
// the daemon or the host stops one of its starts.
const ReasonResourceLimit = "ResourceLimit"

// asLimitError returns err, the failed start of p, as a *LimitError when a
// limit of the daemon or the host caused it, with the limit's value read
// now; else err unchanged. EAGAIN and ENOMEM under the program's own
// resources.pids or resources.memory are its own failure, not the host's.
func asLimitError(err error, p *spec.Program) error {
	var errno syscall.Errno
	if err == nil || !errors.As(err, &errno) {
		return err
	}
	own := p.Spec.Resources
	if (errno == syscall.EAGAIN && own.Pids > 0) || (errno == syscall.ENOMEM && own.Memory > 0) {
		return err
	}
	var limit, msg string
	switch errno {
	case syscall.EMFILE:
		var r unix.Rlimit
		_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &r)
		limit = "open files"
		msg = fmt.Sprintf("the daemon's open-files limit is reached (RLIMIT_NOFILE soft %d, hard %d): raise it (LimitNOFILE= under systemd, ulimit -n before `reconciled run`)", r.Cur, r.Max)
	case syscall.ENFILE:
		limit = "open files"
		msg = fmt.Sprintf("the system's open-files limit is reached (fs.file-max %s): raise it (sysctl fs.file-max)", sysctl("fs/file-max"))
	case syscall.EAGAIN:
		var r unix.Rlimit
		_ = unix.Getrlimit(unix.RLIMIT_NPROC, &r)
		limit = "processes"
		msg = fmt.Sprintf("no new process can be made (kernel.pid_max %s, kernel.threads-max %s, RLIMIT_NPROC of the user it runs as (the daemon's soft %s), or the daemon's cgroup's pids.max): raise it (TasksMax= or LimitNPROC= under systemd, sysctl kernel.pid_max)",
			sysctl("kernel/pid_max"), sysctl("kernel/threads-max"), rlimitText(r.Cur))
	case syscall.ENOMEM:
		limit = "memory"
		msg = "the host is out of memory for a new process (see vm.overcommit_memory and the daemon's own cgroup memory.max)"
	default:
		return err
	}
	return &LimitError{Limit: limit, msg: msg, err: err}
}

// raiseNofile makes sure the daemon's soft limit on open files is its hard
// limit (each instance costs the daemon a few descriptors: pipes, a pidfd,
// its cgroup) and logs both. The Go runtime raises it at start already
// (and gives what os/exec starts the original back); prlimit, not
// setrlimit, keeps that bookkeeping as it is.
func raiseNofile(log logr.Logger) {
	var r unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &r); err != nil {
		log.Error(err, "Cannot read the open-files limit")
		return
	}
	if r.Cur < r.Max {
		raised := unix.Rlimit{Cur: r.Max, Max: r.Max}
		if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &raised, nil); err != nil {
			log.Error(err, "Cannot raise the open-files limit to the hard limit", "soft", rlimitText(r.Cur), "hard", rlimitText(r.Max))
		} else {
			r = raised
		}
	}
	log.Info("Open-files limit (RLIMIT_NOFILE)", "soft", rlimitText(r.Cur), "hard", rlimitText(r.Max))
}

// sysctl reads /proc/sys/NAME, or "?".
func sysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

func rlimitText(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return fmt.Sprint(v)
}
