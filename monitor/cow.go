package monitor

import (
	"sync"
	"sync/atomic"
)

// cowMap is a map whose readers take no lock: every change copies the map
// and publishes the copy, so a reader holds a map nobody changes. It suits
// what is read often and changes rarely (programs come and go; an event
// reason is new once). Writers serialise on mu, which is cowMap's own:
// nothing else is done while holding it.
type cowMap[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

// load returns the value of k, without a lock.
func (c *cowMap[K, V]) load(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// loadOrStore returns the value of k, storing mk() first when there is
// none. A hit takes no lock.
func (c *cowMap[K, V]) loadOrStore(k K, mk func() V) V {
	if v, ok := c.load(k); ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snapshot()
	if v, ok := old[k]; ok {
		return v
	}
	next := make(map[K]V, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	v := mk()
	next[k] = v
	c.m.Store(&next)
	return v
}

// delete removes k.
func (c *cowMap[K, V]) delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snapshot()
	if _, ok := old[k]; !ok {
		return
	}
	next := make(map[K]V, len(old))
	for k2, v := range old {
		if k2 != k {
			next[k2] = v
		}
	}
	c.m.Store(&next)
}

// snapshot returns the current map, which the caller must not change.
func (c *cowMap[K, V]) snapshot() map[K]V {
	if m := c.m.Load(); m != nil {
		return *m
	}
	return nil
}
