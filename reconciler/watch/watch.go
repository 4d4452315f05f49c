package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// Defaults for the zero values of Options.
const (
	DefaultDebounce = 5 * time.Millisecond
	DefaultMaxDelay = 100 * time.Millisecond
	DefaultResync   = 30 * time.Second
)

// While the directory cannot be watched (missing, not a directory, or the
// watch cannot be added), the watcher retries with this bounded back-off, on
// top of the parent directory's events that usually bring it back sooner.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// errClosed reports that fsnotify closed its channels while we still used it.
var errClosed = errors.New("fsnotify watcher closed unexpectedly")

// Options configures a Watcher. The zero value of every field but Dir is a
// sensible default.
type Options struct {
	// Dir is the directory as the user gave it. It may be relative (it is made
	// absolute once, in New) and may be a symlink that is re-pointed later.
	Dir string
	// Debounce is the quiet period that ends a burst of changes; 0 means
	// DefaultDebounce.
	Debounce time.Duration
	// MaxDelay caps how long a notification waits under a continuous storm of
	// changes; 0 means DefaultMaxDelay. It is raised to Debounce if smaller.
	MaxDelay time.Duration
	// Resync is the period of the safety rescan; 0 means DefaultResync and a
	// negative value disables it.
	Resync time.Duration
	// Ignore reports whether changes of the directory entry with this base
	// name are the daemon's own and must not cause a rescan (status and event
	// files, their temp files, .reconciled). nil ignores nothing. It is called
	// from the watcher's goroutine only and must be fast.
	Ignore func(name string) bool
	// Log receives the watcher's logs. The caller names it.
	Log logr.Logger
}

// Watcher turns changes in a spec directory into "rescan now" notifications.
// It never says what changed: the receiver re-reads the whole directory.
type Watcher struct {
	dir      string // absolute and clean, not resolved
	debounce time.Duration
	maxDelay time.Duration
	resync   time.Duration
	ignore   func(string) bool
	log      logr.Logger

	out     chan struct{} // capacity 1: at most one notification pending
	kick    chan struct{} // capacity 1: Trigger requests, read by Run
	running atomic.Bool
}

// New validates opts, fills in defaults and returns a Watcher. It touches
// neither the file system nor inotify: that starts with Run.
func New(opts Options) (*Watcher, error) {
	if opts.Dir == "" {
		return nil, errors.New("watch: no directory given")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", opts.Dir, err)
	}
	w := &Watcher{
		dir:      dir,
		debounce: opts.Debounce,
		maxDelay: opts.MaxDelay,
		resync:   opts.Resync,
		ignore:   opts.Ignore,
		log:      opts.Log,
		out:      make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
	}
	if w.debounce <= 0 {
		w.debounce = DefaultDebounce
	}
	if w.maxDelay <= 0 {
		w.maxDelay = DefaultMaxDelay
	}
	if w.maxDelay < w.debounce {
		w.maxDelay = w.debounce
	}
	if w.resync == 0 {
		w.resync = DefaultResync
	}
	if w.ignore == nil {
		w.ignore = func(string) bool { return false }
	}
	return w, nil
}

// C returns the notification channel. It has capacity 1 and a pending
// notification is never duplicated. A receiver must take the notification
// before it reads the directory: a change made after the read then leaves a
// new notification behind.
func (w *Watcher) C() <-chan struct{} { return w.out }

// Trigger requests a rescan (SIGHUP). Like a change in the directory, it is
// debounced and coalesced, and it makes the watcher re-resolve Dir, so a
// symlink swap missed for any reason is picked up. It never blocks; a trigger
// made before Run is delivered when Run starts.
func (w *Watcher) Trigger() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run watches until ctx is done and then returns nil. It sends one
// notification as soon as the watches are in place, so a first scan made after
// receiving it misses nothing. A missing directory is not an error: Run
// notifies and waits for it to come back. Run fails only if inotify cannot be
// set up, and only one Run may be active at a time.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("watch: Run is already running")
	}
	defer w.running.Store(false)

	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	// Close also waits for fsnotify's reader goroutine to end.
	defer func() {
		if err := fsw.Close(); err != nil {
			w.log.Error(err, "Cannot close inotify watcher", "path", w.dir)
		}
	}()

	pw, err := newParentWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	// close also waits for the parent watcher's reader goroutine to end.
	defer func() {
		if err := pw.close(); err != nil {
			w.log.Error(err, "Cannot close inotify watcher of the parent directory", "path", w.dir)
		}
	}()

	l := newLoop(w, fsw, pw)
	defer l.stopTimers()
	return l.run(ctx)
}

