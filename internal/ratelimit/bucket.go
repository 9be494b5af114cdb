package ratelimit

import (
	"math"
	"slices"
	"sort"
)

// bucket is one token bucket holding Count tokens, one coming back every
// interval, that remembers WHEN each token is spent rather than only how
// many are left. Remembering the times is what lets Reserve book an order
// in a gap before orders already booked later: when one registered domain
// has a week of backlog, an order of another domain that shares the
// account bucket still goes out now, instead of queueing behind it.
//
// Times are nanoseconds since the Budget's epoch. A list of spend times
// t_0 ≤ t_1 ≤ … fits the bucket (which starts full) exactly when every
// stretch [t_i, t_j] holds no more spends than the bucket can give in it:
//
//	j - i + 1 ≤ capacity + (t_j - t_i) / interval
//
// Writing g_k = k·interval - t_k, that is g_j - g_i ≤ (capacity-1)·interval
// for all i ≤ j. Spends far in the past only matter through the smallest
// g among them, so prune folds them into minDropped and keeps the list
// short; base counts them, so indexes stay global.
type bucket struct {
	capacity int64
	interval int64 // ns per token

	base       int64 // spends folded into minDropped
	minDropped int64 // min g over those spends; meaningful when base > 0
	times      []int64
	// prefixMin[k] is the min g over the folded spends and kept spends
	// 0..k. Keeping it makes a booking cost in proportion to the spends
	// booked after it.
	prefixMin []int64
	// [fullFrom, fullTo) is a span earliest found no room in. Booking
	// more only takes room away, so the span stays full until a spend is
	// removed; the next booking of a wave starts its search at fullTo
	// instead of walking every spend booked after now again.
	fullFrom, fullTo int64
}

func newBucket(r Rate) *bucket {
	return &bucket{capacity: int64(r.Count), interval: int64(r.interval())}
}

// g is k·interval - t_k for the kept spend at local index k.
func (b *bucket) g(k int) int64 {
	return (b.base+int64(k))*b.interval - b.times[k]
}

// minBefore returns the min g over the folded spends and the kept spends
// before local index p, and whether there are any.
func (b *bucket) minBefore(p int) (int64, bool) {
	if p > 0 {
		return b.prefixMin[p-1], true
	}
	return b.minDropped, b.base > 0
}

// refresh recomputes prefixMin from local index p on, after a change there.
func (b *bucket) refresh(p int) {
	b.prefixMin = slices.Grow(b.prefixMin[:min(p, len(b.prefixMin))], len(b.times)-p)[:len(b.times)]
	for k := p; k < len(b.times); k++ {
		m, ok := b.minBefore(k)
		if gk := b.g(k); !ok || gk < m {
			m = gk
		}
		b.prefixMin[k] = m
	}
}

// earliest returns the earliest time t ≥ lo at which one more spend keeps
// the bucket's list fitting. It is exact: an earlier time would make some
// stretch hold more spends than the bucket gives.
func (b *bucket) earliest(lo int64) int64 {
	if b.fullFrom <= lo && lo < b.fullTo {
		e := b.search(b.fullTo)
		b.fullTo = e
		return e
	}
	e := b.search(lo)
	if e > lo {
		b.fullFrom, b.fullTo = lo, e
	}
	return e
}

// search is earliest without the memory of full spans.
//
// The new spend goes in at a position p among the kept spends; for each p
// the constraints on t are bounds, so the feasible times at p form one
// interval, and the intervals follow the order of p. The answer is the
// lower end of the first non-empty one at or after lo; the last position,
// after every spend, always has one. The positions are walked from the
// last down so the maximum g after p builds up as it goes, in one pass
// without allocating.
func (b *bucket) search(lo int64) int64 {
	m := len(b.times)
	c, iv := b.capacity, b.interval
	// Positions before p0 end before lo, so they cannot hold t ≥ lo; the
	// order among spends at the same time does not matter, so a spend at
	// lo goes after those already there.
	p0 := sort.Search(m, func(k int) bool { return b.times[k] > lo })
	best := int64(math.MaxInt64)
	maxR := int64(math.MinInt64) // max g over the spends after p
	for p := m; p >= p0; p-- {
		if p < m {
			maxR = max(maxR, b.g(p))
		}
		hasR := p < m
		minL, hasL := b.minBefore(p)
		// Spends before and after p move one index apart.
		if hasL && hasR && maxR-minL > (c-2)*iv {
			continue
		}
		global := b.base + int64(p) // spends before the new one
		lower := lo
		if p > 0 {
			lower = max(lower, b.times[p-1])
		}
		if hasL { // stretches from an earlier spend to the new one
			lower = max(lower, (global+1-c)*iv-minL)
		}
		upper := int64(math.MaxInt64)
		if hasR {
			upper = b.times[p]
			// stretches from the new spend to a later one
			upper = min(upper, (c+global-2)*iv-maxR)
		}
		if lower <= upper {
			best = lower
		}
	}
	return best
}

// insert records a spend at t, after any spends at the same time.
func (b *bucket) insert(t int64) {
	p := sort.Search(len(b.times), func(k int) bool { return b.times[k] > t })
	b.times = slices.Insert(b.times, p, t)
	b.refresh(p)
}

// remove forgets one spend at t, giving its token back. A spend already
// folded away by prune is not found and stays counted.
func (b *bucket) remove(t int64) {
	k, found := slices.BinarySearch(b.times, t)
	if found {
		b.times = slices.Delete(b.times, k, k+1)
		b.refresh(k)
		b.fullFrom, b.fullTo = 0, 0 // room came back
	}
}

// prune folds the spends before cutoff into minDropped. Nothing is lost
// for times after cutoff: earliest treats the folded spends as before.
func (b *bucket) prune(cutoff int64) {
	n := sort.Search(len(b.times), func(k int) bool { return b.times[k] >= cutoff })
	if n == 0 {
		return
	}
	// Kept spends keep their global index, so their g and prefix minima
	// stay as they are.
	b.minDropped = b.prefixMin[n-1]
	b.base += int64(n)
	b.times = slices.Delete(b.times, 0, n)
	b.prefixMin = slices.Delete(b.prefixMin, 0, n)
}

// full reports whether the bucket holds every token again at now, so it
// can be dropped and made anew later with no change in behaviour. With no
// spends kept, that is when the theoretical arrival time of the next
// token, base·interval - minDropped, has passed.
func (b *bucket) full(now int64) bool {
	return len(b.times) == 0 && (b.base == 0 || b.base*b.interval-b.minDropped <= now)
}

// clone returns an independent copy, for planning without spending.
func (b *bucket) clone() *bucket {
	c := *b
	c.times = slices.Clone(b.times)
	c.prefixMin = slices.Clone(b.prefixMin)
	return &c
}
