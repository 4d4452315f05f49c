package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/rawsys"
)

// Names of the control files the package reads and writes.
const (
	fileProcs          = "cgroup.procs"
	fileEvents         = "cgroup.events"
	fileKill           = "cgroup.kill"
	fileControllers    = "cgroup.controllers"
	fileSubtree        = "cgroup.subtree_control"
	fileType           = "cgroup.type"
	fileCPUStat        = "cpu.stat"
	fileMemoryCurrent  = "memory.current"
	fileMemoryEvents   = "memory.events"
	fileMemoryMax      = "memory.max"
	fileCPUMax         = "cpu.max"
	filePidsMax        = "pids.max"
	fileV1MemoryUsage  = "memory.usage_in_bytes"
	fileV1MemoryLimit  = "memory.limit_in_bytes"
	fileV1OOMControl   = "memory.oom_control"
	fileV1CPUAcctUsage = "cpuacct.usage"
	fileV1CFSQuota     = "cpu.cfs_quota_us"
	fileV1CFSPeriod    = "cpu.cfs_period_us"
)

// writeControl writes value to a control file. Control files exist as
// soon as their cgroup does, so the file is never created: a missing file
// is an error (a controller that is not enabled), not a new plain file.
func writeControl(dir, name, value string) error {
	return writeControlAt(unix.AT_FDCWD, filepath.Join(dir, name), value)
}

// writeControlAt is writeControl of the file p, relative to the directory
// dirfd (unix.AT_FDCWD: p is absolute), by open, write and close alone:
// no *os.File, whose set-up (an fstat, a finalizer) costs as much again.
func writeControlAt(dirfd int, p, value string) error {
	fd, err := openAt(dirfd, p, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return err
	}
	var n int
	for {
		n, err = unix.Write(fd, []byte(value))
		if err != unix.EINTR {
			break
		}
	}
	if err == nil && n < len(value) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(value))
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil && cerr != unix.EINTR {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// openAt opens p relative to dirfd with flags and O_CLOEXEC, retrying on
// EINTR; its error is an *fs.PathError, as os.Open's.
func openAt(dirfd int, p string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, p, flags|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			return fd, nil
		case err != unix.EINTR:
			return -1, &fs.PathError{Op: "open", Path: p, Err: err}
		}
	}
}

// ctlSlack is how much of the buffer a read of a control file must leave
// unused to be the last one. Control files are seq_files: a read returns
// whole records and stops short of the buffer only at the end or before a
// record that does not fit, and the records read here (a pid, a line of
// cgroup.events or cpu.stat, a whole single-record file) are shorter. So
// a small file costs open, one read and close, not a second read to see
// the end. A regular file (a test's fake tree) reads short only at its end.
const ctlSlack = 64

// readControlAt reads the control file p, relative to dirfd
// (unix.AT_FDCWD: p is absolute), into buf, growing it when the file does
// not fit, and returns the bytes read: a slice of buf when they fit.
func readControlAt(dirfd int, p string, buf []byte) ([]byte, error) {
	fd, err := openAt(dirfd, p, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	n := 0
	for {
		if len(buf)-n < ctlSlack {
			buf = append(buf[:n], make([]byte, max(len(buf), 512))...)
		}
		m, err := unix.Read(fd, buf[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		n += m
		if m == 0 || len(buf)-n >= ctlSlack {
			return buf[:n], nil
		}
	}
}

// readKeyed returns the value of key in a flat keyed file ("key value"
// per line: cgroup.events, cpu.stat, memory.events, memory.oom_control),
// and false when the key is absent.
func readKeyed(p, key string) (uint64, bool, error) {
	var buf [256]byte
	data, err := readControlAt(unix.AT_FDCWD, p, buf[:])
	if err != nil {
		return 0, false, err
	}
	return parseKeyed(data, key)
}

// readKeyedRawAt is readKeyed, relative to dirfd, for a small keyed file
// of a real cgroup (cgroup.events, read once per exit of a contained
// instance): open, one read and close through internal/rawsys. A kernfs file's open and read wait
// for no I/O and no other process; through syscall.Syscall each took longer
// than the scheduler monitor's tick on a busy host, and the monitor then
// handed the caller's P to another thread on most exits of a stop. (A test's
// fake tree of regular files takes it too.)
func readKeyedRawAt(dirfd int, p, key string) (uint64, bool, error) {
	fd, err := rawsys.Openat(dirfd, p, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return 0, false, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	var buf [256]byte
	n, err := rawsys.Read(fd, buf[:])
	rawsys.Close(fd)
	switch {
	case err != nil:
		return 0, false, &fs.PathError{Op: "read", Path: p, Err: err}
	case n == len(buf):
		return 0, false, fmt.Errorf("read %s: longer than %d bytes", p, len(buf))
	}
	return parseKeyed(buf[:n], key)
}

// parseKeyed finds key in data without allocating: it runs once per exit.
func parseKeyed(data []byte, key string) (uint64, bool, error) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		k, v, ok := bytes.Cut(line, []byte{' '})
		if !ok || string(k) != key {
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("key %s: %w", key, err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// readUint reads a file holding one number (memory.current, cpuacct.usage).
func readUint(p string) (uint64, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	return n, nil
}

// readPids returns the pids in a cgroup.procs file.
func readPids(p string) ([]int, error) {
	return readPidsAt(unix.AT_FDCWD, p)
}

// readPidsAt is readPids of p relative to dirfd. An empty cgroup, the
// usual case when a stop signal follows its leader's exit, costs no
// allocation.
func readPidsAt(dirfd int, p string) ([]int, error) {
	var buf [512]byte
	data, err := readControlAt(dirfd, p, buf[:])
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range bytes.Fields(data) {
		pid, err := strconv.Atoi(string(f))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// isGone reports whether err says that a cgroup or its file is gone.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

// readControllers returns the space-separated names in cgroup.controllers
// or cgroup.subtree_control.
func readControllers(p string) (map[string]bool, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, c := range strings.Fields(string(data)) {
		set[c] = true
	}
	return set, nil
}
