package output

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/epoll"
	"github.com/reconciled/reconciled/internal/rawsys"
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

// LazyFile is OpenFile at the first write: a log file is opened, or
// created, when the pump has something to write to it. An instance that
// never writes costs no open(2) and no close(2), and leaves no empty file.
// A failure to open is a failing write (retried, reported: see Pump). Like
// every target, it is used by one pump, one goroutine at a time.
func (g *Group) LazyFile(path string, o FileOptions) io.WriteCloser {
	return &lazyFile{g: g, path: path, opts: o}
}

type lazyFile struct {
	g    *Group
	path string
	opts FileOptions
	f    io.WriteCloser // nil until the first write
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := l.g.OpenFile(l.path, l.opts)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
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
	p := &Pump{g: g, fd: r, src: src, done: make(chan struct{}), abort: make(chan struct{})}
	for _, t := range targets {
		p.targets = append(p.targets, target{Target: t})
	}
	// p.mu is held from before the pump is known to Group.Wait (whose
	// Abort then waits for it) until it is idle, and across Add, so that a
	// Ready that comes at once waits for the token and the idle state.
	p.mu.Lock()
	g.mu.Lock()
	g.pumps[p] = struct{}{}
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

// Drain takes the pipes that are ready now on the caller's goroutine,
// without waiting for the epoll set's: a safety net for a waiter that
// expects an end of file (see epoll.Set.Drain).
func (g *Group) Drain() { g.set.Drain() }

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
//
// Ownership. At any time one party owns the pump's fd and its buffers: the
// Group's epoll set while the pump is idle (the fd armed, nothing running),
// or the goroutine that took it busy: the set's own in Ready, which reads
// what is there with a small read and, when there is something to write,
// hands the pump to a goroutine of its own (drain) until the pipe is empty
// again. The owner alone reads, rearms and closes the fd. Abort takes an
// idle pump and ends it; a busy one it only marks, and its owner ends it at
// its next step.
//
//	idle ──Ready──> busy (Ready, then drain while data comes) ──empty──> idle
//	  │               └──end of file, error, abort──> ended
//	  └──Abort──> ended
type Pump struct {
	g       *Group
	fd      int // the pipe's read end, non-blocking; -1 once closed
	tok     uint64
	src     Source
	targets []target

	done      chan struct{}
	abort     chan struct{} // closed by Abort: wakes a write waiting to retry
	abortOnce sync.Once

	mu      sync.Mutex
	state   pumpState
	pending bool // a Ready came while busy (after a rearm): read again
	aborted bool

	// The owner's (see above).
	buf     *[]byte // nil while idle with nothing, or little, in hand
	n       int     // bytes in hand at the start of *buf
	carry   []byte  // what is in hand while buf is nil
	grown   bool    // the pipe has been given PipeSize
	pipeCap int     // 0: not asked yet (asked only once a read is big enough to matter)
	dropped int64   // bytes given up
}

type pumpState int

const (
	pumpBusy pumpState = iota // owned by a goroutine (also: being started)
	pumpIdle                  // armed in the epoll set
	pumpEnded
)

type target struct {
	Target
	off bool // a best-effort target that failed
}

// Done is closed when the pump has ended: its targets have everything it
// read, or it was aborted.
func (p *Pump) Done() <-chan struct{} { return p.done }

// Abort ends the pump now: it stops reading (a writer still holding the
// pipe gets EPIPE once the pipe is closed) and gives up what it holds,
// reporting it. A pump busy writing ends as soon as the write returns or
// its retry wait is cut short.
func (p *Pump) Abort() {
	p.abortOnce.Do(func() { close(p.abort) })
	p.mu.Lock()
	p.aborted = true
	if p.state != pumpIdle {
		p.mu.Unlock()
		return // its owner ends it, or it has ended
	}
	p.state = pumpBusy
	p.mu.Unlock()
	p.end()
}

func (p *Pump) isAborted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.aborted
}

// Ready is the epoll set's call: the pipe is readable (data, or every writer
// has closed it). It runs on the set's goroutine and does not block.
func (p *Pump) Ready() {
	p.mu.Lock()
	if p.state != pumpIdle {
		if p.state == pumpBusy {
			p.pending = true // came after the owner's rearm: it reads again
		}
		p.mu.Unlock()
		return
	}
	p.state = pumpBusy
	p.mu.Unlock()
	if p.buf != nil { // a long partial line in hand: read on into its buffer
		go p.drain()
		return
	}
	for {
		// Look with a small read on the stack first, so that a wake-up
		// with nothing to write (end of file of a quiet instance, as every
		// stop brings) takes no buffer and no goroutine. At most what fits
		// in the buffer after carry (never 0: carry is shorter than it).
		var small [idleRead]byte
		m, err := readFd(p.fd, small[:min(idleRead, p.g.opts.BufferSize-len(p.carry))])
		switch {
		case err == unix.EAGAIN:
			if p.idle() {
				return
			}
			continue // a Ready came meanwhile
		case err != nil: // unreadable: give up what is in hand
			p.end()
			return
		case m == 0 && len(p.carry) == 0: // end of file, nothing in hand
			p.end()
			return
		}
		p.buf = p.g.getBuf()
		p.n = copy(*p.buf, p.carry)
		p.carry = p.carry[:0]
		copy((*p.buf)[p.n:], small[:m])
		go func() {
			if p.take(m) {
				p.drain()
			}
		}()
		return
	}
}

