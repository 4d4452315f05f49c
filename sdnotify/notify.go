package sdnotify

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/clock"
)

// Source is what the notifier reports: monitor.State is one.
type Source interface {
	// ReadyC is closed when the daemon is ready.
	ReadyC() <-chan struct{}
	// Changed is marked after any change the summary may show.
	Changed() <-chan struct{}
	// Summary is the one line of STATUS=.
	Summary() string
}

// Options configure a Notifier; the zero value of each is a default.
type Options struct {
	Log logr.Logger
	// Clock times the watchdog and the STATUS= rate (default: the wall
	// clock).
	Clock clock.Clock
	// StatusEvery is the least time between two STATUS= (default 1s).
	StatusEvery time.Duration
}

// Notifier sends the daemon's notifications to systemd.
type Notifier struct {
	log         logr.Logger
	clock       clock.Clock
	statusEvery time.Duration
	// watchdog is WATCHDOG_USEC when it is meant for this process.
	watchdog time.Duration

	wake chan struct{} // one slot: a hook noted something

	mu sync.Mutex
	// reloadAt is when the pending SIGHUP came (zero: none); announced
	// when RELOADING=1 is sent; reloaded when a pass that began at or
	// after reloadAt has ended.
	reloadAt            time.Time
	announced, reloaded bool
	stopping, stopSent  bool
	ready               bool
	failing             bool // the last send failed (logged once)
}

// New returns a Notifier for the environment systemd gave the process
// ($NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID).
func New(o Options) *Notifier {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = time.Second
	}
	n := &Notifier{log: o.Log, clock: o.Clock, statusEvery: o.StatusEvery, wake: make(chan struct{}, 1)}
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Error(err, "Ignoring the watchdog systemd asks for")
	}
	n.watchdog = wd
	return n
}

// Enabled reports whether systemd listens ($NOTIFY_SOCKET is set).
func Enabled() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// Watchdog returns the watchdog period systemd asked for (0: none).
func (n *Notifier) Watchdog() time.Duration { return n.watchdog }

// Reloading notes a SIGHUP: RELOADING=1 now, READY=1 after the rescan.
// Call it before the rescan is asked for.
func (n *Notifier) Reloading() {
	n.mu.Lock()
	if n.ready && !n.stopping {
		n.reloadAt, n.announced, n.reloaded = n.clock.Now(), false, false
	}
	n.mu.Unlock()
	n.poke()
}

// Passed notes the end of a pass that began at start (the loop's hook).
func (n *Notifier) Passed(start time.Time) {
	n.mu.Lock()
	hit := !n.reloadAt.IsZero() && !start.Before(n.reloadAt)
	if hit {
		n.reloaded = true
	}
	n.mu.Unlock()
	if hit {
		n.poke()
	}
}

// Stopping notes the start of the shutdown.
func (n *Notifier) Stopping() {
	n.mu.Lock()
	n.stopping = true
	n.mu.Unlock()
	n.poke()
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run sends the notifications until ctx is done: READY=1 and STATUS= from
// src, the reload and stop messages the hooks note, and, when systemd asks
// for a watchdog, WATCHDOG=1 whenever alive returns nil in time. Give it a
// context that outlives the daemon's stop, so that the stop is reported.
func (n *Notifier) Run(ctx context.Context, src Source, alive func(context.Context) error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if n.watchdog > 0 {
		wg.Go(func() { n.runWatchdog(ctx, alive) })
	}
	readyC := src.ReadyC()
	changed := src.Changed()
	statusDue := make(chan struct{}, 1)
	var (
		lastStatus string
		lastAt     time.Time
		timer      clock.Timer
	)
	status := func() {
		if timer != nil {
			return // the timer sends it
		}
		if wait := n.statusEvery - n.clock.Now().Sub(lastAt); !lastAt.IsZero() && wait > 0 {
			timer = n.clock.AfterFunc(wait, func() {
				select {
				case statusDue <- struct{}{}:
				default:
				}
			})
			return
		}
		if line := src.Summary(); line != lastStatus {
			lastStatus, lastAt = line, n.clock.Now()
			n.send("STATUS=" + line)
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-readyC:
			readyC = nil
			lastStatus, lastAt = src.Summary(), n.clock.Now()
			n.mu.Lock()
			n.ready = true
			stopping := n.stopping
			n.mu.Unlock()
			if !stopping {
				n.send(daemon.SdNotifyReady + "\nSTATUS=" + lastStatus)
			}
		case <-changed:
			status()
		case <-statusDue:
			timer = nil
			status()
		case <-n.wake:
			for msg := n.next(); msg != ""; msg = n.next() {
				lastStatus, lastAt = src.Summary(), n.clock.Now()
				n.send(msg + "\nSTATUS=" + lastStatus)
			}
		}
	}
}

// next returns the next message the hooks call for, "" when none: STOPPING=1
// (after which nothing else), RELOADING=1, then READY=1 once the rescan
// has passed.
func (n *Notifier) next() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.stopping && !n.stopSent:
		n.stopSent = true
		return daemon.SdNotifyStopping
	case n.stopping:
	case !n.reloadAt.IsZero() && !n.announced:
		n.announced = true
		if usec := strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"); usec != "" {
			return daemon.SdNotifyReloading + "\n" + usec
		}
		return daemon.SdNotifyReloading
	case !n.reloadAt.IsZero() && n.reloaded:
		n.reloadAt = time.Time{}
		return daemon.SdNotifyReady
	}
	return ""
}

// runWatchdog pings every half watchdog period; between READY=1 and
// STOPPING=1 only when alive answers within a quarter of it. Before READY=1
// systemd's start timeout watches the daemon, after STOPPING=1 its stop
// timeout.
func (n *Notifier) runWatchdog(ctx context.Context, alive func(context.Context) error) {
	every := n.watchdog / 2
	n.log.V(1).Info("Watchdog on", "period", n.watchdog.String())
	for {
		if !n.after(ctx, every) {
			return
		}
		n.mu.Lock()
		check := n.ready && !n.stopping
		n.mu.Unlock()
		if check {
			actx, cancel := context.WithCancel(ctx)
			deadline := n.clock.AfterFunc(every/2, cancel)
			err := alive(actx)
			deadline.Stop()
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				n.log.Error(err, "The loop did not answer: withholding WATCHDOG=1 (systemd restarts the daemon if this goes on)")
				continue
			}
		}
		n.send(daemon.SdNotifyWatchdog)
	}
}

// after waits d on the notifier's clock; false when ctx ended first.
func (n *Notifier) after(ctx context.Context, d time.Duration) bool {
	due := make(chan struct{})
	t := n.clock.AfterFunc(d, func() { close(due) })
	select {
	case <-due:
		return true
	case <-ctx.Done():
		t.Stop()
		return false
	}
}

// send sends one message; a failure is logged when sending starts to fail,
// not on every message after it.
func (n *Notifier) send(msg string) {
	_, err := daemon.SdNotify(false, msg)
	n.mu.Lock()
	first := err != nil && !n.failing
	n.failing = err != nil
	n.mu.Unlock()
	if first {
		n.log.Error(err, "Cannot notify systemd")
	}
}
