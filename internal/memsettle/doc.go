// Package memsettle hands the memory a burst of work freed back to the
// kernel once the daemon has been quiet for a while.
//
// Go's heap grows to twice what is live before a collection, and the
// runtime returns freed pages to the kernel only slowly (its scavenger)
// and collects an idle heap only every two minutes: after the start of a
// thousand instances, or a storm of exits, the daemon would sit at idle
// with several megabytes it no longer uses. A Settler is told of every
// piece of work (Touch: a timer reset, nothing else) and, once none came
// for its quiet period, runs one collection and returns what is free
// (debug.FreeOSMemory), but only when that is worth it. Nothing runs while
// the daemon is idle: the timer is armed by work only.
package memsettle
