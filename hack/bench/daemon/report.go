package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// The targets (issue 23 and wave 1's): ratios to the faster baseline of the
// same run, and absolute bounds where there is no baseline.
const (
	startTarget    = 1.2  // a: start of N
	stopTarget     = 1.25 // d: stop-all
	shutdownTarget = 1.3  // d": SIGTERM to the daemon, against the baselines' stop-all
	replaceTarget  = 2.0  // b: p50 against the C floor's
	replaceScale   = 1.5  // b: p50 at the largest N against that at 1000 (summary)
	editTarget     = 20 * time.Millisecond
	idleTarget     = 0.1 // CPU-s per 60 s
	rssPerInstance = 4   // KiB above the daemon's RSS with no program
)

// statusTarget is the bound of `reconciled status` at n instances: 25 ms up
// to 1000, 100 ms up to 5000.
func statusTarget(n int) time.Duration {
	if n <= 1000 {
		return 25 * time.Millisecond
	}
	return 100 * time.Millisecond
}

// best is the faster of the two baselines' medians.
func best(m map[string]samples) time.Duration {
	c, g := m["C"].median(), m["Go"].median()
	if g > 0 && (c == 0 || g < c) {
		return g
	}
	return c
}

// perInstance renders d / n.
func perInstance(d time.Duration, n int) string {
	if d == 0 || n == 0 {
		return "-"
	}
	per := d / time.Duration(n)
	if per < time.Millisecond {
		return fmt.Sprintf("%.1fµs", float64(d)/float64(n)/1e3)
	}
	return fmtDur(per)
}

