package proc

// I/O priority and resource limits: their names, their checks, their
// encoding in the shim's argv, and applying them in the shim.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ioprio_set(2)'s constants, which golang.org/x/sys/unix does not have.
const (
	ioprioWhoProcess = 1
	ioprioClassShift = 13
)

// rlimitNames are the resources a Spec may limit, under the names of
// limits.conf(5) and docker's --ulimit (spec.RlimitNames). RLIMIT_RSS and
// RLIMIT_LOCKS are left out: Linux does not enforce them.
func rlimitNames() map[string]int {
	return map[string]int{
		"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU,
		"data": unix.RLIMIT_DATA, "fsize": unix.RLIMIT_FSIZE, "memlock": unix.RLIMIT_MEMLOCK,
		"msgqueue": unix.RLIMIT_MSGQUEUE, "nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC,
		"rtprio": unix.RLIMIT_RTPRIO, "rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING,
		"stack": unix.RLIMIT_STACK,
	}
}

// RlimitResource returns the unix.RLIMIT_* value of a limit named as in
// limits.conf(5) ("nofile", "stack", ...), and false for a name it does not
// take.
func RlimitResource(name string) (int, bool) {
	r, ok := rlimitNames()[name]
	return r, ok
}

// rlimitName is the name of resource r, and false for one a Spec may not
// limit.
func rlimitName(r int) (string, bool) {
	for name, res := range rlimitNames() {
		if res == r {
			return name, true
		}
	}
	return "resource " + strconv.Itoa(r), false
}

// IOClassByName returns the class ionice(1) names "realtime", "best-effort"
// or "idle", and false for any other name.
func IOClassByName(name string) (IOClass, bool) {
	switch name {
	case "realtime":
		return IOClassRealtime, true
	case "best-effort":
		return IOClassBestEffort, true
	case "idle":
		return IOClassIdle, true
	}
	return 0, false
}

func (c IOClass) String() string {
	switch c {
	case IOClassRealtime:
		return "realtime"
	case IOClassBestEffort:
		return "best-effort"
	case IOClassIdle:
		return "idle"
	}
	return "class " + strconv.Itoa(int(c))
}

// ioprio is the kernel's encoding of n: class and level in one number.
func (n IONice) ioprio() int { return int(n.Class)<<ioprioClassShift | n.Level }

// checkLimits refuses before the fork what the shim could only fail at: an
// impossible class or level, an unknown resource, soft above hard, a
// resource listed twice.
func checkLimits(spec Spec) error {
	if n := spec.IONice; n != nil {
		switch {
		case n.Class < IOClassRealtime || n.Class > IOClassIdle:
			return fmt.Errorf("ionice: unknown %v", n.Class)
		case n.Level < 0 || n.Level > 7:
			return fmt.Errorf("ionice %v: level %d is not between 0 and 7", n.Class, n.Level)
		case n.Class == IOClassIdle && n.Level != 0:
			return errors.New("ionice idle: the idle class has no levels")
		}
	}
	seen := map[int]bool{}
	for _, l := range spec.Rlimits {
		name, known := rlimitName(l.Resource)
		switch {
		case !known:
			return fmt.Errorf("rlimit: unknown %s", name)
		case l.Soft > l.Hard:
			return fmt.Errorf("rlimit %s: soft %d is greater than hard %d", name, l.Soft, l.Hard)
		case seen[l.Resource]:
			return fmt.Errorf("rlimit %s: given twice", name)
		}
		seen[l.Resource] = true
	}
	return nil
}

// needsShim reports whether spec sets anything only the shim applies.
func needsShim(spec Spec) bool {
	return spec.Umask != nil || spec.Nice != nil || spec.IONice != nil || len(spec.Rlimits) > 0
}

// ioNiceArg encodes n for the shim's argv as "CLASS.LEVEL", "-" for nil.
func ioNiceArg(n *IONice) string {
	if n == nil {
		return "-"
	}
	return strconv.Itoa(int(n.Class)) + "." + strconv.Itoa(n.Level)
}

// rlimitsArg encodes ls for the shim's argv as "RES:SOFT:HARD,...", "-" for
// none.
func rlimitsArg(ls []Rlimit) string {
	if len(ls) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d:%d", l.Resource, l.Soft, l.Hard)
	}
	return b.String()
}

// setIONice applies an ioNiceArg to the calling thread, the one that execs
// (ioprio, like nice, is per thread, and exec keeps the caller's).
func setIONice(arg string) error {
	class, level, ok := strings.Cut(arg, ".")
	c, err1 := strconv.Atoi(class)
	l, err2 := strconv.Atoi(level)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("ionice %q: want CLASS.LEVEL", arg)
	}
	n := IONice{Class: IOClass(c), Level: l}
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(n.ioprio())); errno != 0 {
		return fmt.Errorf("ionice %v %d: %w", n.Class, n.Level, errno)
	}
	return nil
}

// parseRlimits decodes an rlimitsArg.
func parseRlimits(arg string) ([]Rlimit, error) {
	var ls []Rlimit
	for _, item := range strings.Split(arg, ",") {
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			return nil, fmt.Errorf("rlimits %q: want RES:SOFT:HARD,...", arg)
		}
		res, err1 := strconv.Atoi(parts[0])
		soft, err2 := strconv.ParseUint(parts[1], 10, 64)
		hard, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("rlimits %q: %w", arg, err)
		}
		ls = append(ls, Rlimit{Resource: res, Soft: soft, Hard: hard})
	}
	return ls, nil
}

// setRlimits applies ls to the process. unix.Setrlimit is
// syscall.Setrlimit, which for RLIMIT_NOFILE also tells syscall.Exec to
// keep the new limit rather than restore the one Go found at start-up.
func setRlimits(ls []Rlimit) error {
	for _, l := range ls {
		if err := unix.Setrlimit(l.Resource, &unix.Rlimit{Cur: l.Soft, Max: l.Hard}); err != nil {
			return rlimitError(l, err)
		}
	}
	return nil
}

// rlimitError is the shim's error for a limit it could not set.
func rlimitError(l Rlimit, err error) error {
	return fmt.Errorf("%s: %w", setrlimitText(l), err)
}

// setrlimitText names the setting of l: "setrlimit as 67108864:unlimited".
func setrlimitText(l Rlimit) string {
	name, _ := rlimitName(l.Resource)
	return "setrlimit " + name + " " + rlimitValue(l.Soft) + ":" + rlimitValue(l.Hard)
}

func rlimitValue(v uint64) string {
	if v == RlimInfinity {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}
