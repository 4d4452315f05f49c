package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// maxPasses bounds how often signalMembers rereads cgroup.procs for new
// members: a fork bomb that outruns it is left to cgroup.kill, or to the
// caller's next try.
const maxPasses = 64

// killDir sends SIGKILL to every process in dir and below: through
// cgroup.kill when the kernel has it, else member by member.
func killDir(dir string, hasKill bool) error {
	if hasKill {
		err := writeControl(dir, fileKill, "1")
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
	}
	return signalTree(dir, unix.SIGKILL, nil)
}

// signalTree signals the members of dir and of every cgroup below it,
// except those skip (when not nil) says were signalled otherwise.
func signalTree(dir string, sig unix.Signal, skip func(pid int) bool) error {
	procs := filepath.Join(dir, fileProcs)
	if err := signalMembers(func() ([]int, error) { return readPids(procs) }, dir, sig, skip); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := signalTree(filepath.Join(dir, e.Name()), sig, skip); err != nil {
				return err
			}
		}
	}
	return nil
}

// signalMembers sends sig to each process listed in a cgroup.procs file,
// which read returns (dir names the cgroup in errors), rereading it until
// no new pid shows up (a member may fork while being signalled). A pid that skip (when not nil) reports is not
// signalled: the caller reached it otherwise (its process group).
//
// A pid read from the file may belong to another process by the time it is
// signalled. So each is signalled through a pidfd opened first and only if
// the pid is still listed when the file is read again: the pidfd names the
// process that had the pid when it was opened; if that one is gone the
// signal fails harmlessly, and otherwise it is the member listed.
func signalMembers(read func() ([]int, error), dir string, sig unix.Signal, skip func(pid int) bool) error {
	var sent map[int]bool
	for range maxPasses {
		pids, err := read()
		if err != nil {
			if isGone(err) {
				return nil // removed: nobody left
			}
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if sent == nil {
			sent = make(map[int]bool, len(pids))
		}
		type member struct{ pid, fd int }
		var fresh []member
		for _, pid := range pids {
			if sent[pid] {
				continue
			}
			sent[pid] = true
			if skip != nil && skip(pid) {
				continue
			}
			fd, err := unix.PidfdOpen(pid, 0)
			if errors.Is(err, unix.ESRCH) {
				continue
			}
			if err != nil {
				closeAll(fresh, func(m member) int { return m.fd })
				return fmt.Errorf("pidfd_open %d: %w", pid, err)
			}
			fresh = append(fresh, member{pid, fd})
		}
		if len(fresh) == 0 {
			return nil
		}
		still, err := read()
		if err != nil && !isGone(err) {
			closeAll(fresh, func(m member) int { return m.fd })
			return err
		}
		var sendErr error
		for _, m := range fresh {
			if slices.Contains(still, m.pid) {
				err := unix.PidfdSendSignal(m.fd, sig, nil, 0)
				if err != nil && !errors.Is(err, unix.ESRCH) && sendErr == nil {
					sendErr = fmt.Errorf("signal %d: %w", m.pid, err)
				}
			}
			_ = unix.Close(m.fd)
		}
		if sendErr != nil {
			return sendErr
		}
	}
	return fmt.Errorf("signal members of %s: new processes kept appearing", dir)
}

func closeAll[T any](xs []T, fd func(T) int) {
	for _, x := range xs {
		_ = unix.Close(fd(x))
	}
}

// rmdir is rmdir(2) of dir, with os.Remove's error but not its unlink(2)
// first (a cgroup is always a directory).
func rmdir(dir string) error {
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil:
			return nil
		case err != unix.EINTR:
			return &fs.PathError{Op: "remove", Path: dir, Err: err}
		}
	}
}

// removeTree removes the cgroup dir, and first any cgroups below it (a
// program may make its own). A cgroup with processes is EBUSY.
func removeTree(dir string) error {
	err := rmdir(dir)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOTEMPTY) {
		return err
	}
	entries, rerr := os.ReadDir(dir)
	if rerr != nil {
		return err
	}
	sub := false
	for _, e := range entries {
		if e.IsDir() {
			sub = true
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if !sub {
		return err
	}
	if err := rmdir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
