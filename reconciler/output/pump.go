package output

import (
	"bytes"
	"errors"
	"io"
	"math"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/lazychan"
	"github.com/reconciled/reconciled/internal/rawsys"
)

// carryMax is the longest partial line an idle pump keeps in a small slice
// of its own, so that it can give its buffer back while it waits.
const carryMax = 4 << 10

// minPipeSize is the smallest capacity a pipe can have (one page): a read of
// less than half of it cannot have found the pipe half full, so the pump
// does not ask the pipe's size until a read is that big. Most instances
// write little, and their pumps never ask.
const minPipeSize = 4 << 10

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
	g   *Group
	tok uint64
	src Source
	// The targets: one (the usual case: its log file) is kept in first,
	// at no allocation of its own; more than one in *more.
	first [1]target
	more  *[]target

	// prev and next link the Group's running pumps (under the Group's lock).
	prev, next *Pump

	mu sync.Mutex
	// sig holds the pump's channels, made by the first that is asked for:
	// most pumps end before anybody waits for them, and few ever wait to
	// retry a write.
	sig *pumpSignals
	fd  int32 // the pipe's read end, non-blocking; -1 once closed

	// The owner's (see above).
	pipeCap int32   // 0: not asked yet (asked only once a read is big enough to matter)
	buf     *[]byte // nil while idle with nothing, or little, in hand
	n       int     // bytes in hand at the start of *buf
	carry   *[]byte // what is in hand while buf is nil; nil until a pump first parks a partial line
	dropped int64   // bytes given up

	one      bool      // first holds the one target
	state    pumpState // under mu
	pending  bool      // under mu: a Ready came while busy (after a rearm): read again
	aborted  bool      // under mu
	finished bool      // under mu: the pump has ended (done is closed if made)
	grown    bool      // the owner's: the pipe has been given PipeSize
}

// pumpSignals are a pump's channels, under its lock.
type pumpSignals struct {
	// done is closed once the pump has ended (finished).
	done chan struct{}
	// abort is closed by Abort and wakes a write waiting to retry.
	abort chan struct{}
}

// signals returns p.sig, made if need be. The caller holds p.mu.
func (p *Pump) signals() *pumpSignals {
	if p.sig == nil {
		p.sig = &pumpSignals{}
	}
	return p.sig
}

type pumpState uint8

const (
	pumpBusy pumpState = iota // owned by a goroutine (also: being started)
	pumpIdle                  // armed in the epoll set
	pumpEnded
)

// target is a Target as a pump keeps it: its fields, not the Target
// itself, so that off fits in the Target's padding.
type target struct {
	Name       string
	W          io.Writer
	BestEffort bool
	off        bool // a best-effort target that failed
}

// Done is closed when the pump has ended: its targets have everything it
// read, or it was aborted.
func (p *Pump) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return lazychan.Get(&p.signals().done, p.finished)
}

// Ended reports whether the pump has ended, as a closed Done would, without
// making a channel.
func (p *Pump) Ended() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.finished
}

// Abort ends the pump now: it stops reading (a writer still holding the
// pipe gets EPIPE once the pipe is closed) and gives up what it holds,
// reporting it. A pump busy writing ends as soon as the write returns or
// its retry wait is cut short.
func (p *Pump) Abort() {
	p.mu.Lock()
	if !p.aborted && p.sig != nil && p.sig.abort != nil {
		close(p.sig.abort)
	}
	p.aborted = true
	if p.state != pumpIdle {
		p.mu.Unlock()
		return // its owner ends it, or it has ended
	}
	p.state = pumpBusy
	p.mu.Unlock()
	p.end()
}

// aborting returns a channel that is closed once the pump is aborted
// (already closed if it is).
func (p *Pump) aborting() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return lazychan.Get(&p.signals().abort, p.aborted)
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
		carry := p.carried()
		m, err := readFd(int(p.fd), small[:min(idleRead, p.g.opts.BufferSize-len(carry))])
		switch {
		case err == unix.EAGAIN:
			if p.idle() {
				return
			}
			continue // a Ready came meanwhile
		case err != nil: // unreadable: give up what is in hand
			p.end()
			return
		case m == 0 && len(carry) == 0: // end of file, nothing in hand
			p.end()
			return
		}
		p.buf = p.g.getBuf()
		p.n = copy(*p.buf, carry)
		if p.carry != nil {
			*p.carry = carry[:0]
		}
		copy((*p.buf)[p.n:], small[:m])
		go func() {
			if p.take(m) {
				p.drain()
			}
		}()
		return
	}
}

