package proc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// shimMarker is argv[0] of the exec shim.
const shimMarker = "reconciled-exec-shim"

// shimArgv returns the shim's argv:
//
//	reconciled-exec-shim UMASK NICE IONICE RLIMITS CRED CGROUPS -- PATH ARGV...
//
// UMASK is octal, NICE decimal, IONICE "class.level" (ioNiceArg), RLIMITS
// "res:soft:hard,..." (rlimitsArg), CRED "uid:gid:g1,g2,...", CGROUPS the
// cgroup.procs paths separated by newlines; "-" means unset.
func shimArgv(path string, spec Spec) []string {
	umask, nice, cred := "-", "-", "-"
	if spec.Umask != nil {
		umask = strconv.FormatUint(uint64(*spec.Umask), 8)
	}
	if spec.Nice != nil {
		nice = strconv.Itoa(*spec.Nice)
	}
	if c := spec.Credential; c != nil {
		var b strings.Builder
		b.WriteString(strconv.FormatUint(uint64(c.UID), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(c.GID), 10))
		b.WriteByte(':')
		for i, g := range c.Groups {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatUint(uint64(g), 10))
		}
		cred = b.String()
	}
	cgroups := "-"
	if spec.Cgroup != nil {
		cgroups = strings.Join(spec.Cgroup.procsFiles(), "\n")
	}
	argv := make([]string, 0, 9+len(spec.Argv))
	argv = append(argv, shimMarker, umask, nice, ioNiceArg(spec.IONice), rlimitsArg(spec.Rlimits), cred, cgroups, "--", path)
	return append(argv, spec.Argv...)
}

// MaybeRunShim runs the exec shim if this process was started as one, and
// otherwise returns at once. Call it first thing in main() and in TestMain.
//
// The shim applies umask, nice, ionice, rlimits and the credential, then
// execs the real program
// in the same process, so pid, process group and parent-death signal stay. On
// failure it writes the error to stderr and exits 127, as a shell does for a
// command it cannot run. (This is the one place outside main that exits: the
// shim is a main of its own.)
func MaybeRunShim() {
	if len(os.Args) == 0 || os.Args[0] != shimMarker {
		return
	}
	err := runShim(os.Args[1:])
	fmt.Fprintf(os.Stderr, "%s: %v\n", shimMarker, err)
	os.Exit(127)
}

// runShim does the work of the shim; it returns only on failure.
func runShim(args []string) error {
	// nice and the parent-death signal are per thread on Linux, and exec keeps
	// the calling thread's: do everything, exec included, on one thread.
	runtime.LockOSThread()
	ppid := os.Getppid()

	if len(args) < 9 || args[6] != "--" {
		return errors.New("usage: " + shimMarker + " UMASK NICE IONICE RLIMITS CRED CGROUPS -- PATH ARGV0 [ARG...]")
	}
	umaskArg, niceArg, ioNiceArg, rlimitsArg, credArg, cgroupsArg := args[0], args[1], args[2], args[3], args[4], args[5]
	path, argv := args[7], args[8:]

	// First of all, into the instance's cgroups: nothing of the program has
	// run yet, so nothing it forks can start outside them.
	if cgroupsArg != "-" {
		for _, procs := range strings.Split(cgroupsArg, "\n") {
			if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
				return fmt.Errorf("enter cgroup: %w", err)
			}
		}
	}

	if umaskArg != "-" {
		m, err := strconv.ParseUint(umaskArg, 8, 32)
		if err != nil {
			return fmt.Errorf("umask %q: %w", umaskArg, err)
		}
		unix.Umask(int(m))
	}
	if niceArg != "-" {
		n, err := strconv.Atoi(niceArg)
		if err != nil {
			return fmt.Errorf("nice %q: %w", niceArg, err)
		}
		// PRIO_PROCESS with who 0 is the calling thread on Linux; it is the
		// one that execs. Done before dropping privileges: nice < 0 needs them.
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, n); err != nil {
			return fmt.Errorf("nice %d: %w", n, err)
		}
	}
	// Also before dropping privileges: the realtime class and raising a hard
	// limit need them. The limits on memory bind this process too: they are
	// set last of all, in execLimited.
	if ioNiceArg != "-" {
		if err := setIONice(ioNiceArg); err != nil {
			return err
		}
	}
	var mem memoryLimits
	if rlimitsArg != "-" {
		ls, err := parseRlimits(rlimitsArg)
		if err != nil {
			return err
		}
		var rest []Rlimit
		rest, mem = splitMemoryLimits(ls)
		if err := setRlimits(rest); err != nil {
			return err
		}
		if err := mem.raiseHard(); err != nil {
			return err
		}
	}
	if credArg != "-" {
		if err := setCredential(credArg); err != nil {
			return err
		}
	}
	// A change of credentials clears the parent-death signal, and the one set
	// at fork is on the thread that started the shim, which need not be this
	// one: arm it on the exec'ing thread, then make sure the parent did not
	// die before that.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	if os.Getppid() != ppid {
		return errors.New("parent exited")
	}
	if len(mem) > 0 {
		return execLimited(path, argv, os.Environ(), mem)
	}
	if err := unix.Exec(path, argv, os.Environ()); err != nil {
		return &os.PathError{Op: "exec", Path: path, Err: err}
	}
	return nil
}

// setCredential parses "uid:gid:g1,g2" and sets groups, gid and uid (for all
// threads, as syscall.Set* do on Linux).
func setCredential(arg string) error {
	parts := strings.SplitN(arg, ":", 3)
	if len(parts) != 3 {
		return fmt.Errorf("credential %q: want uid:gid:groups", arg)
	}
	uid, err := strconv.Atoi(parts[0])
	if err != nil {
		return fmt.Errorf("credential %q: %w", arg, err)
	}
	gid, err := strconv.Atoi(parts[1])
	if err != nil {
		return fmt.Errorf("credential %q: %w", arg, err)
	}
	groups := []int{}
	if parts[2] != "" {
		for _, g := range strings.Split(parts[2], ",") {
			n, err := strconv.Atoi(g)
			if err != nil {
				return fmt.Errorf("credential %q: %w", arg, err)
			}
			groups = append(groups, n)
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	return nil
}
