// Package lazychan is a signal channel made only when somebody asks for
// it. A daemon holds one per running process, pump or cgroup, thousands,
// and most of them fire with nobody waiting: made at the first ask, they
// cost nothing until then.
//
// Invariants. The caller guards the channel and its fired flag with one
// lock, held across Get and across firing (setting the flag, then closing
// the channel if it has been made). So a channel made after the fire is
// closed at once, and one made before is closed by the fire, exactly once.
package lazychan