// notify delivers a notification unless one is already pending.
func (w *Watcher) notify() {
	select {
	case w.out <- struct{}{}:
	default:
	}
}

// loop is the state of one Run. Only Run's goroutine touches it.
type loop struct {
	w   *Watcher
	fsw *fsnotify.Watcher // the directory
	pw  *parentWatcher    // its parent
	log logr.Logger

	// parent is filepath.Dir(w.dir), watched for changes of the name w.dir:
	// a re-pointed symlink, a removed or re-created directory. It is not
	// resolved: inotify follows symlinks when the watch is added.
	parent        string
	parentWatched bool
	parentFailed  bool // the last attempt failed and was logged

	// target is the resolved directory being watched ("" when none) and
	// targetInfo its identity when the watch was added, so that a directory
	// re-created under the same name is noticed.
	target     string
	targetInfo os.FileInfo

	burst      burst
	fire       *time.Timer // delivers the burst; stopped when no burst is open
	retry      *time.Timer // re-establishes the directory watch; stopped when watching
	retryArmed bool
	retryGap   time.Duration // the current back-off; 0 while watching
	resync     *time.Ticker  // nil when disabled
}

func newLoop(w *Watcher, fsw *fsnotify.Watcher, pw *parentWatcher) *loop {
	l := &loop{
		w:      w,
		fsw:    fsw,
		pw:     pw,
		log:    w.log.WithValues("path", w.dir),
		parent: filepath.Dir(w.dir),
		burst:  burst{debounce: w.debounce, maxDelay: w.maxDelay},
		fire:   time.NewTimer(time.Hour),
		retry:  time.NewTimer(time.Hour),
	}
	// Since Go 1.23 a stopped timer never delivers a stale value, so the
	// select below can always listen on both channels.
	l.fire.Stop()
	l.retry.Stop()
	if w.resync > 0 {
		l.resync = time.NewTicker(w.resync)
	}
	return l
}

func (l *loop) stopTimers() {
	l.fire.Stop()
	l.retry.Stop()
	if l.resync != nil {
		l.resync.Stop()
	}
}

func (l *loop) run(ctx context.Context) error {
	var resync <-chan time.Time
	if l.resync != nil {
		resync = l.resync.C
	}

	l.refresh(false)
	l.w.notify()

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-l.fsw.Events:
			if !ok {
				return fmt.Errorf("watch %s: %w", l.w.dir, errClosed)
			}
			l.event(ev)
		case err, ok := <-l.fsw.Errors:
			if !ok {
				return fmt.Errorf("watch %s: %w", l.w.dir, errClosed)
			}
			// Events may have been lost, including a symlink swap: re-check
			// everything and rescan. Never get stuck on an error.
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				l.log.Error(err, "Event queue overflowed, rescanning")
			} else {
				l.log.Error(err, "Watch error, rescanning")
			}
			l.refresh(true)
			l.schedule()
		case ev := <-l.pw.events:
			l.parentEvent(ev)
		case err := <-l.pw.errs:
			// The parent's reader has ended: the resync (and SIGHUP)
			// still re-resolve DIR.
			l.log.Error(err, "Cannot read the parent directory's watch, a re-pointed or re-created directory is noticed at resync only", "parent", l.parent)
		case <-l.w.kick:
			l.refresh(false)
			l.schedule()
		case <-resync:
			l.log.V(1).Info("Periodic resync")
			l.refresh(false)
			l.schedule()
		case <-l.retry.C:
			l.retryWatch()
		case <-l.fire.C:
			n := l.burst.take()
			l.log.V(1).Info("Rescan requested", "events", n)
			l.w.notify()
		}
	}
}

// event sorts one fsnotify event. Its type carries no meaning; only where it
// happened does.
func (l *loop) event(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	switch {
	case l.target != "" && filepath.Dir(name) == l.target:
		// An entry of the watched directory.
		if l.w.ignore(filepath.Base(name)) {
			return
		}
		l.schedule()
	case name == l.w.dir || (l.target != "" && name == l.target):
		// The directory itself, seen from its own watch (deleted, moved,
		// chmod). After a remove or a rename the watch is re-added even if
		// the path leads to the same directory again: fsnotify drops a
		// watch whose directory moved, and the directory may have moved
		// back.
		l.refresh(ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename))
		l.schedule()
	default:
		// A late event of a directory we no longer watch (a symlink's old
		// target).
	}
}

