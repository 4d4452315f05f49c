package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EmptyWatcher tells when instance cgroups become empty, for all of them
// with one inotify instance and one goroutine: the kernel signals a change
// of cgroup.events ("populated 0") as a modification of that file. The
// inotify fd is non-blocking and handed to Go's netpoller, so the goroutine
// holds no thread while nothing happens; no timer runs.
//
// Each Watch is one-shot: its callback runs once, on the watcher's
// goroutine (or the recheck's, see below), when the cgroup is found empty
// (or removed), and the watch is then dropped. Callbacks must not block:
// they hand the news on.
//
// Each watch takes one inotify watch of fs.inotify.max_user_watches. Only
// cgroup v2 has cgroup.events; on a v1-only host callers keep following
// process groups instead.
//
// A cgroup.events that cannot be read (EMFILE, ENFILE: the daemon out of
// file descriptors) counts as populated; since its last change may have
// been that one, every watch is read again after a back-off (recheckMin
// doubling to recheckMax) until the reads succeed. That timer runs only
// after a failed read, and its callbacks run on its own goroutine.
type EmptyWatcher struct {
	f    *os.File
	fd   int // the raw fd, for inotify_add_watch; valid while !closed
	done chan struct{}
	// read reads the populated key of a cgroup.events file (readKeyed;
	// tests fail it).
	read func(path, key string) (uint64, bool, error)

	mu      sync.Mutex
	closed  bool
	byWD    map[int32]*watch
	byEvent map[string]int32 // cgroup.events path -> wd
	failed  bool             // a read failed since the last recheck was armed
	recheck *time.Timer      // armed after a failed read; nil otherwise
	backoff time.Duration    // the delay of the next recheck
	timers  sync.WaitGroup   // the recheck callback running, for Close
}

// The back-off of the recheck after a failed read.
const (
	recheckMin = 100 * time.Millisecond
	recheckMax = 5 * time.Second
)

type watch struct {
	events string
	fn     func()
}

// NewEmptyWatcher starts a watcher; Close stops it.
func NewEmptyWatcher() (*EmptyWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cgroup empty watcher: inotify_init1: %w", err)
	}
	w := &EmptyWatcher{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, done: make(chan struct{}),
		read: readKeyed, byWD: map[int32]*watch{}, byEvent: map[string]int32{}}
	go w.loop()
	return w, nil
}

// Watch calls fn once the cgroup of i is empty. When it is empty already,
// Watch registers nothing and returns true, and fn is never called; so a
// caller watches after its process started, and either gets true or,
// later, exactly one call. Watching an instance again replaces its fn.
func (w *EmptyWatcher) Watch(i *Instance, fn func()) (bool, error) {
	return w.watch(i.v2+"/"+fileEvents, fn)
}

func (w *EmptyWatcher) watch(events string, fn func()) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false, fmt.Errorf("watch %s: %w", events, os.ErrClosed)
	}
	wd, err := unix.InotifyAddWatch(w.fd, events, unix.IN_MODIFY)
	if err != nil {
		return false, fmt.Errorf("watch %s: %w", events, err)
	}
	// Checked after the watch is in place, so no change can fall between.
	// The loop cannot act on this wd before the lock is released.
	if !w.stillPopulated(events) {
		_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
		w.forget(int32(wd))
		return true, nil
	}
	w.byWD[int32(wd)] = &watch{events: events, fn: fn}
	w.byEvent[events] = int32(wd)
	w.armRecheck()
	return false, nil
}

// Unwatch drops the watch of i, and reports whether there was one: false
// means its fn has been called or is being called (or it was never
// watched).
func (w *EmptyWatcher) Unwatch(i *Instance) bool {
	events := i.v2 + "/" + fileEvents
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, ok := w.byEvent[events]
	if !ok || w.closed {
		return false
	}
	_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
	w.forget(wd)
	return true
}

// Len returns the number of watches.
func (w *EmptyWatcher) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byWD)
}

// Close stops the watcher and waits for its goroutine; no fn is called
// after it returns. A callback must not call Close (it would wait for
// itself).
func (w *EmptyWatcher) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	if w.recheck != nil && w.recheck.Stop() {
		w.timers.Done()
	}
	w.recheck = nil
	w.mu.Unlock()
	err := w.f.Close()
	<-w.done
	w.timers.Wait()
	return err
}

func (w *EmptyWatcher) forget(wd int32) {
	if x := w.byWD[wd]; x != nil {
		delete(w.byEvent, x.events)
	}
	delete(w.byWD, wd)
}

// stillPopulated reads cgroup.events; a cgroup that is gone is empty, and
// one that cannot be read counts as populated, and is read again by the
// recheck that armRecheck arms. Called with mu held.
func (w *EmptyWatcher) stillPopulated(events string) bool {
	n, ok, err := w.read(events, "populated")
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) {
		return false
	}
	if err != nil {
		w.failed = true
	}
	return err != nil || !ok || n != 0
}

// armRecheck arms the recheck after a failed read, unless one is armed;
// after reads that all succeeded it resets the back-off. Called with mu
// held.
func (w *EmptyWatcher) armRecheck() {
	if !w.failed {
		if w.recheck == nil {
			w.backoff = 0
		}
		return
	}
	w.failed = false
	if w.recheck != nil || w.closed {
		return
	}
	w.backoff = min(max(2*w.backoff, recheckMin), recheckMax)
	w.timers.Add(1)
	w.recheck = time.AfterFunc(w.backoff, w.runRecheck)
}

// runRecheck reads every watched cgroup again, fires the callbacks of the
// empty ones, and arms itself again while reads fail.
func (w *EmptyWatcher) runRecheck() {
	defer w.timers.Done()
	w.mu.Lock()
	w.recheck = nil
	if w.closed {
		w.mu.Unlock()
		return
	}
	fire := w.recheckAll()
	w.armRecheck()
	w.mu.Unlock()
	for _, fn := range fire {
		fn()
	}
}

func (w *EmptyWatcher) loop() {
	defer close(w.done)
	buf := make([]byte, 64*unix.SizeofInotifyEvent)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed; a non-blocking inotify fd has no other error to wait out
		}
		var fire []func()
		w.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				fire = append(fire, w.recheckAll()...)
				continue
			}
			x := w.byWD[ev.Wd]
			if x == nil {
				continue // dropped already, or the IN_IGNORED of a removal
			}
			if ev.Mask&unix.IN_IGNORED == 0 && w.stillPopulated(x.events) {
				continue
			}
			if ev.Mask&unix.IN_IGNORED == 0 {
				_, _ = unix.InotifyRmWatch(w.fd, uint32(ev.Wd))
			}
			w.forget(ev.Wd)
			fire = append(fire, x.fn)
		}
		w.armRecheck()
		w.mu.Unlock()
		for _, fn := range fire {
			fn()
		}
	}
}

// recheckAll handles a queue overflow (events were lost): every watched
// cgroup is read again. Called with mu held.
func (w *EmptyWatcher) recheckAll() []func() {
	var fire []func()
	for wd, x := range w.byWD {
		if !w.stillPopulated(x.events) {
			_, _ = unix.InotifyRmWatch(w.fd, uint32(wd))
			w.forget(wd)
			fire = append(fire, x.fn)
		}
	}
	return fire
}
