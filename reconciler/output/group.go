package output

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/reconciled/reconciled/internal/epoll"
)

// Defaults of Options.
const (
	DefaultBufferSize = 256 << 10
	DefaultPipeSize   = 256 << 10
	DefaultRetryMin   = 50 * time.Millisecond
	DefaultRetryMax   = 2 * time.Second
)

// Options configure a Group. The zero value of each field is a sensible
// default.
type Options struct {
	// BufferSize is the size of a pump's read buffer, and so the longest
	// line that is written whole (default 256 KiB).
	BufferSize int
	// PipeSize is the capacity a pump gives its pipe once a read finds it
	// at least half full (a fast writer), so that the child hands over more per wake-up
	// (default 256 KiB; the kernel's default is 64 KiB). Quiet instances
	// keep the kernel's default. Above /proc/sys/fs/pipe-max-size, or past
	// an unprivileged user's pipe quota, the pipe keeps its size.
	PipeSize int
	// RetryMin and RetryMax bound the back-off between two attempts of a
	// failing write (defaults 50ms and 2s).
	RetryMin, RetryMax time.Duration
	// Now is the clock of the arrival indexes (default time.Now).
	Now func() time.Time
	// Report is told when a target fails and when it works again. It is
	// called from whichever goroutine runs the pump at the time (the epoll
	// set's, a drain goroutine, or one calling Abort or Drain) and must not
	// block for long.
	Report func(Report)
}

// Source names the stream a pump reads.
type Source struct {
	Program  string // NAME
	Instance string // NAME-i
	Stream   string // stdout or stderr ("stdout" for a merged pair)
}

// Report is a change in a pump's ability to write one target.
type Report struct {
	Source
	// Target is the log file's path, or "terminal".
	Target string
	// Err is why writing fails; nil: writing works again.
	Err error
	// Dropped counts bytes given up: by a best-effort target that failed,
	// or by an aborted pump.
	Dropped int64
}

// Target is one destination of a pump.
type Target struct {
	// Name is how reports call it: the path of a log file, or "terminal".
	// Empty: the Name of W, if it has that method (an AutoLog, which makes
	// its path only when asked).
	Name string
	W    io.Writer
	// BestEffort gives up on the target at its first error (reporting it)
	// instead of retrying: for the terminal, which must never hold up the
	// children.
	BestEffort bool
}

// Group owns the pumps of a daemon and the log files they write. Its
// methods are safe for concurrent use.
type Group struct {
	opts Options
	bufs sync.Pool // *[]byte of opts.BufferSize

	set epoll.Set // the pipes of the idle pumps

	mu      sync.Mutex
	pumps   *Pump // the running pumps, linked by their prev and next
	npumps  int
	files   map[string]*sharedFile   // by clean path
	indexes map[string]*arrivalIndex // by path
	kinds   []*lazyKind              // the last kinds of lazy files made, for sharing
}

// NewGroup returns an empty Group.
func NewGroup(o Options) *Group {
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.PipeSize <= 0 {
		o.PipeSize = DefaultPipeSize
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultRetryMax, o.RetryMin)
	}
	if o.Report == nil {
		o.Report = func(Report) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	g := &Group{opts: o, files: map[string]*sharedFile{}, indexes: map[string]*arrivalIndex{}}
	g.bufs.New = func() any {
		b := make([]byte, o.BufferSize)
		return &b
	}
	return g
}

// Start starts a pump that reads the pipe r (a non-blocking fd, as Pipe
// makes it) until end of file and writes what it reads to targets. The pump
// owns r and closes it, and closes every target that is an io.Closer, when
// it ends; it does so at once when it cannot start (the error: r cannot be
// watched, e.g. out of memory or past fs.epoll.max_user_watches).
//
// Nothing runs for the pump while its pipe is empty: r waits in the Group's
// epoll set (see package epoll), and a goroutine runs only while there is
// data to write.
func (g *Group) Start(r int, src Source, targets ...Target) (*Pump, error) {
	p := &Pump{g: g, fd: int32(r), src: src}
	switch {
	case len(targets) == 1:
		p.first[0], p.one = newTarget(targets[0]), true
	case len(targets) > 1:
		ts := make([]target, len(targets))
		for i, t := range targets {
			ts[i] = newTarget(t)
		}
		p.more = &ts
	}
	// p.mu is held from before the pump is known to Group.Wait (whose
	// Abort then waits for it) until it is idle, and across Add, so that a
	// Ready that comes at once waits for the token and the idle state.
	p.mu.Lock()
	g.mu.Lock()
	p.next = g.pumps
	if g.pumps != nil {
		g.pumps.prev = p
	}
	g.pumps = p
	g.npumps++
	g.mu.Unlock()
	tok, err := g.set.Add(r, p)
	if err != nil {
		p.mu.Unlock()
		p.end()
		return nil, fmt.Errorf("watch output pipe: %w", err)
	}
	p.tok, p.state = tok, pumpIdle
	p.mu.Unlock()
	return p, nil
}

// Wait waits until every pump has ended. When ctx is done first, it aborts
// the pumps still running (a descendant that escaped its process group keeps
// a pipe open, or a disk stays full) and waits for them to end.
func (g *Group) Wait(ctx context.Context) {
	for {
		g.mu.Lock()
		p := g.pumps
		g.mu.Unlock()
		if p == nil {
			return
		}
		select {
		case <-p.Done():
		case <-ctx.Done():
			g.mu.Lock()
			left := make([]*Pump, 0, g.npumps)
			for q := g.pumps; q != nil; q = q.next {
				left = append(left, q)
			}
			g.mu.Unlock()
			for _, q := range left {
				q.Abort()
			}
			for _, q := range left {
				<-q.Done()
			}
			return
		}
	}
}

// Drain takes the pipes that are ready now on the caller's goroutine,
// without waiting for the epoll set's: a safety net for a waiter that
// expects an end of file (see epoll.Set.Drain).
func (g *Group) Drain() { g.set.Drain() }

// Pumps returns the number of pumps running.
func (g *Group) Pumps() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.npumps
}

// remove takes an ended pump out of the list of running pumps.
func (g *Group) remove(p *Pump) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p.prev != nil {
		p.prev.next = p.next
	} else if g.pumps == p {
		g.pumps = p.next
	} else {
		return // not in the list (never, or already, removed)
	}
	if p.next != nil {
		p.next.prev = p.prev
	}
	p.prev, p.next = nil, nil
	g.npumps--
}

func (g *Group) getBuf() *[]byte  { return g.bufs.Get().(*[]byte) }
func (g *Group) putBuf(b *[]byte) { g.bufs.Put(b) }
