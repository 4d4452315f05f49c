// Package fakeclock is a clock for tests: time moves only when the test steps
// it, and the timers that became due then fire inside Step, on the stepping
// goroutine, so a test asserts what follows a step without sleeping.
//
// It serves the AfterFunc-style Clock interfaces that the reconciler and
// health packages each declare for themselves (STYLE.md: interfaces are
// declared by their consumer). Their Timer types differ, so each package's
// tests wrap Clock in a one-method adapter whose AfterFunc returns the
// package's own Timer.
package fakeclock
