package output

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of Options.
const (
	DefaultBufferSize = 256 << 10
	DefaultPipeSize   = 256 << 10
	DefaultRetryMin   = 50 * time.Millisecond
	DefaultRetryMax   = 2 * time.Second
)

// carryMax is the longest partial line an idle pump keeps in a small slice
// of its own, so that it can give its buffer back while it waits.
const carryMax = 4 << 10

// minPipeSize is the smallest capacity a pipe can have (one page): a read of
// less than half of it cannot have found the pipe half full, so the pump
// does not ask the pipe's size until a read is that big. Most instances
// write little, and their pumps never ask.
const minPipeSize = 4 << 10

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
	// Report is told when a target fails and when it works again. It is
	// called from the pump's goroutine and must not block for long.
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

	mu    sync.Mutex
	pumps map[*Pump]struct{}
	files map[string]*sharedFile // by clean path
}

type sharedFile struct {
	*File
	refs int
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
	g := &Group{opts: o, pumps: map[*Pump]struct{}{}, files: map[string]*sharedFile{}}
	g.bufs.New = func() any {
		b := make([]byte, o.BufferSize)
		return &b
	}
	return g
}

// OpenFile opens the log file at path for a pump, or shares the one already
// open at that path (whose limits then become o's: the newest spec's). Close
// the result when done with it; the pump that gets it as a Target does.
//
// The open itself runs outside the Group's lock, so that instances starting
// together open their files in parallel; when two open the same path at
// once, the second one to finish closes its file and shares the first's.
func (g *Group) OpenFile(path string, o FileOptions) (io.WriteCloser, error) {
	path = filepath.Clean(path)
	if ref := g.share(path, o); ref != nil {
		return ref, nil
	}
	f, err := OpenFile(path, o)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	sf := g.files[path]
	if sf == nil {
		sf = &sharedFile{File: f, refs: 1}
		g.files[path] = sf
		f = nil
	} else {
		sf.refs++
		sf.setOptions(o)
	}
	g.mu.Unlock()
	if f != nil {
		f.Close() // lost the race: never written
	}
	return &fileRef{g: g, sf: sf}, nil
}

// share returns a new reference to the file open at path, or nil.
func (g *Group) share(path string, o FileOptions) *fileRef {
	g.mu.Lock()
	defer g.mu.Unlock()
	sf := g.files[path]
	if sf == nil {
		return nil
	}
	sf.refs++
	sf.setOptions(o)
	return &fileRef{g: g, sf: sf}
}

// fileRef is one reference to a shared File.
type fileRef struct {
	g    *Group
	sf   *sharedFile
	once sync.Once
}

func (r *fileRef) Write(p []byte) (int, error) { return r.sf.Write(p) }

func (r *fileRef) Close() error {
	var err error
	r.once.Do(func() {
		r.g.mu.Lock()
		defer r.g.mu.Unlock()
		if r.sf.refs--; r.sf.refs == 0 {
			delete(r.g.files, r.sf.path)
			err = r.sf.File.Close()
		}
	})
	return err
}

// Start starts a pump that reads r until end of file and writes what it
// reads to targets. The pump owns r and closes it, and closes every target
// that is an io.Closer, when it ends.
func (g *Group) Start(r *os.File, src Source, targets ...Target) *Pump {
	p := &Pump{g: g, r: r, src: src, done: make(chan struct{}), abort: make(chan struct{})}
	for _, t := range targets {
		p.targets = append(p.targets, target{Target: t})
	}
	g.mu.Lock()
	g.pumps[p] = struct{}{}
	g.mu.Unlock()
	go p.run()
	return p
}

// Wait waits until every pump has ended. When ctx is done first, it aborts
// the pumps still running (a descendant that escaped its process group keeps
// a pipe open, or a disk stays full) and waits for them to end.
func (g *Group) Wait(ctx context.Context) {
	for {
		g.mu.Lock()
		var p *Pump
		for q := range g.pumps {
			p = q
			break
		}
		g.mu.Unlock()
		if p == nil {
			return
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			g.mu.Lock()
			left := make([]*Pump, 0, len(g.pumps))
			for q := range g.pumps {
				left = append(left, q)
			}
			g.mu.Unlock()
			for _, q := range left {
				q.Abort()
			}
			for _, q := range left {
				<-q.done
			}
			return
		}
	}
}

// Pumps returns the number of pumps running.
func (g *Group) Pumps() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pumps)
}

func (g *Group) getBuf() *[]byte  { return g.bufs.Get().(*[]byte) }
func (g *Group) putBuf(b *[]byte) { g.bufs.Put(b) }

// Pump copies one child pipe to its targets, line by line (see the package
// documentation).
type Pump struct {
	g       *Group
	r       *os.File
	src     Source
	targets []target

	done      chan struct{}
	abort     chan struct{}
	abortOnce sync.Once
	dropped   int64 // bytes in hand when aborted
}

type target struct {
	Target
	off bool // a best-effort target that failed
}

// Done is closed when the pump has ended: its targets have everything it
// read, or it was aborted.
func (p *Pump) Done() <-chan struct{} { return p.done }

