package reconciler

import "sync"

// mailbox is how a program is told things: the loop's desired state through
// a latest-wins slot, and everything else (exits, timers, finished spawns,
// probe verdicts, signal requests) as messages, taken in batches by the
// program's goroutine.
//
// The messages are a slice under mu, not a channel: posting never blocks,
// so the exit watcher can post from its own goroutine while run is busy (a
// pass that stops 1000 instances), and a burst of exits costs no parked
// senders to wake one by one. It is bounded by what is in flight: at most a
// few messages per instance.
type mailbox struct {
	mu     sync.Mutex
	next   *desired      // guarded by mu: not yet taken
	mbox   []any         // guarded by mu: messages not yet taken
	closed bool          // guarded by mu: the program has ended; make a new one
	wake   chan struct{} // cap 1: next was set or mbox was empty
	batch  []any         // the taker's: the messages being handled
}

func newMailbox() mailbox { return mailbox{wake: make(chan struct{}, 1)} }

// set hands over new desired state, replacing any not yet taken. It
// returns false when the program has ended; the caller then starts a new
// one.
func (m *mailbox) set(d desired) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.next = &d
	m.nudge()
	return true
}

// post queues a message without blocking. It returns false, and drops msg,
// when the program has ended.
func (m *mailbox) post(msg any) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.mbox = append(m.mbox, msg)
	first := len(m.mbox) == 1
	m.mu.Unlock()
	if first { // else a wake-up is pending or run is about to take the box
		m.nudge()
	}
	return true
}

// nudge wakes the taker; wake-ups coalesce.
func (m *mailbox) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// take returns the desired state set since the last take (nil: none) and
// the messages queued since, oldest first. The slice is reused by the next
// take: the caller clears what it handled (handled) so the box does not pin
// it.
func (m *mailbox) take() (*desired, []any) {
	m.mu.Lock()
	d := m.next
	m.next = nil
	m.batch, m.mbox = m.mbox, m.batch[:0]
	m.mu.Unlock()
	return d, m.batch
}

// handled drops the reference to message i of the last batch.
func (m *mailbox) handled(i int) { m.batch[i] = nil }

// closeIfIdle closes the mailbox unless something arrived meanwhile, and
// then calls last before anyone can set or post again: a new program of
// the same name (made when set fails) cannot report before last is done.
func (m *mailbox) closeIfIdle(last func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.next != nil || len(m.mbox) > 0 {
		return false
	}
	m.closed = true
	last()
	return true
}

// pending reports whether desired state waits to be taken.
func (m *mailbox) pending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next != nil
}
