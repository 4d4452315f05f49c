package main

import (
	"runtime"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// results collects every figure of one N.
type results struct {
	n                  int
	loadStart, loadEnd string // /proc/loadavg at the start and the end
	// host: what the host took from the machine's CPUs over this N
	// (benchkit.HostReading), and how long the N took
	host    benchkit.HostReading
	hostFor time.Duration
	// a and d, per kind: "C", "Go", "daemon"
	running, status map[string]samples
	cpuStart        map[string]samples
	cpuStop         map[string]samples
	cpuKids         map[string]samples
	cpuExits        map[string]samples // the children's CPU over the stop
	// stopBound: (cpuStop + cpuExits) / CPUs, the wall below which the
	// stop's work cannot fit on this machine
	stopBound    map[string]samples
	hostStop     map[string]samples // the host's CPU (steal, kdamond) during the stop
	selfRun      map[string]samples
	dead, reaped map[string]samples
	selfStop     map[string]samples
	// paired ratios: the daemon's run over the baseline run just before it
	pairRun, pairStop map[string][]float64
	// s: replicas scaleFrom -> N
	scale, scaleStatus samples
	scaleCPU           samples
	// b: restartDelay 0, per target; with the default, the daemon only
	replace      map[string]samples
	replaceCPU   time.Duration            // the daemon's CPU over its replace series
	replaceHost  map[string]time.Duration // the host's CPU during each target's replacements, summed
	delayed      samples
	delayedCPU   time.Duration
	delayedDelay time.Duration // the default restartDelay
	// c
	edit samples
	// f: wall and CPU (the child's utime+stime)
	statusCmd, statusJSON, statusEmpty samples
	statusCPU, statusJSONCPU           samples
	statusLines, statusJSONBytes       int
	// e
	idleTicks        int64
	idleNanos        int64
	baseRSSKiB       int64 // the daemon with no program
	rssKiB, hwmKiB   int64
	hwmAfterStartKiB int64
	threadsIdle      int
	shutdownDead     samples
	shutdownExit     samples
	shutdownErr      error
	idleDur          time.Duration
}

func newResults(n int) *results {
	return &results{
		n:       n,
		running: map[string]samples{}, status: map[string]samples{}, selfRun: map[string]samples{},
		cpuStart: map[string]samples{}, cpuStop: map[string]samples{}, cpuKids: map[string]samples{},
		cpuExits: map[string]samples{}, stopBound: map[string]samples{}, hostStop: map[string]samples{},
		dead: map[string]samples{}, reaped: map[string]samples{}, selfStop: map[string]samples{},
		pairRun: map[string][]float64{}, pairStop: map[string][]float64{}, replace: map[string]samples{},
		replaceHost: map[string]time.Duration{},
	}
}

type roundResult struct {
	running, status   time.Duration
	selfRun, selfStop time.Duration
	stop              stopTimes
	// CPU time (utime+stime) of the parent itself, not of its children,
	// over the start and over the stop
	cpuStart, cpuStop time.Duration
	// CPU time of the N children from their fork until they idle in sleep
	// (read once they all run, after -settle): what each costs before exec
	// (its share of fork and exec, which the parent's figure does not
	// show) plus sleep's own start-up, the same on both sides
	cpuKids time.Duration
	// CPU time of the N children over the stop, their exits: what the
	// parent's cutime+cstime gained by reaping them (10 ms ticks), less
	// cpuKids, which it also counts
	cpuExits time.Duration
	// what the host took from the machine's CPUs during the stop
	host benchkit.HostReading
}

func (r *results) add(kind string, rr roundResult) {
	r.running[kind] = append(r.running[kind], rr.running)
	if rr.status > 0 {
		r.status[kind] = append(r.status[kind], rr.status)
	}
	if rr.selfRun > 0 {
		r.selfRun[kind] = append(r.selfRun[kind], rr.selfRun)
		r.selfStop[kind] = append(r.selfStop[kind], rr.selfStop)
	}
	r.dead[kind] = append(r.dead[kind], rr.stop.dead)
	r.reaped[kind] = append(r.reaped[kind], rr.stop.reaped)
	r.cpuStart[kind] = append(r.cpuStart[kind], rr.cpuStart)
	r.cpuStop[kind] = append(r.cpuStop[kind], rr.cpuStop)
	r.cpuKids[kind] = append(r.cpuKids[kind], rr.cpuKids)
	r.cpuExits[kind] = append(r.cpuExits[kind], rr.cpuExits)
	r.hostStop[kind] = append(r.hostStop[kind], rr.host.Total())
	r.stopBound[kind] = append(r.stopBound[kind], (rr.cpuStop+rr.cpuExits)/time.Duration(runtime.NumCPU()))
}
