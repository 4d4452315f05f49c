// Package waitfor is how tests wait for something to happen: they poll a
// condition until it holds, and a deadline bounds the wait.
//
// Why. A test that sleeps for "long enough" and then looks is either slow
// (the sleep is long) or flaky (the machine was slower than the sleep). A
// test that polls returns as soon as the outcome is there, and its deadline
// only decides when to give up: it is generous, because on a loaded machine
// under -race things take many times longer than on an idle one, and a
// passing test never waits that long.
//
// Invariants. A deadline bounds a wait; it is never an assertion about
// speed. The condition is always checked once more after the deadline, so a
// condition that became true during the last pause counts. The pause
// between checks starts at a millisecond and doubles up to MaxPoll, so a
// quick outcome is seen quickly and a long wait costs little CPU. Nothing
// here sleeps for a fixed time or holds state between calls.
//
// Negative checks ("nothing happens within X") are not waits: Never makes
// time pass for a fixed window on purpose, and says so by its name.
package waitfor
