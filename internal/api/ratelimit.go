package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitedKeys bounds each limiter's memory. When full of keys still
// drawing on their buckets, a new key is refused rather than an old one
// forgotten, which would hand a password guesser a fresh bucket.
const maxLimitedKeys = 10000

// loginLimits are the token buckets in front of password checks: one per
// username, against guessing one account's password, and one per client
// address, against trying many accounts from one place.
type loginLimits struct {
	byUser keyedLimiter
	byAddr keyedLimiter
}

func newLoginLimits(every time.Duration, burst int) *loginLimits {
	return &loginLimits{
		byUser: keyedLimiter{limit: rate.Every(every), burst: burst, buckets: map[string]*rate.Limiter{}},
		byAddr: keyedLimiter{limit: rate.Every(every), burst: burst, buckets: map[string]*rate.Limiter{}},
	}
}

// allow takes one token from the username's and the address's buckets, or
// none and returns how long to wait before a try may succeed.
func (l *loginLimits) allow(username, addr string, now time.Time) (bool, time.Duration) {
	okAddr, waitAddr := l.byAddr.allow(addr, now)
	if !okAddr {
		return false, waitAddr
	}
	okUser, waitUser := l.byUser.allow(username, now)
	if !okUser {
		return false, waitUser
	}
	return true, 0
}

type keyedLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func (k *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.buckets[key]
	if !ok {
		if len(k.buckets) >= maxLimitedKeys {
			k.sweep(now)
		}
		if len(k.buckets) >= maxLimitedKeys {
			return false, time.Duration(float64(time.Second) / float64(k.limit))
		}
		b = rate.NewLimiter(k.limit, k.burst)
		k.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return false, wait
	}
	return true, 0
}

// sweep forgets keys whose buckets have refilled: they are as good as new.
func (k *keyedLimiter) sweep(now time.Time) {
	for key, b := range k.buckets {
		if b.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
}