// HungUp is the epoll set's call when the pipe hung up empty: every writer
// has closed it and it holds nothing, the end of a quiet instance, which
// every stop brings. With nothing in hand either the pump ends there,
// without the read that would find the end of file; otherwise it is Ready.
func (p *Pump) HungUp() {
	p.mu.Lock()
	quiet := p.state == pumpIdle && p.buf == nil && len(p.carried()) == 0
	if quiet {
		p.state = pumpBusy
	}
	p.mu.Unlock()
	if !quiet {
		p.Ready()
		return
	}
	p.end()
}

// drain reads into the buffer and writes what it reads until the pipe is
// empty (the pump goes idle) or the pump ends. It runs on a goroutine of its
// own, as the pump's owner, holding a buffer.
func (p *Pump) drain() {
	for {
		m, err := readFd(int(p.fd), (*p.buf)[p.n:])
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
			p.pipeCap = getPipeSize(p.fd)
			if p.pipeCap <= 0 {
				p.grown = true // cannot tell: leave the pipe as it is
			}
		}
		if p.pipeCap > 0 && m >= int(p.pipeCap)/2 {
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
	if err := p.g.set.Rearm(int(p.fd), p.tok); err != nil {
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
		if p.carry == nil && p.n > 0 {
			p.carry = new([]byte)
		}
		if p.carry != nil {
			*p.carry = append((*p.carry)[:0], (*p.buf)[:p.n]...)
		}
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
	rawsys.Close(int(p.fd))
	p.fd = -1
	if p.buf != nil {
		p.dropped += int64(p.n)
		p.g.putBuf(p.buf)
		p.buf, p.n = nil, 0
	}
	p.dropped += int64(len(p.carried()))
	p.carry = nil
	for _, t := range p.targets() {
		if c, ok := t.W.(io.Closer); ok {
			c.Close()
		}
	}
	if p.dropped > 0 {
		p.g.opts.Report(Report{Source: p.src, Target: "", Err: errAborted, Dropped: p.dropped})
	}
	p.g.remove(p)
	p.mu.Lock()
	p.finished = true
	if p.sig != nil && p.sig.done != nil {
		close(p.sig.done)
	}
	p.mu.Unlock()
}

// targets returns the pump's targets.
func (p *Pump) targets() []target {
	switch {
	case p.more != nil:
		return *p.more
	case p.one:
		return p.first[:]
	}
	return nil
}

// carried is what is in hand while buf is nil (a short partial line).
func (p *Pump) carried() []byte {
	if p.carry == nil {
		return nil
	}
	return *p.carry
}

var errAborted = errors.New("output abandoned: the pump was aborted")

// idleRead is the size of the read an idle pump makes before it takes a
// buffer: most wake-ups of a quiet instance's pump bring a line or two.
const idleRead = 512

// getPipeSize returns the capacity of the pipe fd (F_GETPIPE_SZ); 0 or
// less when it cannot tell.
func getPipeSize(fd int32) int32 {
	n, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil || n > math.MaxInt32 {
		return 0
	}
	return int32(n)
}

// readFd is read(2) of the pipe (non-blocking), retried on EINTR.
func readFd(fd int, b []byte) (int, error) { return rawsys.Read(fd, b) }

// write hands data to every target. It returns false when the pump was
// aborted meanwhile.
func (p *Pump) write(data []byte) bool {
	ts := p.targets()
	for i := range ts {
		if !p.writeTarget(&ts[i], data) {
			return false
		}
	}
	return true
}

func newTarget(t Target) target { return target{Name: t.Name, W: t.W, BestEffort: t.BestEffort} }

// name is how reports call t (see Target.Name).
func (t *target) name() string {
	if t.Name == "" {
		if n, ok := t.W.(interface{ Name() string }); ok {
			return n.Name()
		}
	}
	return t.Name
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
				p.g.opts.Report(Report{Source: p.src, Target: t.name()})
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
			p.g.opts.Report(Report{Source: p.src, Target: t.name(), Err: err, Dropped: int64(len(data))})
			return true
		}
		if !failing {
			failing = true
			p.g.opts.Report(Report{Source: p.src, Target: t.name(), Err: err})
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-timer.C:
		case <-p.aborting():
			timer.Stop()
			p.dropped += int64(len(data))
			return false
		}
		delay = min(2*delay, p.g.opts.RetryMax)
	}
}