// drain reads into the buffer and writes what it reads until the pipe is
// empty (the pump goes idle) or the pump ends. It runs on a goroutine of its
// own, as the pump's owner, holding a buffer.
func (p *Pump) drain() {
	for {
		m, err := readFd(p.fd, (*p.buf)[p.n:])
		if err == unix.EAGAIN {
			if p.idle() {
				return
			}
			continue
		}
		if err != nil { // unreadable: give up what is in hand
			p.end()
			return
		}
		if !p.take(m) {
			return
		}
	}
}

// take handles m bytes just read into the buffer at p.n (0: end of file):
// it writes the whole lines in hand. It reports whether the pump goes on;
// when not, it has ended it.
func (p *Pump) take(m int) bool {
	if m == 0 { // end of file: every writer has closed the pipe
		if p.n > 0 {
			p.write((*p.buf)[:p.n]) // an abort counted what it gave up
			p.n = 0
		}
		p.end()
		return false
	}
	if !p.grown && m >= minPipeSize/2 {
		if p.pipeCap == 0 {
			p.pipeCap, _ = unix.FcntlInt(uintptr(p.fd), unix.F_GETPIPE_SZ, 0)
			if p.pipeCap <= 0 {
				p.grown = true // cannot tell: leave the pipe as it is
			}
		}
		if p.pipeCap > 0 && m >= p.pipeCap/2 {
			// The pipe was at least half full: a fast writer. Grow it once.
			p.grown = true
			_, _ = unix.FcntlInt(uintptr(p.fd), unix.F_SETPIPE_SZ, p.g.opts.PipeSize)
		}
	}
	p.n += m
	data := (*p.buf)[:p.n]
	if i := bytes.LastIndexByte(data[p.n-m:], '\n'); i >= 0 {
		end := p.n - m + i + 1
		ok := p.write(data[:end]) // an abort counted what it gave up
		p.n = copy(*p.buf, data[end:])
		if !ok {
			p.end() // gives up the rest too
			return false
		}
	} else if p.n == len(*p.buf) { // a line longer than the buffer
		ok := p.write(data)
		p.n = 0
		if !ok {
			p.end()
			return false
		}
	}
	if p.isAborted() {
		p.end()
		return false
	}
	return true
}

// idle hands the pump back to the epoll set once its pipe is empty: it
// rearms the fd, parks what is in hand (a short partial line) in carry so
// that the buffer goes back to the pool, and returns true. It returns false,
// still the owner, when a Ready came after the rearm: read again. An aborted
// pump, or one whose fd cannot be rearmed, it ends (true).
func (p *Pump) idle() bool {
	if p.isAborted() {
		p.end()
		return true
	}
	if err := p.g.set.Rearm(p.fd, p.tok); err != nil {
		p.end() // cannot wait for the pipe: as if unreadable
		return true
	}
	p.mu.Lock()
	if p.pending {
		p.pending = false
		p.mu.Unlock()
		return false
	}
	if p.aborted {
		p.mu.Unlock()
		p.end()
		return true
	}
	if p.buf != nil && p.n <= carryMax {
		p.carry = append(p.carry[:0], (*p.buf)[:p.n]...)
		p.g.putBuf(p.buf)
		p.buf, p.n = nil, 0
	}
	p.state = pumpIdle
	p.mu.Unlock()
	return true
}

// end closes the pipe and the targets, reports what is given up, and closes
// done. Only the owner calls it.
func (p *Pump) end() {
	p.mu.Lock()
	p.state = pumpEnded
	p.mu.Unlock()
	if p.tok != 0 {
		p.g.set.Forget(p.tok)
	}
	rawsys.Close(p.fd)
	p.fd = -1
	if p.buf != nil {
		p.dropped += int64(p.n)
		p.g.putBuf(p.buf)
		p.buf, p.n = nil, 0
	}
	p.dropped += int64(len(p.carry))
	p.carry = nil
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
}

var errAborted = errors.New("output abandoned: the pump was aborted")

// idleRead is the size of the read an idle pump makes before it takes a
// buffer: most wake-ups of a quiet instance's pump bring a line or two.
const idleRead = 512

// readFd is read(2) of the pipe (non-blocking), retried on EINTR.
func readFd(fd int, b []byte) (int, error) { return rawsys.Read(fd, b) }

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
