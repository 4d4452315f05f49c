package usage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/cgroup"
)

// Where a Sample's figures come from.
const (
	// SourceCgroup: CPU and memory from the instance's cgroup.
	SourceCgroup = "cgroup"
	// SourceCgroupProc: CPU from the instance's cgroup, memory the resident
	// set of its processes (the instance has no memory cgroup).
	SourceCgroupProc = "cgroup+proc"
	// SourceProcessGroup: both from /proc of the instance's process group.
	SourceProcessGroup = "processGroup"
)

// ErrNoProcess means there is nothing to measure: the instance has no
// cgroup and no process in its process group (it is not running).
var ErrNoProcess = errors.New("no cgroup and no process to measure")

// Sample is an instance's usage at the moment it was read.
type Sample struct {
	// CPUSeconds is the CPU time, user and system, of the instance's
	// processes: in a cgroup, of every process it ever had; in a process
	// group, of the live members and the children they have reaped.
	CPUSeconds float64
	// MemoryBytes is the memory charged to its cgroup, or the sum of the
	// resident sets of its processes (which counts shared pages once per
	// process).
	MemoryBytes int64
	// Source says where the figures come from (SourceCgroup, ...).
	Source string
}

// Reader reads the usage of instances. Use one per pass (a command, a
// metrics read): it scans /proc once, at the first instance without a
// cgroup, and answers every later question from that scan. It is not safe
// for concurrent use.
type Reader struct {
	dirs     cgroup.Dirs
	pageSize int64

	buf []byte // for readStat, made at its first need

	scanned bool
	scanErr error
	groups  map[int]procUsage // summed by pgid
}

// NewReader returns a Reader that looks for instance cgroups under d (the
// daemon's cgroup.Root.Dirs, or what ReadRecord returns); a zero d means
// the daemon runs without cgroups, and /proc alone is read.
func NewReader(d cgroup.Dirs) *Reader {
	return &Reader{dirs: d, pageSize: int64(os.Getpagesize())}
}

// Read returns the usage of instance (NAME-i) of program, whose process
// group is led by pid (its pid in the status file; 0 when it has none):
// from its cgroup when it has one, else from its process group. The error
// wraps ErrNoProcess when neither exists.
func (r *Reader) Read(program, instance string, pid int) (Sample, error) {
	if r.dirs.V2 != "" {
		s, err := r.fromCgroup(program, instance)
		if !errors.Is(err, fs.ErrNotExist) {
			return s, err
		}
	}
	return r.fromGroup(instance, pid)
}

// fromCgroup reads the instance's cgroup; the error wraps fs.ErrNotExist
// when it has none, or none that tells its CPU time.
func (r *Reader) fromCgroup(program, instance string) (Sample, error) {
	u, err := r.dirs.Usage(program, instance)
	if err != nil {
		return Sample{}, err
	}
	if !u.HasCPU { // neither cpu.stat nor cpuacct: /proc tells better
		return Sample{}, fmt.Errorf("usage of %s: no CPU figure in its cgroup: %w", instance, fs.ErrNotExist)
	}
	s := Sample{CPUSeconds: u.CPU.Seconds(), MemoryBytes: u.Memory, Source: SourceCgroup}
	if u.HasMemory {
		return s, nil
	}
	pids, err := r.dirs.Members(program, instance)
	if err != nil {
		return Sample{}, err
	}
	// The members' own stat files: no scan of every process of the host.
	var rss int64
	for _, pid := range pids {
		p, err := readStat("/proc", pid, r.statBuf())
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH):
			continue // exited since the listing
		case err != nil:
			return Sample{}, fmt.Errorf("usage of %s: %w", instance, err)
		}
		rss += p.rss
	}
	s.MemoryBytes, s.Source = rss*r.pageSize, SourceCgroupProc
	return s, nil
}

// fromGroup sums the process group led by pid.
func (r *Reader) fromGroup(instance string, pid int) (Sample, error) {
	if pid <= 0 {
		return Sample{}, fmt.Errorf("usage of %s: %w", instance, ErrNoProcess)
	}
	if err := r.scan(); err != nil {
		return Sample{}, fmt.Errorf("usage of %s: %w", instance, err)
	}
	g, ok := r.groups[pid]
	if !ok {
		return Sample{}, fmt.Errorf("usage of %s: process group %d: %w", instance, pid, ErrNoProcess)
	}
	return Sample{CPUSeconds: float64(g.ticks) / clockTicks, MemoryBytes: g.rss * r.pageSize, Source: SourceProcessGroup}, nil
}

func (r *Reader) statBuf() []byte {
	if r.buf == nil {
		r.buf = make([]byte, statBufSize)
	}
	return r.buf
}

// scan reads /proc once per Reader.
func (r *Reader) scan() error {
	if r.scanned {
		return r.scanErr
	}
	r.scanned = true
	procs, err := scanProc("/proc")
	r.scanErr = err
	r.groups = make(map[int]procUsage, len(procs))
	for _, p := range procs {
		g := r.groups[p.pgid]
		g.ticks += p.ticks
		g.rss += p.rss
		r.groups[p.pgid] = g
	}
	return r.scanErr
}
