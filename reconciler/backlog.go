package reconciler

import "sync"

// backlog is work a program hands off its own goroutine: items are carried
// out in the order they were added, by one goroutine that lives while there
// are any. A burst of 1000 costs one goroutine, not 1000, and the program's
// goroutine goes on at once. The zero value is ready to use.
type backlog[T any] struct {
	mu      sync.Mutex
	q       []T  // guarded by mu: added, not yet taken
	running bool // guarded by mu: a goroutine is carrying them out
}

// add queues item for do. wg counts the goroutine, so that whoever waits on
// it (the program's end) waits until every item was carried out. add may
// be called from several goroutines, but never while wg.Wait may run:
// every add must happen before the wait begins.
func (b *backlog[T]) add(wg *sync.WaitGroup, item T, do func(T)) {
	b.mu.Lock()
	b.q = append(b.q, item)
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		wg.Add(1)
		go b.run(wg, do)
	}
}

func (b *backlog[T]) run(wg *sync.WaitGroup, do func(T)) {
	defer wg.Done()
	var q []T
	var zero T
	for {
		b.mu.Lock()
		q, b.q = b.q, q[:0]
		if len(q) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		for i := range q {
			do(q[i])
			q[i] = zero // the next batch must not pin what it held
		}
	}
}
