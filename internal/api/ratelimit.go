package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Login throttling. Every password check (login and password change) goes
// through three token buckets, so that guessing a password is slow from
// one address and from many, while guessing never locks the account's
// owner out:
//
//   - Per client address, every check whatever the user and outcome:
//     10 at once, then one every 12 seconds (5 a minute). This bounds what
//     one place can try across accounts, and the bcrypt work it can make
//     the server do.
//   - Per user and address, failed checks: 5 at once, then one a minute.
//     This is what slows a guesser working from one address.
//   - Per user, failed checks from every address: 10 at once, then one
//     every 12 seconds. Once it is spent the account is under attack, and
//     an address that failed for it in the last 15 minutes (or has a check
//     for it under way) waits until the bucket has a token again. An
//     address with no recent failure for the account is not held back, so
//     the owner still logs in from their own machine while the account is
//     guessed at from elsewhere.
//
// So a guesser at one address gets 5 tries, then one a minute; spread
// over N addresses, 10 tries, then 5 a minute shared by all of them, plus
// the one try each address gets while it has no failure on record: at most
// N every 15 minutes. That last term is the price of never locking the
// owner out, since a right password from a fresh address must be checked
// to be told from a wrong one. A right password forgets the failures of
// its address for that user. Unknown usernames are throttled like real
// ones, so a 429 does not reveal which exist.
//
// The buckets live in this process's memory, each kind bounded at
// maxLimitedKeys keys: when one is full of keys still in use, a check that
// needs a new key is refused (429) rather than an old key forgotten, which
// would hand a guesser a fresh bucket.
const maxLimitedKeys = 10000

// Rate is a token bucket's shape: Burst tokens, refilled at one per Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// LoginLimits are the numbers of the login throttle; the zero value of a
// field means its default, the numbers above.
type LoginLimits struct {
	// Address limits every check from one client address.
	Address Rate
	// UserAddress limits failed checks of one user from one address.
	UserAddress Rate
	// User limits failed checks of one user from every address, holding
	// back only addresses that failed for the user within FailureMemory.
	User Rate
	// FailureMemory is how long an address counts as having failed for a
	// user after its last failure.
	FailureMemory time.Duration
}

// Defaults of LoginLimits.
const (
	DefaultLoginAddressBurst     = 10
	DefaultLoginAddressEvery     = 12 * time.Second
	DefaultLoginUserAddressBurst = 5
	DefaultLoginUserAddressEvery = time.Minute
	DefaultLoginUserBurst        = 10
	DefaultLoginUserEvery        = 12 * time.Second
	DefaultLoginFailureMemory    = 15 * time.Minute
)

func (r Rate) orDefault(def Rate) Rate {
	if r.Burst <= 0 {
		r.Burst = def.Burst
	}
	if r.Every <= 0 {
		r.Every = def.Every
	}
	return r
}

func (l LoginLimits) withDefaults() LoginLimits {
	l.Address = l.Address.orDefault(Rate{DefaultLoginAddressBurst, DefaultLoginAddressEvery})
	l.UserAddress = l.UserAddress.orDefault(Rate{DefaultLoginUserAddressBurst, DefaultLoginUserAddressEvery})
	l.User = l.User.orDefault(Rate{DefaultLoginUserBurst, DefaultLoginUserEvery})
	if l.FailureMemory <= 0 {
		l.FailureMemory = DefaultLoginFailureMemory
	}
	return l
}

// loginRefusal says why a check may not run and when to try again.
type loginRefusal struct {
	wait   time.Duration
	detail string
}

// loginThrottle holds the buckets. It is safe for concurrent use.
type loginThrottle struct {
	limits LoginLimits

	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
	byUser map[string]*rate.Limiter
	byPair map[pairKey]*pairRecord
}

type pairKey struct{ user, addr string }

// pairRecord is what the throttle knows of one user at one address.
type pairRecord struct {
	failures *rate.Limiter
	// lastFailure is the time of the latest failed check; zero when the
	// address has no failure on record for the user.
	lastFailure time.Time
	// inFlight counts the checks admitted and not yet finished: until
	// they are, each may be a failure.
	inFlight int
}

func newLoginThrottle(l LoginLimits) *loginThrottle {
	return &loginThrottle{
		limits: l.withDefaults(),
		byAddr: map[string]*rate.Limiter{},
		byUser: map[string]*rate.Limiter{},
		byPair: map[pairKey]*pairRecord{},
	}
}

func newBucket(r Rate) *rate.Limiter { return rate.NewLimiter(rate.Every(r.Every), r.Burst) }

