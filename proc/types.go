package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Credential is the identity an instance runs as.
type Credential struct {
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups; empty clears them
}

// Spec describes one process to start.
type Spec struct {
	// Name is used in errors and logs only (e.g. "worker-0"). Empty means the
	// base name of Argv[0].
	Name string
	// Argv[0] is looked up in the PATH of Env (not the daemon's), or relative
	// to Dir if it contains a '/'. An absolute Argv[0] is used as is, with no
	// lookup cost.
	Argv []string
	// Path, when set, is the executable Argv[0] names, resolved by the
	// caller (see LookPath) for instance once per spec: Start then does no
	// lookup, and Argv[0] is passed to the process as it is.
	Path string
	// Env is the whole environment of the process; nil means an empty one.
	Env []string
	// Dir is the working directory; empty means the daemon's.
	Dir string
	// Credential, when not nil, sets uid, gid and supplementary groups. It needs
	// a privileged daemon.
	Credential *Credential
	// Umask, Nice, IONice and Rlimits, when set, are applied by the exec
	// shim (see MaybeRunShim), which costs one extra exec of the daemon
	// binary. Pass nil for "not set" rather than a default value.
	Umask *uint32
	Nice  *int
	// IONice is the I/O scheduling class and level (ioprio_set(2)).
	IONice *IONice
	// Rlimits are resource limits (setrlimit(2)), each resource at most
	// once; resources not listed keep the daemon's limits.
	Rlimits []Rlimit
	// Cgroup, when set, is the instance's cgroup: the child enters it
	// before anything of the program runs, so nothing it forks can start
	// outside it; a failure fails the start.
	Cgroup *Cgroup
	// ReapAtExit reaps the leader as soon as its exit is observed rather
	// than at Release, for a caller that knows the group by other means
	// than its pgid (its cgroup): the zombie then pins no pid. Once the
	// exit is observed SignalGroup fails with ErrReleased, as the pgid may
	// soon name another group; Wait, OnExit and the group's waits work as
	// ever, and Release closes the pidfd.
	ReapAtExit bool
	// Stdin, Stdout and Stderr are given to the child; nil means /dev/null. As
	// with os/exec, a file passed here is put into blocking mode (the child must
	// not inherit O_NONBLOCK).
	Stdin, Stdout, Stderr *os.File
}

// Cgroup is where a child starts: a v2 cgroup, and perhaps cgroups of v1
// hierarchies. The fork server clones the child straight into Dir
// (clone3 CLONE_INTO_CGROUP, Linux 5.7), and the child writes itself into
// each of Procs before exec; without the fork server the exec shim writes
// itself into Dir's cgroup.procs and Procs, the first thing it does.
type Cgroup struct {
	Dir   string   // the v2 cgroup's directory
	Procs []string // cgroup.procs files of v1 cgroups
}

// procsFiles returns every cgroup.procs file a process writes itself into
// to enter c, the v2 one first.
func (c *Cgroup) procsFiles() []string {
	return append([]string{c.Dir + "/cgroup.procs"}, c.Procs...)
}

// IOClass is an I/O scheduling class of ioprio_set(2) (IOPRIO_CLASS_*).
type IOClass int

// The I/O scheduling classes.
const (
	IOClassRealtime   IOClass = 1
	IOClassBestEffort IOClass = 2
	IOClassIdle       IOClass = 3
)

// IONice is an I/O scheduling class and level. Level is 0 (served first) to
// 7 for IOClassRealtime and IOClassBestEffort, and 0 for IOClassIdle, which
// has no levels. IOClassRealtime needs a privileged daemon.
type IONice struct {
	Class IOClass
	Level int
}

// RlimInfinity is RLIM_INFINITY, the Rlimit value for "no limit".
const RlimInfinity = ^uint64(0)

// Rlimit is one resource limit: Resource is a unix.RLIMIT_* value (see
// RlimitResource), Soft and Hard are in the kernel's units, Soft <= Hard.
// Raising Hard above the daemon's needs a privileged daemon.
type Rlimit struct {
	Resource   int
	Soft, Hard uint64
}

// ExitStatus is how a process ended.
type ExitStatus struct {
	// Code is the exit code, or -1 when the process was killed by Signal.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
	// CoreDumped tells that the signal made the process dump core.
	CoreDumped bool
}

// Success reports whether the process exited with code 0.
func (s ExitStatus) Success() bool { return s.Signal == 0 && s.Code == 0 }

// String returns "exit code 1" or "signal TERM".
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		str := "signal " + SignalName(s.Signal)
		if s.CoreDumped {
			str += " (core dumped)"
		}
		return str
	}
	return "exit code " + strconv.Itoa(s.Code)
}

// SignalName returns the short name of sig ("TERM"), or its number when it has
// no name.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return strconv.Itoa(int(sig))
}

// Sentinel errors; check them with errors.Is.
var (
	// ErrReleased is returned when a Process is used after Release.
	ErrReleased = errors.New("process released")
	// ErrNotExited is returned by Release while the leader still runs.
	ErrNotExited = errors.New("process has not exited")
	// ErrClosed is returned by Start after Starter.Close.
	ErrClosed = errors.New("starter closed")
)
