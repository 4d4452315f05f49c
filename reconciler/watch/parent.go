package watch

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// parentMask is what the parent's watch asks for: entries created,
// deleted or renamed (DIR's name re-pointed, removed, re-created) and the
// parent itself deleted or moved. Not writes, attribute changes or
// closes of the parent's files: fsnotify's watch asks for those too (its
// mask cannot be narrowed), and a DIR beside a busy log file woke the
// daemon at every line written.
const parentMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// parentEvent is one event of the parent's watch.
type parentEvent struct {
	wd       int32
	mask     uint32
	name     string // the entry's path (parent/base), "" for the parent itself
	overflow bool   // the kernel's queue overflowed: events were lost
}

// parentWatcher watches one directory with parentMask on an inotify
// instance of its own. Its reader goroutine sends the events on events
// until close, which closes the fd and waits for the goroutine.
type parentWatcher struct {
	fd     int      // the inotify fd, for adding and removing watches (not f.Fd, which may make it blocking)
	f      *os.File // fd, read in the netpoller
	events chan parentEvent
	errs   chan error
	done   sync.WaitGroup

	mu   sync.Mutex // wd and dir, for the reader's names
	wd   int32      // -1: no watch
	dir  string
	stop chan struct{}
}

func newParentWatcher() (*parentWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	// Non-blocking: the reader waits in the netpoller, and close wakes it.
	p := &parentWatcher{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), events: make(chan parentEvent),
		errs: make(chan error, 1), wd: -1, stop: make(chan struct{})}
	p.done.Add(1)
	go p.read()
	return p, nil
}

// add watches dir, in place of what was watched.
func (p *parentWatcher) add(dir string) error {
	p.remove()
	wd, err := unix.InotifyAddWatch(p.fd, dir, parentMask)
	if err != nil {
		return &os.PathError{Op: "inotify_add_watch", Path: dir, Err: err}
	}
	p.mu.Lock()
	p.wd, p.dir = int32(wd), dir
	p.mu.Unlock()
	return nil
}

// remove drops the watch, if any; one the kernel dropped already (the
// directory went) is no error.
func (p *parentWatcher) remove() {
	p.mu.Lock()
	wd := p.wd
	p.wd, p.dir = -1, ""
	p.mu.Unlock()
	if wd >= 0 {
		_, _ = unix.InotifyRmWatch(p.fd, uint32(wd))
	}
}

// current reports whether ev comes from the watch in place.
func (p *parentWatcher) current(ev parentEvent) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ev.overflow || ev.wd == p.wd
}

func (p *parentWatcher) close() error {
	close(p.stop)
	err := p.f.Close() // wakes the reader
	p.done.Wait()
	return err
}

// read sends the events until the fd is closed. The buffer holds at least
// one event of the longest name.
func (p *parentWatcher) read() {
	defer p.done.Done()
	buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := p.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				select {
				case p.errs <- err:
				case <-p.stop:
				}
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			end := off + unix.SizeofInotifyEvent + int(raw.Len)
			if end > n {
				break // not expected: the kernel writes whole events
			}
			ev := parentEvent{wd: raw.Wd, mask: raw.Mask, overflow: raw.Mask&unix.IN_Q_OVERFLOW != 0}
			if name := buf[off+unix.SizeofInotifyEvent : end]; len(name) > 0 {
				if i := bytes.IndexByte(name, 0); i >= 0 {
					name = name[:i]
				}
				p.mu.Lock()
				ev.name = filepath.Join(p.dir, string(name))
				p.mu.Unlock()
			}
			off = end
			select {
			case p.events <- ev:
			case <-p.stop:
				return
			}
		}
	}
}
