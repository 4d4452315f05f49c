package reconciler

import (
	"context"
	"sync"
)

// spawnReq is a start of process e.gen of instance idx; previous, when not
// nil, is closed once the instance's previous process is let go.
type spawnReq struct {
	idx      int
	e        effSpawn
	previous <-chan struct{}
}

// spawnQueue holds a program's starts, in the order asked, for its
// spawners (program.spawner).
type spawnQueue struct {
	mu       sync.Mutex
	reqs     []spawnReq
	spawners int // goroutines taking from reqs
}

// add queues r and reports whether the caller must start a spawner: fewer
// than limit (at least one) are running.
func (q *spawnQueue) add(r spawnReq, limit int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reqs = append(q.reqs, r)
	if q.spawners >= max(limit, 1) {
		return false
	}
	q.spawners++
	return true
}

// next takes the oldest start. When there is none, or ctx is done (what is
// queued then is dropped, as the program has ended), the spawner that
// asked ends: ok is false.
func (q *spawnQueue) next(ctx context.Context) (r spawnReq, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.reqs) == 0 || ctx.Err() != nil {
		q.reqs = nil
		q.spawners--
		return spawnReq{}, false
	}
	r = q.reqs[0]
	q.reqs[0] = spawnReq{} // let the spec go with the start
	q.reqs = q.reqs[1:]
	return r, true
}