func (h *harness) report(r *results) {
	cfg := h.cfg
	N := r.n
	fmt.Printf("\nreconciled benchmark: N=%d sleep instances, %d rounds (C D Go D ...), %d+%d kills, %d edits, %d status runs, idle %v\n",
		N, cfg.rounds, cfg.kills, cfg.delayKills, cfg.edits, cfg.statusRuns, r.idleDur.Round(time.Second))
	fmt.Printf("load average (1, 5, 15 min) at the start %s, at the end %s\n", r.loadStart, r.loadEnd)
	fmt.Printf("host: %s of %d CPUs' time taken over this N's %v (see hack/bench/README.md, \"The host\")\n",
		fmtHost(r.host), runtime.NumCPU(), r.hostFor.Round(time.Second))
	fmt.Printf("baselines: C posix_spawn from %d threads, Go syscall.ForkExec from %d goroutines (setpgid: %v); spec stdout/stderr: %s\n",
		cfg.cThreads, cfg.goWorkers, cfg.setpgid, orDefault(cfg.output, "auto (default)"))
	if h.reapEvents {
		fmt.Println("d \"all reaped\": from the pidfds' hang-ups at the reap (EPOLLHUP), no /proc polling")
	} else {
		fmt.Printf("d \"all reaped\": listing the parent's children every %v once all exited (this kernel reports no reap on a pidfd)\n", cfg.poll)
	}
	if h.obs.WatchesExecs() {
		fmt.Println("b replacement: SIGKILL to the exec of the new process, on the kernel's clock (process events connector), no /proc polling")
	} else {
		fmt.Printf("b replacement: SIGKILL until a listing of the parent's children (every %v) shows the new process\n", cfg.finePoll)
	}
	fmt.Printf("medians; ratio = daemon median / baseline median (best = the faster baseline); paired = median of per-round ratios to the baseline run just before; per inst = daemon / N\n\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\truns\tdaemon\tmin..max\tper inst\tC\tGo\tratio C\tratio Go\tpaired C/Go\ttarget\tverdict")
	row := func(name string, d samples, base map[string]samples, pairs map[string][]float64, target string, ok *bool) {
		c, g := base["C"].median(), base["Go"].median()
		rc, rg := ratio(d.median(), c), ratio(d.median(), g)
		pair := "-"
		if pairs != nil {
			pair = fmt.Sprintf("%.2fx / %.2fx", benchkit.Median(pairs["C"]), benchkit.Median(pairs["Go"]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s..%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, len(d), fmtDur(d.median()),
			fmtDur(d.quantile(0)), fmtDur(d.quantile(1)), perInstance(d.median(), N), fmtDur(c), fmtDur(g), fmtRatio(rc), fmtRatio(rg), pair, target, verdict(ok))
	}
	okA := ratio(r.running["daemon"].median(), best(r.running)) <= startTarget
	row("a  start N: all exec'd sleep", r.running["daemon"], r.running, r.pairRun, fmt.Sprintf("<=%.2gx best", startTarget), &okA)
	row("a' start N: status readyReplicas=N", r.status["daemon"], r.running, nil, "report", nil)
	var lag samples
	for i, s := range r.status["daemon"] {
		if i < len(r.running["daemon"]) {
			lag = append(lag, s-r.running["daemon"][i])
		}
	}
	row("a\" status lag behind processes", lag, nil, nil, "report", nil)
	row("   CPU of the parent during a (own, not children's)", r.cpuStart["daemon"], r.cpuStart, nil, "report", nil)
	row("   CPU of the N children, fork to idle sleep", r.cpuKids["daemon"], r.cpuKids, nil, "report", nil)
	if len(r.scale) > 0 {
		row(fmt.Sprintf("s  replicas %d -> N: all exec'd sleep", cfg.scaleFrom), r.scale, r.running, nil, "report", nil)
		row("s' replicas -> N: status readyReplicas=N", r.scaleStatus, r.running, nil, "report", nil)
		row("   CPU of the daemon during s", r.scaleCPU, r.cpuStart, nil, "report", nil)
	}
	okD := ratio(r.reaped["daemon"].median(), best(r.reaped)) <= stopTarget
	row("d  stop-all (desired: stopped): all reaped", r.reaped["daemon"], r.reaped, r.pairStop, fmt.Sprintf("<=%.3gx best", stopTarget), &okD)
	row("d' stop-all (desired: stopped): all exited", r.dead["daemon"], r.dead, nil, "report", nil)
	row("   CPU of the parent during d", r.cpuStop["daemon"], r.cpuStop, nil, "report", nil)
	row("   CPU of the N children during d (exits; 10ms ticks)", r.cpuExits["daemon"], r.cpuExits, nil, "report", nil)
	row(fmt.Sprintf("   d's CPU / %d CPUs (no stop is faster)", runtime.NumCPU()), r.stopBound["daemon"], r.stopBound, nil, "report", nil)
	row("   host's CPU during d (steal + kdamond)", r.hostStop["daemon"], r.hostStop, nil, "report", nil)
	if len(r.shutdownExit) > 0 {
		okS := ratio(r.shutdownExit.median(), best(r.reaped)) <= shutdownTarget
		row("d\" SIGTERM daemon: daemon exited", r.shutdownExit, r.reaped, nil, fmt.Sprintf("<=%.2gx best d", shutdownTarget), &okS)
		row("   SIGTERM daemon: all exited", r.shutdownDead, r.dead, nil, "report", nil)
	}
	if b := r.replace["daemon"]; len(b) > 0 {
		c := r.replace["C"]
		okB := len(c) == 0 || ratio(b.median(), c.median()) <= replaceTarget
		row("b  SIGKILL -> replacement running, restartDelay 0", b, r.replace, nil, fmt.Sprintf("<=%.2gx C", replaceTarget), &okB)
		row("   p90 of b", samples{b.quantile(0.9)}, map[string]samples{"C": {c.quantile(0.9)}, "Go": {r.replace["Go"].quantile(0.9)}}, nil, "report", nil)
		row("   daemon CPU per replacement", samples{r.replaceCPU / time.Duration(len(b))}, nil, nil, "report", nil)
		hb := map[string]samples{"C": {r.replaceHost["C"]}, "Go": {r.replaceHost["Go"]}}
		row("   host's CPU during b, summed (steal + kdamond)", samples{r.replaceHost["daemon"]}, hb, nil, "report", nil)
	}
	if b := r.delayed; len(b) > 0 {
		row(fmt.Sprintf("b' the same, default restartDelay (%v)", r.delayedDelay), b, nil, nil, "report", nil)
		row("   p90 of b'", samples{b.quantile(0.9)}, nil, nil, "report", nil)
		row("   b' beyond the delay, p50", samples{b.median() - r.delayedDelay}, r.replace, nil, "report", nil)
		row("   daemon CPU per replacement", samples{r.delayedCPU / time.Duration(len(b))}, nil, nil, "report", nil)
	}
	if len(r.edit) > 0 {
		okC := r.edit.median() < editTarget
		row("c  edit command -> new process running", r.edit, nil, nil, "<"+fmtDur(editTarget), &okC)
	}
	if len(r.statusCmd) > 0 {
		t := statusTarget(N)
		okF := r.statusCmd.median() < t
		okJ := r.statusJSON.median() < t
		row(fmt.Sprintf("f  reconciled status (%d lines)", r.statusLines), r.statusCmd, nil, nil, "<"+fmtDur(t), &okF)
		row("   its CPU (user+sys)", r.statusCPU, nil, nil, "report", nil)
		row(fmt.Sprintf("f' reconciled status -o json (%d KiB)", r.statusJSONBytes>>10), r.statusJSON, nil, nil, "<"+fmtDur(t), &okJ)
		row("   its CPU (user+sys)", r.statusJSONCPU, nil, nil, "report", nil)
		row("   reconciled status, empty dir (floor)", r.statusEmpty, nil, nil, "report", nil)
	}
	tw.Flush()
	if r.idleDur > 0 {
		okE := r.idlePer60() < idleTarget
		fmt.Printf("\ne  idle CPU (utime+stime): %.2f CPU-s per 60 s (%d ticks in %v; schedstat %.3f CPU-s per 60 s)  target <%.2g  %s\n",
			r.idlePer60(), r.idleTicks, r.idleDur.Round(time.Second), float64(r.idleNanos)/1e9*60/r.idleDur.Seconds(), idleTarget, verdict(&okE))
	}
	if r.rssKiB > 0 {
		okR := r.rssPerInstance() <= rssPerInstance
		fmt.Printf("e  RSS at idle: VmRSS %.1f MiB, VmHWM %.1f MiB (HWM right after the start of N: %.1f MiB), %d threads; with no program %.1f MiB: %.1f KiB per instance above it  target <=%d KiB  %s\n",
			mib(r.rssKiB), mib(r.hwmKiB), mib(r.hwmAfterStartKiB), r.threadsIdle, mib(r.baseRSSKiB), r.rssPerInstance(), rssPerInstance, verdict(&okR))
	}
	if r.shutdownErr != nil {
		fmt.Printf("d\" SIGTERM daemon: error: %v\n", r.shutdownErr)
	}
	fmt.Printf("\nbaselines' own timing (inside the process), medians: start C %s, Go %s; stop C %s, Go %s\n",
		fmtDur(r.selfRun["C"].median()), fmtDur(r.selfRun["Go"].median()), fmtDur(r.selfStop["C"].median()), fmtDur(r.selfStop["Go"].median()))
	fmt.Println("\nsamples:")
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  a %-6s running: %v\n", k, r.running[k])
	}
	fmt.Printf("  a daemon status:  %v\n", r.status["daemon"])
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  a %-6s CPU:     parent %v, children %v\n", k, r.cpuStart[k], r.cpuKids[k])
	}
	fmt.Printf("  s daemon:         %v (status %v)\n", r.scale, r.scaleStatus)
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  d %-6s reaped:  %v\n", k, r.reaped[k])
	}
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  d %-6s CPU:     parent %v\n", k, r.cpuStop[k])
	}
	for _, k := range []string{"C", "Go", "daemon"} {
		if len(r.replace[k]) > 0 {
			fmt.Printf("  b %-6s:         %v\n", k, r.replace[k])
		}
	}
	fmt.Printf("  b' daemon:        %v\n", r.delayed)
	fmt.Printf("  d\" daemon exited: %v (all exited %v)\n", r.shutdownExit, r.shutdownDead)
	fmt.Printf("  c edit:           %v\n", r.edit)
	fmt.Printf("  f status:         %v (CPU %v)\n", r.statusCmd, r.statusCPU)
	fmt.Printf("  f' status -o json: %v (CPU %v)\n", r.statusJSON, r.statusJSONCPU)
}

