// Package epoll watches many file descriptors for readability with one
// epoll instance and at most one goroutine, which waits in Go's netpoller
// without holding a thread while nothing happens.
//
// Why. Parking a goroutine per fd on an *os.File costs, per fd, an os.File
// (a finalizer, and a registration with the runtime's netpoller that closing
// removes again with epoll_ctl) and a goroutine whose stack every garbage
// collection scans. The daemon watches a pidfd and two output pipes per
// instance: at 1000 instances that was 3000 goroutines, and a good part of
// the CPU of starting and stopping them.
//
// How. Set.Add puts an fd in the set with EPOLLIN and EPOLLONESHOT and a
// token that names its Handler. The epoll fd is itself pollable; the set's
// goroutine waits for it in the netpoller and, when it wakes, takes the
// ready tokens with epoll_wait(0) and calls each Handler's Ready. One-shot
// means an fd that fired is disarmed: no second Ready comes until its owner
// calls Rearm, so the owner may hand its fd to another goroutine in between.
// A Handler that also has HungUp (HangupHandler) gets that call instead of
// Ready when its fd hung up with nothing to read (EPOLLHUP without EPOLLIN):
// an output pipe at a quiet instance's exit is closed without the read
// that would only find the end of file.
// A Ready that rearms from within itself may see a second Ready begin (from
// Drain on another goroutine) before it returns. The Handlers are kept in
// slots that forgotten tokens free for the next Add; a token names its slot
// and the slot's generation, which Forget advances, so a token is never
// given twice and an event for a forgotten one reaches no Handler.
//
// Invariants:
//
//   - Ready runs on the set's goroutine (or on a goroutine calling Drain) and
//     must not block: it reads what is there, or hands the work on.
//   - Closing an fd removes it from the set (the kernel does it when the
//     fd's file is closed, and an fd in the set is never dup'ed). Forget the
//     token first: no event taken after Forget reaches the Handler. One
//     taken just before may still call Ready once after Forget returned, and
//     after the fd was closed, so a Handler keeps its own "ended" state and
//     never touches its fd from a Ready that finds it ended.
//   - The goroutine runs while tokens are registered: it ends at the first
//     wake-up after which none is left (usually the one whose Ready finished
//     the last fd), and the next Add starts another. No timer runs.
//   - Close ends the set for good: it closes the epoll fd, which ends the
//     goroutine (also one still parked because the last token was forgotten
//     outside a wake-up), and waits for it. Its owner calls it once done
//     with the set.
//
// docs/internals.md tells how it fits in: see "Exits, stops and reaping".
package epoll
