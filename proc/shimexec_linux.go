package proc

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// memoryLimits are the limits of a start that bind the shim's own memory,
// RLIMIT_AS and RLIMIT_DATA. Set with the others, before the credential,
// they would apply to what the shim still does before exec (parse the
// credential, set the groups, copy the environment, build exec's argument
// arrays), and an allocation there may need memory the Go runtime can no
// longer map: the shim then dies ("fatal error: runtime: cannot allocate
// memory") before the program runs, now and then, by the state of its
// heap. So execLimited sets them last, right before the exec.
type memoryLimits []Rlimit

// splitMemoryLimits returns the limits of ls that do not bind the shim's
// memory, and those that do.
func splitMemoryLimits(ls []Rlimit) (rest []Rlimit, mem memoryLimits) {
	for _, l := range ls {
		if l.Resource == unix.RLIMIT_AS || l.Resource == unix.RLIMIT_DATA {
			mem = append(mem, l)
		} else {
			rest = append(rest, l)
		}
	}
	return rest, mem
}

// raiseHard raises, while the shim may still be privileged, each hard limit
// of m that is above the current one, and leaves the soft limit as it is:
// nothing binds more than before. Lowering a limit needs no privilege, so
// execLimited can set m after the credential has dropped it.
func (m memoryLimits) raiseHard() error {
	for _, l := range m {
		var cur unix.Rlimit
		if err := unix.Getrlimit(l.Resource, &cur); err != nil {
			return rlimitError(l, err)
		}
		if l.Hard <= cur.Max {
			continue
		}
		if err := unix.Setrlimit(l.Resource, &unix.Rlimit{Cur: min(cur.Cur, l.Hard), Max: l.Hard}); err != nil {
			return rlimitError(l, err)
		}
	}
	return nil
}

// execLimited sets m and execs path with argv and env. Everything exec
// needs, and the message of each way it can fail, is made first; from the
// first limit on, nothing allocates: raw system calls set the limits and
// exec. A failure then is written to stderr and the shim exits 127 there
// and then, as MaybeRunShim does, without formatting anything.
//
// syscall.Exec is not used: it builds its argument arrays itself, after
// the limits. What else it does before execve does not apply here: the
// RLIMIT_NOFILE it would restore is the one the shim inherited, already at
// its hard limit (the daemon raises its own), and no thread of the shim is
// being made while its one goroutine, locked to this thread, execs.
func execLimited(path string, argv, env []string, m memoryLimits) error {
	pathp, err := syscall.BytePtrFromString(path)
	if err != nil {
		return &os.PathError{Op: "exec", Path: path, Err: err}
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return &os.PathError{Op: "exec", Path: path, Err: err}
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return &os.PathError{Op: "exec", Path: path, Err: err}
	}
	lims := make([]unix.Rlimit, len(m))
	failed := make([][]byte, len(m))
	for i, l := range m {
		lims[i] = unix.Rlimit{Cur: l.Soft, Max: l.Hard}
		failed[i] = []byte(shimMarker + ": " + setrlimitText(l) + ": ")
	}
	execFailed := []byte(shimMarker + ": exec " + path + ": ")
	for i, l := range m {
		_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(l.Resource), uintptr(unsafe.Pointer(&lims[i])), 0, 0, 0)
		if e != 0 {
			rawExit(failed[i], e)
		}
	}
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(pathp)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	rawExit(execFailed, e)
	return nil // not reached
}

// rawExit writes prefix, e's text and a newline to stderr and exits 127,
// by raw system calls: it allocates nothing (an Errno's text is a constant
// of the syscall package's table).
func rawExit(prefix []byte, e unix.Errno) {
	rawWrite(prefix)
	msg := e.Error()
	rawWrite(unsafe.Slice(unsafe.StringData(msg), len(msg)))
	rawWrite(newline)
	unix.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
}

var newline = []byte{'\n'}

func rawWrite(b []byte) {
	if len(b) > 0 {
		unix.RawSyscall(unix.SYS_WRITE, 2, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	}
}
