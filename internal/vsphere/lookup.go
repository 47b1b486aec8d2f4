package vsphere

import (
	"context"
	"sync"
)

// lookups caches the results of lookups by key (a folder by path, a
// network's backing by name, ...) for the life of its owner, and merges
// concurrent misses: while one lookup of a key is in flight, other callers
// of the same key wait for its result instead of asking vCenter again. A
// failed lookup is not cached (the next caller tries again), nor is a
// value keep rejects (a folder that does not exist yet).
//
// The zero value is an empty cache that keeps every value. It is safe for
// concurrent use.
type lookups[K comparable, V any] struct {
	// keep, if not nil, says whether a looked-up value is cached.
	keep func(V) bool

	mu     sync.Mutex
	values map[K]V
	calls  map[K]*lookupCall[V]
}

// lookupCall is a lookup in flight; done is closed once val and err are set.
type lookupCall[V any] struct {
	done   chan struct{}
	val    V
	err    error
	shared int // callers waiting for it; under the cache's mu
}

// get returns the cached value of key, or looks it up with load. Callers
// that miss on a key while its lookup is in flight share that lookup.
//
// load runs with the context of the caller that started it, without its
// cancellation: a caller that gives up (its ctx ends) returns ctx's error
// at once, while the lookup goes on for the others, bounded by the
// client's per-request deadline (Config.Timeout).
func (c *lookups[K, V]) get(ctx context.Context, key K, load func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if v, ok := c.values[key]; ok {
		c.mu.Unlock()
		return v, nil
	}
	call, inFlight := c.calls[key]
	if !inFlight {
		call = &lookupCall[V]{done: make(chan struct{})}
		if c.calls == nil {
			c.calls = map[K]*lookupCall[V]{}
		}
		c.calls[key] = call
		go c.run(context.WithoutCancel(ctx), key, call, load)
	}
	call.shared++
	c.mu.Unlock()

	select {
	case <-call.done:
		return call.val, call.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func (c *lookups[K, V]) run(ctx context.Context, key K, call *lookupCall[V], load func(context.Context) (V, error)) {
	call.val, call.err = load(ctx)
	c.mu.Lock()
	delete(c.calls, key)
	if call.err == nil && (c.keep == nil || c.keep(call.val)) {
		if c.values == nil {
			c.values = map[K]V{}
		}
		c.values[key] = call.val
	}
	c.mu.Unlock()
	close(call.done)
}

// put caches v as key's value (something the owner made itself).
func (c *lookups[K, V]) put(key K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.values == nil {
		c.values = map[K]V{}
	}
	c.values[key] = v
}

// forget drops key's cached value (something the owner removed).
func (c *lookups[K, V]) forget(key K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.values, key)
}