// parentEvent sorts one event of the parent's watch: DIR's name
// re-pointed, removed or created, the resolved target's deletion (inotify
// reports it only through the parent when both are watched), or the
// parent itself deleted or moved.
func (l *loop) parentEvent(ev parentEvent) {
	if !l.pw.current(ev) {
		return // of a watch since replaced
	}
	switch {
	case ev.overflow:
		l.log.Error(fsnotify.ErrEventOverflow, "Event queue of the parent directory overflowed, rescanning")
		l.refresh(true)
		l.schedule()
	case ev.mask&(unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_IGNORED) != 0:
		// The parent itself went: its watch is gone.
		l.pw.remove()
		l.parentWatched = false
		l.refresh(false)
		l.schedule()
	case ev.name == l.w.dir || (l.target != "" && ev.name == l.target):
		// As for the directory's own events above: re-added even if the
		// path leads to the same directory again.
		l.refresh(ev.mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0)
		l.schedule()
	default:
		// Another entry of the parent.
	}
}

// schedule adds a trigger to the current burst and (re)arms its timer.
func (l *loop) schedule() {
	l.fire.Reset(l.burst.add(time.Now()))
}

// refresh makes sure the parent is watched and that the directory watch is on
// what Dir resolves to now; force re-adds it even if nothing seems to have
// changed. It reports whether the directory watch changed.
func (l *loop) refresh(force bool) bool {
	l.watchParent()
	return l.watchTarget(force)
}

func (l *loop) watchParent() {
	if l.parentWatched || l.parent == l.w.dir {
		return
	}
	if err := l.pw.add(l.parent); err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			// DIR is missing too; the retry brings both back.
			l.log.V(1).Info("Parent directory missing", "parent", l.parent)
		case !l.parentFailed:
			l.log.Error(err, "Cannot watch parent directory, a re-pointed or re-created directory is noticed at resync only", "parent", l.parent)
			l.parentFailed = true
		}
		return
	}
	l.parentWatched, l.parentFailed = true, false
}

// watchTarget resolves Dir and moves the directory watch there if the result
// differs, by path or by identity, from what is watched. On failure it drops
// the watch and arms the retry.
func (l *loop) watchTarget(force bool) bool {
	target, info, err := resolve(l.w.dir)
	if err != nil {
		changed := l.target != ""
		if changed {
			l.unwatchTarget()
		}
		if changed || l.retryGap == 0 {
			l.log.Error(err, "Directory unavailable, waiting for it")
		}
		l.armRetry()
		return changed
	}
	if !force && l.target == target && os.SameFile(l.targetInfo, info) {
		return false
	}
	previous := l.target
	if previous != "" {
		l.unwatchTarget()
	}
	// info was taken before the watch is added: if the directory is replaced
	// in between, the next event finds a different identity and re-adds.
	if err := l.fsw.Add(target); err != nil {
		l.log.Error(err, "Cannot watch directory, retrying", "target", target)
		l.armRetry()
		return previous != ""
	}
	l.target, l.targetInfo = target, info
	l.retry.Stop()
	l.retryArmed, l.retryGap = false, 0
	if previous == "" || previous == target {
		l.log.Info("Watching directory", "target", target)
	} else {
		l.log.Info("Directory target changed, watch moved", "target", target, "previous", previous)
	}
	return true
}

// unwatchTarget drops the directory watch. fsnotify may already have dropped
// it (the directory was deleted or moved), so errors are only logged.
func (l *loop) unwatchTarget() {
	if err := l.fsw.Remove(l.target); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
		l.log.V(1).Info("Cannot remove stale watch", "target", l.target, "reason", err.Error())
	}
	l.target, l.targetInfo = "", nil
}

// armRetry schedules the next attempt to watch the directory unless one is
// already scheduled. The gap doubles with each failed attempt up to retryMax.
func (l *loop) armRetry() {
	if l.retryArmed {
		return
	}
	if l.retryGap == 0 {
		l.retryGap = retryMin
	}
	l.retry.Reset(l.retryGap)
	l.retryArmed = true
}

func (l *loop) retryWatch() {
	l.retryArmed = false
	l.retryGap = min(2*l.retryGap, retryMax)
	if l.refresh(false) {
		l.schedule()
	}
}

// resolve returns the directory path resolves to, without symlinks, and its
// identity.
func resolve(path string) (string, os.FileInfo, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", nil, err
	}
	info, err := os.Stat(target)
	if err != nil {
		return "", nil, err
	}
	if !info.IsDir() {
		return "", nil, fmt.Errorf("%s: not a directory", target)
	}
	return target, info, nil
}
