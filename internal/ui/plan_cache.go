package ui

import (
	"context"
	"sync"
	"time"
)

// inventoryCacheAge is how old a result computed over the whole inventory
// may be before a page asks for a new one: the plan's and the DNS
// screen's reads of 100,000 assets take seconds, so a page shows the last
// result, and a newer one is computed in the background.
const inventoryCacheAge = 15 * time.Second

// inventoryCacheTimeout bounds one computation in the background.
const inventoryCacheTimeout = 5 * time.Minute

// inventoryCache keeps the result of a computation over the whole
// inventory. The first page waits for it (and concurrent first pages for
// the same computation); later pages get the last result at once, and the
// first page after it is inventoryCacheAge old starts a new computation
// in the background. It is safe for concurrent use.
type inventoryCache[T any] struct {
	compute func(ctx context.Context, now time.Time) (T, error)
	now     func() time.Time
	onError func(error)

	mu         sync.Mutex
	value      T
	at         time.Time // when value was computed; zero before the first
	refreshing bool
}

func newInventoryCache[T any](now func() time.Time, onError func(error), compute func(context.Context, time.Time) (T, error)) *inventoryCache[T] {
	return &inventoryCache[T]{compute: compute, now: now, onError: onError}
}

// get returns the last result and the time it was computed for.
func (c *inventoryCache[T]) get(ctx context.Context) (T, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		now := c.now().UTC()
		v, err := c.compute(ctx, now)
		if err != nil {
			return v, time.Time{}, err
		}
		c.value, c.at = v, now
	} else if !c.refreshing && c.now().Sub(c.at) >= inventoryCacheAge {
		c.refreshing = true
		go c.refresh(context.WithoutCancel(ctx))
	}
	return c.value, c.at, nil
}

func (c *inventoryCache[T]) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, inventoryCacheTimeout)
	defer cancel()
	now := c.now().UTC()
	v, err := c.compute(ctx, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil {
		c.onError(err)
		return
	}
	c.value, c.at = v, now
}
