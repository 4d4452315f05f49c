package reconciler

import (
	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/usage"
)

// recordCgroups tells the command line where the instances' cgroups are,
// for the usage figures of `status -o wide` and `describe`: it writes
// .reconciled/cgroup when the daemon runs with cgroups (c not nil), and
// removes one an earlier run left when it runs without. A failure costs
// only those figures (the command line then reads /proc of each process
// group), so it is logged, not returned.
func recordCgroups(stateDir string, c *Cgroups, log logr.Logger) {
	var err error
	if c == nil {
		err = usage.RemoveRecord(stateDir)
	} else {
		err = usage.WriteRecord(stateDir, c.Root.Dirs())
	}
	if err != nil {
		log.Error(err, "Cannot record the cgroup root: usage figures come from /proc")
	}
}
