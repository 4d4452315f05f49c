// Package fakeclock is the project's one fake [clock.Clock]: time moves only
// when the test steps it, and the timers that became due then fire inside
// Step, on the stepping goroutine, so a test asserts what follows a step
// without sleeping.
//
// Invariants:
//
//   - *Clock implements clock.Clock itself: tests hand it to the code under
//     test with no adapter.
//   - Timers fire in the order they were armed, each at most once, never
//     after Stop, and only inside Step. A timer armed by a firing one waits
//     for a later Step, even when it is due at once.
//   - Step calls the due functions after letting go of the clock, so they
//     may read the time and arm or stop timers.
//
// [clock.Clock]: github.com/reconciled/reconciled/internal/clock
package fakeclock
