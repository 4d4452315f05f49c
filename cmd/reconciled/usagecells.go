package main

import (
	"path/filepath"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
	"github.com/reconciled/reconciled/usage"
)

// usageOf returns an instance's usage for the CPU and MEMORY columns, and
// false when there is none to show. A nil usageOf shows none.
type usageOf func(program string, in status.Instance) (usage.Sample, bool)

// liveUsage reads usage on demand, at most one /proc scan for the whole
// command: from the instances' cgroups, which .reconciled/cgroup names
// when the daemon runs with them, else from each instance's process group
// (its pid in the status file). With no daemon holding the directory it
// returns nil: the status is then the last known one, and its pids may
// have been reused by processes that are not ours.
func liveUsage(statusDir string) usageOf {
	stateDir := filepath.Join(statusDir, reconciler.StateDirName)
	if held, _ := reconciler.Held(stateDir); !held {
		return nil
	}
	dirs, _ := usage.ReadRecord(stateDir) // none: the daemon runs without cgroups
	r := usage.NewReader(dirs)
	return func(program string, in status.Instance) (usage.Sample, bool) {
		s, err := r.Read(program, in.Name, in.Pid)
		return s, err == nil
	}
}

// cells returns the CPU and MEMORY cells of an instance: "-" for none.
func (u usageOf) cells(program string, in status.Instance) (cpu, memory string) {
	if u == nil {
		return "-", "-"
	}
	s, ok := u(program, in)
	if !ok {
		return "-", "-"
	}
	return usage.FormatCPU(s.CPUSeconds), usage.FormatMemory(s.MemoryBytes)
}
