package reconciler

import "github.com/reconciled/reconciled/spec"

// planned is what one instance looks like to the planner.
type planned struct {
	idx   int
	hash  string        // the spec hash of its current (or last) process
	spec  *spec.Program // and that spec
	live  bool          // it has, or is getting, a process
	ready bool
}

// target is the spec an instance should run; a nil prog means none: the
// instance is to stop.
type target struct {
	prog *spec.Program
	hash string
}

// plan is the scale and rollout planner, pure: (instances, desired) ->
// targets. It returns one target per instance of insts, in the same order.
//
//   - An instance whose index is want or more has no target (scale down).
//   - Recreate: while any live instance runs an older spec, no instance of
//     an older spec gets a target (they stop), and no stopped one starts.
//     Once none is left, every instance targets the new spec.
//   - RollingUpdate: an instance that runs the new spec, or has no process,
//     or is not ready targets the new spec; of the ready ones on an older
//     spec, only as many as keep the unavailable count within
//     maxUnavailable are replaced now, the others keep their own spec until
//     their turn.
//
// Every index below want must be in insts.
func plan(insts []planned, want int, prog *spec.Program, hash string) []target {
	out := make([]target, len(insts))
	if want == 0 {
		return out
	}
	if prog.Spec.UpdateStrategy.Type == spec.Recreate {
		oldAlive := false
		for _, in := range insts {
			oldAlive = oldAlive || (in.live && in.hash != hash)
		}
		for i, in := range insts {
			if in.idx < want && ((in.live && in.hash == hash) || !oldAlive) {
				out[i] = target{prog, hash}
			}
		}
		return out
	}
	unavailable := 0
	for _, in := range insts {
		if in.idx < want && !in.ready {
			unavailable++
		}
	}
	maxUnavailable := prog.Spec.UpdateStrategy.MaxUnavailable
	for i, in := range insts {
		switch {
		case in.idx >= want:
		case in.hash == hash || !in.live || !in.ready:
			out[i] = target{prog, hash}
		case unavailable < maxUnavailable:
			out[i] = target{prog, hash}
			unavailable++
		default: // keep serving the old spec until its turn
			out[i] = target{in.spec, in.hash}
		}
	}
	return out
}
