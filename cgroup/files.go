package cgroup

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// readKeyed returns the value of key in a flat keyed file ("key value"
// per line: cgroup.events, cpu.stat, memory.events, memory.oom_control),
// and false when the key is absent.
func readKeyed(p, key string) (uint64, bool, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, false, err
	}
	return parseKeyed(data, key)
}

func parseKeyed(data []byte, key string) (uint64, bool, error) {
	for _, line := range bytes.Split(data, []byte{'\n'}) {
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
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
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
