package health

import (
	"context"
	"time"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/spec"
)

// maxGrid is the coarsest grid that probe times are rounded up to (see Run).
const maxGrid = 100 * time.Millisecond

// gridFor returns the grid of probes with period: a tenth of it, at most
// maxGrid and at least 1ms.
func gridFor(period time.Duration) time.Duration {
	return min(maxGrid, max(period/10, time.Millisecond))
}

// align rounds t up to a multiple of grid since the zero time, so that all
// workers share one grid. The grid is on the wall clock (Truncate drops the
// monotonic reading), but the result keeps t's monotonic reading: scheduled
// times carried from probe to probe must not follow a step of the wall clock
// (a step back would otherwise stall the worker for as long).
func align(t time.Time, grid time.Duration) time.Time {
	a := t.Truncate(grid)
	if a.Before(t) {
		a = a.Add(grid)
	}
	return t.Add(a.Sub(t)) // an offset in [0, grid) from t
}

// Verdict is the thresholded state of a probe.
type Verdict struct {
	// Passing is true after successThreshold successes in a row, false after
	// failureThreshold failures in a row.
	Passing bool
	// Result is the probe result that tipped the verdict; for a failing
	// verdict its Err and Output say why (the Unhealthy event's message).
	Result Result
}

// Run runs pr on p's schedule until ctx is done, and calls report on each
// change of the verdict, the first one included (see the package
// documentation for the timeline). It returns when ctx is done, without
// calling report after that; the caller owns the goroutine that runs it.
//
// report is called on Run's goroutine: it should hand the verdict over and
// return (for example a send on a channel, bounded by ctx). While it blocks,
// only this worker waits.
//
// Probe times are rounded up to a grid shared by all workers in the process:
// a tenth of the period, at most 100ms (so the first probe comes up to that
// much after initialDelay). Probes that are due in the same grid slot then
// run in one wake-up of the process instead of one each. Waking an idle
// process costs far more CPU than a loopback connect, so probes spread evenly
// cost several times as much as the same probes in a few batches (see
// hack/bench/README.md).
//
// p's zero fields take the Kubernetes defaults: period 10s, timeout 1s,
// thresholds 1. clk nil means the wall clock. The timeout is always real
// time (it goes into the probe's context), also with a fake clock.
func Run(ctx context.Context, p *spec.Probe, pr Prober, clk clock.Clock, report func(Verdict)) {
	period, timeout := p.Period, p.Timeout
	if period <= 0 {
		period = spec.DefaultProbePeriod
	}
	if timeout <= 0 {
		timeout = spec.DefaultProbeTimeout
	}
	grid := gridFor(period)
	th := newThresholds(p.SuccessThreshold, p.FailureThreshold)
	a := newAlarm(clk)
	defer a.stop()

	now := a.now()
	next := align(now.Add(p.InitialDelay), grid)
	if next.After(now) {
		a.set(next)
		if !a.wait(ctx) {
			return
		}
	}
	for {
		// The next probe is scheduled from this one's scheduled time, not
		// from when it ran, so the schedule does not drift; it is armed
		// before the probe runs, so a slow probe does not shift it either.
		// Slots missed by a probe that ran over are skipped, not caught up.
		next = next.Add(period)
		if now := a.now(); next.Before(now) {
			next = now
		}
		next = align(next, grid)
		a.set(next)
		pctx, cancel := context.WithTimeout(ctx, timeout)
		r := pr.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return // cut short by the owner, not a result
		}
		if th.observe(r.OK) {
			report(Verdict{Passing: th.passing, Result: r})
		}
		if !a.wait(ctx) {
			return
		}
	}
}

// alarm is a worker's one pending wake-up. An alarm that goes off while the
// worker is busy stays due until the next wait (one slot: they never pile
// up).
type alarm struct {
	clk clock.Clock
	t   clock.Timer
	due chan struct{}
}

func newAlarm(clk clock.Clock) *alarm {
	if clk == nil {
		clk = clock.Real{}
	}
	return &alarm{clk: clk, due: make(chan struct{}, 1)}
}

func (a *alarm) now() time.Time { return a.clk.Now() }

// set arms the alarm for at, replacing the pending one (a due one stays due).
func (a *alarm) set(at time.Time) {
	if a.t != nil {
		a.t.Stop()
	}
	a.t = a.clk.AfterFunc(max(at.Sub(a.clk.Now()), 0), a.fire)
}

// fire marks the alarm due; it never blocks (a fake clock calls it on the
// goroutine that steps time).
func (a *alarm) fire() {
	select {
	case a.due <- struct{}{}:
	default:
	}
}

// wait blocks until the alarm goes off (true) or ctx is done (false).
func (a *alarm) wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-a.due:
		return ctx.Err() == nil // both ready: the owner's word wins, no probe more
	}
}

func (a *alarm) stop() {
	if a.t != nil {
		a.t.Stop()
	}
}

// thresholds turns a sequence of probe results into a verdict: Kubernetes's
// failureThreshold and successThreshold, counting consecutive results.
//
//	state     result   run (consecutive same results)  verdict
//	unknown   ok       run >= success                  -> passing (changed)
//	unknown   fail     run >= failure                  -> failing (changed)
//	passing   fail     run >= failure                  -> failing (changed)
//	failing   ok       run >= success                  -> passing (changed)
//	any       other                                    unchanged
type thresholds struct {
	success, failure int
	known, passing   bool // the verdict; known is false until the first one
	lastOK           bool // the result the current run is made of
	run              int  // consecutive results equal to lastOK, capped
}

func newThresholds(success, failure int) thresholds {
	return thresholds{success: max(success, 1), failure: max(failure, 1)}
}

// observe counts one result and reports whether the verdict changed.
func (t *thresholds) observe(ok bool) bool {
	if t.run == 0 || ok != t.lastOK {
		t.lastOK, t.run = ok, 0
	}
	need := t.failure
	if ok {
		need = t.success
	}
	if t.run < need {
		t.run++
	}
	if t.run < need || (t.known && t.passing == ok) {
		return false
	}
	t.known, t.passing = true, ok
	return true
}