func (r *results) idlePer60() float64 {
	if r.idleDur <= 0 {
		return 0
	}
	return float64(r.idleTicks) / 100 * 60 / r.idleDur.Seconds()
}

// rssPerInstance is the daemon's VmRSS at idle above its VmRSS with no
// program, per instance, in KiB.
func (r *results) rssPerInstance() float64 {
	return float64(r.rssKiB-r.baseRSSKiB) / float64(r.n)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// summary prints one Markdown table across every N: each cell the daemon's
// figure, its ratio to the faster baseline where there is one, and the
// figure per instance.
func (h *harness) summary(all []*results) {
	var b strings.Builder
	b.WriteString("\nsummary (medians; ratio to the faster baseline of the same run; per instance = figure / N)\n\n| figure |")
	sep := "|---|"
	for _, r := range all {
		fmt.Fprintf(&b, " N=%d |", r.n)
		sep += "---|"
	}
	b.WriteString("\n" + sep + "\n")
	line := func(name string, cell func(r *results) string) {
		b.WriteString("| " + name + " |")
		for _, r := range all {
			b.WriteString(" " + cell(r) + " |")
		}
		b.WriteString("\n")
	}
	vsBest := func(d time.Duration, base map[string]samples, n int) string {
		if d == 0 {
			return "-"
		}
		s := fmtDur(d)
		if bb := best(base); bb > 0 {
			s += fmt.Sprintf(" (%.2fx)", ratio(d, bb))
		}
		if n > 0 {
			s += "; " + perInstance(d, n) + "/inst"
		}
		return s
	}
	line("load average at start / end", func(r *results) string { return r.loadStart + " / " + r.loadEnd })
	line("start of N (floor: C / Go)", func(r *results) string {
		return vsBest(r.running["daemon"].median(), r.running, r.n) + fmt.Sprintf(" [%s / %s]", fmtDur(r.running["C"].median()), fmtDur(r.running["Go"].median()))
	})
	line("daemon CPU during the start (C floor's)", func(r *results) string {
		return vsBest(r.cpuStart["daemon"].median(), map[string]samples{"C": r.cpuStart["C"]}, r.n)
	})
	line(fmt.Sprintf("scale %d -> N (vs the floors' start of N)", h.cfg.scaleFrom), func(r *results) string {
		return vsBest(r.scale.median(), r.running, r.n)
	})
	line("stop-all, all reaped", func(r *results) string { return vsBest(r.reaped["daemon"].median(), r.reaped, r.n) })
	line("daemon CPU during the stop (C floor's)", func(r *results) string {
		return vsBest(r.cpuStop["daemon"].median(), map[string]samples{"C": r.cpuStop["C"]}, r.n)
	})
	line("children's CPU during the stop, their exits (C floor's)", func(r *results) string {
		return vsBest(r.cpuExits["daemon"].median(), map[string]samples{"C": r.cpuExits["C"]}, r.n)
	})
	line(fmt.Sprintf("stop's CPU / %d CPUs, parent and children (C floor's)", runtime.NumCPU()), func(r *results) string {
		return vsBest(r.stopBound["daemon"].median(), map[string]samples{"C": r.stopBound["C"]}, r.n)
	})
	line("host's CPU during the stop: steal + kdamond (C floor's)", func(r *results) string {
		return fmt.Sprintf("%s (%s)", fmtDur(r.hostStop["daemon"].median()), fmtDur(r.hostStop["C"].median()))
	})
	line("host's CPU over the whole N: steal, kdamond", func(r *results) string {
		return fmtHost(r.host) + " in " + r.hostFor.Round(time.Second).String()
	})
	line("shutdown (SIGTERM -> exited; vs the floors' stop)", func(r *results) string {
		return vsBest(r.shutdownExit.median(), r.reaped, r.n)
	})
	line("replacement p50 / p90, restartDelay 0 (C floor)", func(r *results) string {
		b := r.replace["daemon"]
		c := r.replace["C"]
		if len(b) == 0 {
			return "-"
		}
		return fmt.Sprintf("%s / %s (%s / %s; %s)", fmtDur(b.median()), fmtDur(b.quantile(0.9)), fmtDur(c.median()), fmtDur(c.quantile(0.9)), fmtRatio(ratio(b.median(), c.median())))
	})
	line("daemon CPU per replacement", func(r *results) string {
		if len(r.replace["daemon"]) == 0 {
			return "-"
		}
		return fmtDur(r.replaceCPU / time.Duration(len(r.replace["daemon"])))
	})
	line("replacement p50 / p90, default restartDelay", func(r *results) string {
		if len(r.delayed) == 0 {
			return "-"
		}
		return fmt.Sprintf("%s / %s", fmtDur(r.delayed.median()), fmtDur(r.delayed.quantile(0.9)))
	})
	line("edit -> spawn", func(r *results) string { return fmtDur(r.edit.median()) })
	line("`status`: wall, CPU", func(r *results) string {
		return fmt.Sprintf("%s, %s; %s/inst", fmtDur(r.statusCmd.median()), fmtDur(r.statusCPU.median()), perInstance(r.statusCmd.median(), r.n))
	})
	line("`status -o json`: wall, CPU", func(r *results) string {
		return fmt.Sprintf("%s, %s; %s/inst", fmtDur(r.statusJSON.median()), fmtDur(r.statusJSONCPU.median()), perInstance(r.statusJSON.median(), r.n))
	})
	line("`status` on an empty dir (start-up floor)", func(r *results) string { return fmtDur(r.statusEmpty.median()) })
	line("idle CPU, CPU-s per 60 s", func(r *results) string { return fmt.Sprintf("%.2f", r.idlePer60()) })
	line("RSS at idle (with no program); per instance above", func(r *results) string {
		return fmt.Sprintf("%.1f MiB (%.1f MiB); %.1f KiB", mib(r.rssKiB), mib(r.baseRSSKiB), r.rssPerInstance())
	})
	fmt.Print(b.String())
	// The one target across N: the replacement at the largest N against
	// that at 1000.
	var at1000, atMax *results
	for _, r := range all {
		if r.n == 1000 {
			at1000 = r
		}
		if atMax == nil || r.n > atMax.n {
			atMax = r
		}
	}
	if at1000 != nil && atMax != at1000 && len(at1000.replace["daemon"]) > 0 && len(atMax.replace["daemon"]) > 0 {
		q := ratio(atMax.replace["daemon"].median(), at1000.replace["daemon"].median())
		ok := q <= replaceScale
		fmt.Printf("\nreplacement p50 at N=%d / at N=1000: %.2fx  target <=%.2gx  %s\n", atMax.n, q, replaceScale, verdict(&ok))
		if c := ratio(atMax.replace["C"].median(), at1000.replace["C"].median()); c > 0 {
			fmt.Printf("the C floor's own replacement p50 at N=%d / at N=1000: %.2fx (report)\n", atMax.n, c)
		}
	}
}

// fmtHost is what the host took: "steal 120ms, kdamond 45ms".
func fmtHost(h benchkit.HostReading) string {
	return fmt.Sprintf("steal %s, kdamond %s", fmtDur(h.Steal), fmtDur(h.Damon))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func fmtRatio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

func verdict(ok *bool) string {
	switch {
	case ok == nil:
		return ""
	case *ok:
		return "PASS"
	default:
		return "MISS"
	}
}
