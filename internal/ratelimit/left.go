package ratelimit

import "time"

// Headroom is what one CA's budget allows now, for an operator's view
// (metrics): it changes nothing.
type Headroom struct {
	// NewOrders is how many new orders the account could place now
	// without waiting, after the orders already booked: the token
	// bucket's tokens that no booking holds.
	NewOrders int
	// Limit is the account's new-order limit (the bucket's size).
	Limit int
	// HeldUntil is when the CA's Retry-After stops holding orders back;
	// zero when it does not. NewOrders is 0 meanwhile.
	HeldUntil time.Time
}

// Headroom returns ca's headroom, and false when ca has no new-order limit
// (nothing to count down).
func (b *Budget) Headroom(ca string) (Headroom, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.limits[ca].NewOrdersPerAccount
	if !r.limited() {
		return Headroom{}, false
	}
	h := Headroom{Limit: r.Count}
	now := b.offset(b.now())
	if until := b.penalties[ca]; until > now {
		h.HeldUntil = b.time(until)
		return h, true
	}
	real, ok := b.buckets[bucketKey{ca: ca, kind: accountBucket}]
	if !ok {
		h.NewOrders = r.Count
		return h, true
	}
	// Spends are booked ahead (a wave is spread over hours), so the tokens
	// free now are those a spend at now can take without making a later
	// booking wait: counted by booking them, on a copy.
	c := real.clone()
	c.prune(now - int64(r.Period))
	c.fullFrom, c.fullTo = 0, 0
	for h.NewOrders < r.Count && c.earliest(now) == now {
		c.insert(now)
		h.NewOrders++
	}
	return h, true
}