// waitFor is how long until b holds need tokens.
func waitFor(b *rate.Limiter, r Rate, need float64, now time.Time) time.Duration {
	missing := need - b.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing * float64(r.Every))
}

// admit decides whether a password check of username from addr may run
// now. When it may (nil), the caller must report the outcome to finish.
func (t *loginThrottle) admit(username, addr string, now time.Time) *loginRefusal {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.limits
	key := pairKey{username, addr}
	pair := t.byPair[key]
	if pair == nil && !t.room(func() int { return len(t.byPair) }, now) {
		return &loginRefusal{l.UserAddress.Every, "the server is tracking too many failed logins to take a new one; wait for Retry-After seconds"}
	}
	if pair != nil {
		if w := waitFor(pair.failures, l.UserAddress, float64(1+pair.inFlight), now); w > 0 {
			return &loginRefusal{w, "too many failed logins for this user from this address; wait for Retry-After seconds"}
		}
		if user := t.byUser[username]; user != nil && user.TokensAt(now) < 1 && t.failedRecently(pair, now) {
			w := waitFor(user, l.User, 1, now)
			if !pair.lastFailure.IsZero() {
				w = min(w, pair.lastFailure.Add(l.FailureMemory).Sub(now))
			}
			return &loginRefusal{w, "too many failed logins for this user, this address's among them; wait for Retry-After seconds, or log in from an address with no failed attempts"}
		}
	}
	addrBucket := t.byAddr[addr]
	if addrBucket == nil {
		if !t.room(func() int { return len(t.byAddr) }, now) {
			return &loginRefusal{l.Address.Every, "the server is tracking too many addresses to take a new one; wait for Retry-After seconds"}
		}
		addrBucket = newBucket(l.Address)
		t.byAddr[addr] = addrBucket
	}
	if !addrBucket.AllowN(now, 1) {
		return &loginRefusal{waitFor(addrBucket, l.Address, 1, now), "too many logins from this address; wait for Retry-After seconds"}
	}
	if pair == nil {
		pair = &pairRecord{failures: newBucket(l.UserAddress)}
		t.byPair[key] = pair
	}
	pair.inFlight++
	return nil
}

// finish records how an admitted check ended. checked is false when an
// error left the password unchecked; failed is a wrong password or an
// unknown user.
func (t *loginThrottle) finish(username, addr string, checked, failed bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pair := t.byPair[pairKey{username, addr}]
	if pair == nil {
		return
	}
	pair.inFlight--
	switch {
	case !checked:
	case failed:
		pair.failures.AllowN(now, 1)
		pair.lastFailure = now
		user := t.byUser[username]
		if user == nil {
			if !t.room(func() int { return len(t.byUser) }, now) {
				// The user cannot be tracked; the address's buckets
				// still slow the guesser.
				return
			}
			user = newBucket(t.limits.User)
			t.byUser[username] = user
		}
		// A spent bucket stays at zero rather than going into debt: the
		// failed addresses wait for its next token or for their
		// failures to be forgotten, whichever comes first.
		user.AllowN(now, 1)
	default:
		// The address knows the password: its failures were the
		// owner's typos.
		pair.failures = newBucket(t.limits.UserAddress)
		pair.lastFailure = time.Time{}
	}
}

// failedRecently reports whether the pair's address counts as having
// failed for its user: a failure within FailureMemory, or a check under
// way that may turn out one.
func (t *loginThrottle) failedRecently(p *pairRecord, now time.Time) bool {
	return p.inFlight > 0 || !p.lastFailure.IsZero() && now.Sub(p.lastFailure) < t.limits.FailureMemory
}

// room reports whether the map whose size is given can take one more key,
// sweeping first when it is full.
func (t *loginThrottle) room(size func() int, now time.Time) bool {
	if size() < maxLimitedKeys {
		return true
	}
	t.sweep(now)
	return size() < maxLimitedKeys
}

// sweep forgets what no longer holds anyone back: buckets that have
// refilled, and pairs with neither a recent failure nor a check under way.
func (t *loginThrottle) sweep(now time.Time) {
	l := t.limits
	for k, b := range t.byAddr {
		if b.TokensAt(now) >= float64(l.Address.Burst) {
			delete(t.byAddr, k)
		}
	}
	for k, b := range t.byUser {
		if b.TokensAt(now) >= float64(l.User.Burst) {
			delete(t.byUser, k)
		}
	}
	for k, p := range t.byPair {
		if !t.failedRecently(p, now) && p.failures.TokensAt(now) >= float64(l.UserAddress.Burst) {
			delete(t.byPair, k)
		}
	}
}
