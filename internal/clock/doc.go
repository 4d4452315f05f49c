// Package clock is the project's one source of time, modelled on
// k8s.io/utils/clock: the reconciler, the status writer and the probe workers
// take a [Clock] instead of calling time.Now and time.AfterFunc, so that
// their tests step time by hand (internal/fakeclock) instead of sleeping.
//
// Invariants:
//
//   - The interface is the smallest that its users need: the current time
//     and a one-shot callback that can be stopped. A ticker or a channel
//     timer is built from AfterFunc by the user that needs it.
//   - [Real] is the wall clock and holds no state; its zero value is ready.
//   - An AfterFunc callback must not block: the real clock runs it on a
//     goroutine of its own, but a fake clock may run it on the goroutine that
//     steps time.
package clock