// Abort ends the pump now: it stops reading (a writer still holding the
// pipe gets EPIPE) and gives up what it holds, reporting it.
func (p *Pump) Abort() {
	p.abortOnce.Do(func() {
		close(p.abort)
		p.r.Close()
	})
}

func (p *Pump) run() {
	defer func() {
		p.r.Close()
		for _, t := range p.targets {
			if c, ok := t.W.(io.Closer); ok {
				c.Close()
			}
		}
		if p.dropped > 0 {
			p.g.opts.Report(Report{Source: p.src, Target: "", Err: errAborted, Dropped: p.dropped})
		}
		p.g.mu.Lock()
		delete(p.g.pumps, p)
		p.g.mu.Unlock()
		close(p.done)
	}()
	rc, err := p.r.SyscallConn()
	if err != nil {
		return
	}
	var (
		buf   *[]byte // nil while idle with nothing, or little, in hand
		n     int     // bytes in hand at the start of *buf
		carry []byte  // what is in hand while buf is nil
		grown bool    // the pipe has been given PipeSize
	)
	pipeCap := -1 // unknown: asked only once a read is big enough to matter
	defer func() {
		if buf != nil {
			p.g.putBuf(buf)
		}
	}()
	for {
		var m int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			if buf == nil {
				// Idle: look with a small read on the stack first, so that
				// finding nothing (as every pump does when its process
				// starts) takes no buffer from the pool.
				// At most what fits in the buffer after carry (never 0:
				// carry is shorter than the buffer, see below).
				var small [idleRead]byte
				m, rerr = readFd(int(fd), small[:min(idleRead, p.g.opts.BufferSize-len(carry))])
				if rerr == unix.EAGAIN {
					return false
				}
				buf = p.g.getBuf()
				n = copy(*buf, carry)
				carry = carry[:0]
				copy((*buf)[n:], small[:max(m, 0)])
				return true
			}
			m, rerr = readFd(int(fd), (*buf)[n:])
			if rerr == unix.EAGAIN {
				// Nothing to read: wait in the netpoller, without a big
				// buffer unless a long partial line is in hand.
				if n <= carryMax {
					carry = append(carry[:0], (*buf)[:n]...)
					p.g.putBuf(buf)
					buf = nil
				}
				return false
			}
			return true
		})
		if err != nil || rerr != nil { // aborted (closed), or unreadable
			if buf != nil {
				p.dropped += int64(n)
			} else {
				p.dropped += int64(len(carry))
			}
			return
		}
		if m <= 0 { // end of file: every writer has closed the pipe
			if n > 0 {
				p.write((*buf)[:n])
			}
			return
		}
		if !grown && m >= minPipeSize/2 {
			if pipeCap < 0 {
				pipeCap = 0
				_ = rc.Control(func(fd uintptr) { pipeCap, _ = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
			}
			if pipeCap > 0 && m >= pipeCap/2 {
				// The pipe was at least half full: a fast writer. Grow it once.
				grown = true
				_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, p.g.opts.PipeSize) })
			}
		}
		n += m
		data := (*buf)[:n]
		if i := bytes.LastIndexByte(data[n-m:], '\n'); i >= 0 {
			end := n - m + i + 1
			if !p.write(data[:end]) {
				return
			}
			n = copy(*buf, data[end:])
		} else if n == len(*buf) { // a line longer than the buffer
			if !p.write(data) {
				return
			}
			n = 0
		}
	}
}

var errAborted = errors.New("output abandoned: the pump was aborted")

// idleRead is the size of the read an idle pump makes before it takes a
// buffer: most wake-ups of a quiet instance's pump bring a line or two.
const idleRead = 512

// readFd is read(2), retried on EINTR.
func readFd(fd int, b []byte) (int, error) {
	for {
		m, err := unix.Read(fd, b)
		if err != unix.EINTR {
			return m, err
		}
	}
}

// write hands data to every target. It returns false when the pump was
// aborted meanwhile.
func (p *Pump) write(data []byte) bool {
	for i := range p.targets {
		if !p.writeTarget(&p.targets[i], data) {
			return false
		}
	}
	return true
}

func (p *Pump) writeTarget(t *target, data []byte) bool {
	if t.off {
		return true
	}
	delay := p.g.opts.RetryMin
	var timer *time.Timer
	failing := false
	for {
		n, err := t.W.Write(data)
		if n > 0 {
			data = data[n:]
		}
		if err == nil && len(data) == 0 {
			if failing {
				p.g.opts.Report(Report{Source: p.src, Target: t.Name})
			}
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		if err == nil {
			continue // a short write without an error: write the rest
		}
		if t.BestEffort {
			t.off = true
			p.g.opts.Report(Report{Source: p.src, Target: t.Name, Err: err, Dropped: int64(len(data))})
			return true
		}
		if !failing {
			failing = true
			p.g.opts.Report(Report{Source: p.src, Target: t.Name, Err: err})
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-timer.C:
		case <-p.abort:
			timer.Stop()
			p.dropped += int64(len(data))
			return false
		}
		delay = min(2*delay, p.g.opts.RetryMax)
	}
}
