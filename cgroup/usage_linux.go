package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Usage is what an instance's cgroup has used.
type Usage struct {
	CPU       time.Duration // CPU time of all its processes, past and present
	Memory    int64         // bytes charged now
	HasCPU    bool          // CPU was read
	HasMemory bool          // Memory was read (false without a memory cgroup)
}

// Usage reads CPU time (v2 cpu.stat usage_usec, else v1 cpuacct.usage)
// and memory (v2 memory.current, else v1 memory.usage_in_bytes).
func (i *Instance) Usage() (Usage, error) {
	return readUsage(i.Name(), i.v2, i.root.ctrls[ctrlMemory].Version == V2, i.v1[ctrlCPUAcct], i.v1[ctrlMemory])
}

// readUsage reads the usage of the instance cgroup whose v2 directory is
// v2, with memory in v2 when memV2, and cpuacct and memV1 its v1
// directories ("" for none).
func readUsage(name, v2 string, memV2 bool, cpuacct, memV1 string) (Usage, error) {
	var u Usage
	us, ok, err := readKeyed(filepath.Join(v2, fileCPUStat), "usage_usec")
	switch {
	case err == nil && ok:
		u.CPU, u.HasCPU = time.Duration(us)*time.Microsecond, true
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return u, fmt.Errorf("usage of %s: %w", name, err)
	case cpuacct != "":
		ns, err := readUint(filepath.Join(cpuacct, fileV1CPUAcctUsage))
		if err != nil {
			return u, fmt.Errorf("usage of %s: %w", name, err)
		}
		u.CPU, u.HasCPU = time.Duration(ns), true
	}
	var mem uint64
	switch {
	case memV2:
		mem, err = readUint(filepath.Join(v2, fileMemoryCurrent))
	case memV1 != "":
		mem, err = readUint(filepath.Join(memV1, fileV1MemoryUsage))
	default:
		return u, nil
	}
	if err != nil {
		return u, fmt.Errorf("usage of %s: %w", name, err)
	}
	u.Memory, u.HasMemory = int64(mem), true
	return u, nil
}

// Dirs are where a Root's cgroups live: its v2 directory and, on a hybrid
// host, its directory in the v1 hierarchy of each controller it uses from
// there. The daemon records them (see package usage) so that another
// process, the command line, can read an instance's usage without a Root.
type Dirs struct {
	V2 string            // the root's v2 directory; "" for none
	V1 map[string]string // controller (memory, cpu, cpuacct, pids) -> root directory
}

// Dirs returns where the root's cgroups live.
func (r *Root) Dirs() Dirs {
	d := Dirs{V2: r.v2, V1: make(map[string]string, len(r.v1))}
	for c, dir := range r.v1 {
		d.V1[c] = dir
	}
	return d
}

// instanceDir returns the directory of instance name (NAME-i) of program
// below root, refusing names that would lead elsewhere.
func instanceDir(root, program, name string) (string, error) {
	for _, n := range []string{program, name} {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\n") {
			return "", fmt.Errorf("cgroup of %s/%s: bad name %q", program, name, n)
		}
	}
	return filepath.Join(root, program, name), nil
}

// Usage reads the usage of instance name (NAME-i) of program from the
// cgroups under d, as Instance.Usage does, for a process that knows only
// the directories. Which files to read is told by what exists: memory
// from v2 memory.current where the memory controller is enabled, else
// from the instance's v1 memory cgroup where it has one; CPU from v2
// cpu.stat, else its v1 cpuacct cgroup. The error wraps fs.ErrNotExist
// when the instance has no cgroup (it is not running, or d is stale).
func (d Dirs) Usage(program, name string) (Usage, error) {
	if d.V2 == "" {
		return Usage{}, fmt.Errorf("usage of %s: no cgroup root: %w", name, fs.ErrNotExist)
	}
	v2, err := instanceDir(d.V2, program, name)
	if err != nil {
		return Usage{}, err
	}
	if _, err := os.Stat(v2); err != nil {
		return Usage{}, fmt.Errorf("usage of %s: %w", name, err)
	}
	_, err = os.Stat(filepath.Join(v2, fileMemoryCurrent))
	memV2 := err == nil
	v1 := func(c string) string {
		root, ok := d.V1[c]
		if !ok {
			return ""
		}
		dir, err := instanceDir(root, program, name)
		if err != nil {
			return ""
		}
		if _, err := os.Stat(dir); err != nil {
			return ""
		}
		return dir
	}
	memV1 := ""
	if !memV2 {
		memV1 = v1(ctrlMemory)
	}
	return readUsage(name, v2, memV2, v1(ctrlCPUAcct), memV1)
}

// Members returns the pids in the v2 cgroup of instance name of program
// under d and in the cgroups below it: the processes whose memory counts
// where the instance has no memory cgroup. The error wraps
// fs.ErrNotExist when the instance has no cgroup.
func (d Dirs) Members(program, name string) ([]int, error) {
	if d.V2 == "" {
		return nil, fmt.Errorf("members of %s: no cgroup root: %w", name, fs.ErrNotExist)
	}
	dir, err := instanceDir(d.V2, program, name)
	if err != nil {
		return nil, err
	}
	pids, err := treePids(dir, nil)
	if err != nil {
		return nil, fmt.Errorf("members of %s: %w", name, err)
	}
	return pids, nil
}

// treePids appends the pids of dir's cgroup.procs and of every cgroup
// below it. Only dir itself must exist: a cgroup below may go meanwhile.
func treePids(dir string, pids []int) ([]int, error) {
	ps, err := readPids(filepath.Join(dir, fileProcs))
	if err != nil {
		return pids, err
	}
	pids = append(pids, ps...)
	subs, err := readSubdirs(dir)
	if err != nil {
		return pids, err
	}
	for _, s := range subs {
		if pids, err = treePids(filepath.Join(dir, s), pids); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return pids, err
		}
	}
	return pids, nil
}
