package benchkit

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HostReading is what this machine's CPUs did for others up to one
// moment: time the hypervisor stole from them (steal in /proc/stat), and
// the run time of the kernel's DAMON threads (kdamond.*), which some
// virtual machines run to page out memory the host wants back. Neither
// belongs to the program measured, and both take a CPU from it and from
// its baseline alike: a figure taken while they were busy is the host's
// as much as the program's. The report shows them beside the figures.
type HostReading struct {
	Steal time.Duration // /proc/stat, all CPUs, in USER_HZ ticks
	Damon time.Duration // kdamond threads' schedstat run time
}

// Since returns what the host took from r0 to r.
func (r HostReading) Since(r0 HostReading) HostReading {
	return HostReading{Steal: r.Steal - r0.Steal, Damon: r.Damon - r0.Damon}
}

// Total is both together.
func (r HostReading) Total() time.Duration { return r.Steal + r.Damon }

// ReadHost reads both. Either is zero where the machine has none (no
// hypervisor accounting, no DAMON).
func ReadHost() HostReading {
	var r HostReading
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		r.Steal = time.Duration(stealTicks(b)) * TickDuration
	}
	for _, pid := range damonThreads() {
		if n, ok := schedstatNanos("/proc/" + strconv.Itoa(pid) + "/schedstat"); ok {
			r.Damon += time.Duration(n)
		}
	}
	return r
}

// stealTicks returns the steal field (the eighth number) of the "cpu"
// line of /proc/stat, the sum over all CPUs; 0 when there is none.
func stealTicks(stat []byte) int64 {
	for line := range bytes.Lines(stat) {
		f := strings.Fields(string(line))
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		n, _ := strconv.ParseInt(f[8], 10, 64)
		return n
	}
	return 0
}

var (
	damonOnce sync.Once
	damonPids []int
)

// damonThreads returns the pids of the kdamond kernel threads, found once:
// the kernel starts them when DAMON is turned on, which a benchmark does
// not do.
func damonThreads() []int {
	damonOnce.Do(func() {
		comms, _ := filepath.Glob("/proc/[0-9]*/comm")
		for _, c := range comms {
			b, err := os.ReadFile(c)
			if err != nil || !bytes.HasPrefix(b, []byte("kdamond")) {
				continue
			}
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(c))); err == nil {
				damonPids = append(damonPids, pid)
			}
		}
	})
	return damonPids
}
