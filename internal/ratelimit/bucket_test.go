package ratelimit

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// fitsGCRA replays spend times through the textbook token bucket (GCRA,
// virtual scheduling): a spend at t fits when the theoretical arrival
// time of the next token is at most (capacity-1) intervals ahead of t.
// It shares no code with bucket, so it is an independent judge.
func fitsGCRA(times []int64, capacity, interval int64) bool {
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	var tat int64
	for i, t := range sorted {
		if i > 0 && tat-t > (capacity-1)*interval {
			return false
		}
		if i == 0 || t > tat {
			tat = t
		}
		tat += interval
	}
	return true
}

// bruteEarliest tries every integer time from lo on; with integer spend
// times and interval the true answer is an integer.
func bruteEarliest(times []int64, lo, capacity, interval int64) int64 {
	for t := lo; ; t++ {
		if fitsGCRA(append(slices.Clone(times), t), capacity, interval) {
			return t
		}
	}
}

func TestBucketEarliestMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 3000 {
		capacity := int64(1 + rng.IntN(4))
		interval := int64(1 + rng.IntN(5))
		b := &bucket{capacity: capacity, interval: interval}
		// Build a list that fits by booking random times, out of order.
		for range rng.IntN(12) {
			b.insert(b.earliest(int64(rng.IntN(40))))
		}
		if !fitsGCRA(b.times, capacity, interval) {
			t.Fatalf("trial %d: booked times %v do not fit capacity %d interval %d", trial, b.times, capacity, interval)
		}
		// Giving a token back makes room the bucket must find again.
		if len(b.times) > 0 && rng.IntN(3) == 0 {
			b.remove(b.times[rng.IntN(len(b.times))])
		}
		lo := int64(rng.IntN(50))
		want := bruteEarliest(b.times, lo, capacity, interval)
		if got := b.earliest(lo); got != want {
			t.Fatalf("trial %d: earliest(%d) over %v (capacity %d, interval %d) = %d, want %d",
				trial, lo, b.times, capacity, interval, got, want)
		}
		// Folding the spends before a cutoff changes no answer after it.
		all := slices.Clone(b.times)
		cutoff := int64(rng.IntN(30))
		b.prune(cutoff)
		lo = cutoff + int64(rng.IntN(30))
		if got, want := b.earliest(lo), bruteEarliest(all, lo, capacity, interval); got != want {
			t.Fatalf("trial %d: after prune(%d), earliest(%d) over %v = %d, want %d",
				trial, cutoff, lo, all, got, want)
		}
	}
}

func TestBucketRemoveAndFull(t *testing.T) {
	b := &bucket{capacity: 2, interval: 10}
	for _, at := range []int64{0, 0} {
		b.insert(at)
	}
	if got := b.earliest(0); got != 10 {
		t.Fatalf("a bucket of 2 spent twice at 0 has its next token at %d, want 10", got)
	}
	b.remove(0)
	if got := b.earliest(0); got != 0 {
		t.Errorf("after giving one token back the next spend is at %d, want 0", got)
	}
	b.remove(0)
	b.remove(0) // nothing left to remove: no effect
	if !b.full(0) {
		t.Errorf("a bucket with every token back is not full")
	}
	b.insert(5)
	b.prune(100)
	if b.full(14) {
		t.Errorf("a bucket spent at 5 is full again at 14, before its token is back at 15")
	}
	if !b.full(15) {
		t.Errorf("a bucket spent at 5 is not full again at 15")
	}
}
