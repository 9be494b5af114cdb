// Package ratelimit budgets new ACME orders against each CA's rate limits,
// so that a wave of due certificates is spread over the time the CA's
// token buckets allow instead of tripping them and failing.
//
// A Budget keeps, per CA, the token buckets the CA enforces (new orders
// per account, certificates per registered domain, per exact set of names,
// authorization failures per name), with Let's Encrypt's published limits
// as defaults. Reserve books the earliest time an order fits every bucket
// and spends the tokens then; Plan answers the same question without
// spending; Penalize holds a CA back after it answered "rate limited".
// It is pure bookkeeping: no I/O, and the clock is injected.
package ratelimit

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"
)

// sweepEvery is how often, in clock time, a Budget drops the buckets that
// have filled up again, so a fleet of many names does not keep one bucket
// per name for ever.
const sweepEvery = time.Minute

// Renewal says how an order relates to an earlier certificate; CAs such as
// Let's Encrypt count renewals against fewer limits (Limits.RenewalExemptions).
type Renewal int

const (
	// NewCertificate is an order that renews nothing the CA knows of.
	NewCertificate Renewal = iota
	// SameNames renews an earlier certificate for exactly the same names.
	SameNames
	// ARI renews through ACME Renewal Info: the order names the
	// certificate it replaces, inside the window the CA suggested.
	ARI
)

// Order is one ACME order to budget for.
type Order struct {
	// Names are the certificate's names (CN and SANs); case, a trailing
	// dot and order do not matter.
	Names []string
	// Renewal is how the order renews an earlier certificate, if at all.
	Renewal Renewal
	// NotBefore is the earliest the order may be placed, e.g. when the
	// certificate becomes due; zero means now.
	NotBefore time.Time
}

// Reservation is the tokens one order took. Cancel gives them back.
type Reservation struct {
	// At is when the order may be placed.
	At time.Time
	// Waits reports whether At is later than the moment of reserving:
	// the order has to wait for tokens to come back or for the CA's
	// Retry-After. Callers compare this, not At with a clock of their own,
	// which is read at another moment.
	Waits bool

	at       int64
	buckets  []*bucket
	canceled bool
}

// Budget books orders against the rate limits of every CA. It is safe for
// concurrent use.
type Budget struct {
	now    func() time.Time
	epoch  time.Time
	limits map[string]Limits

	mu        sync.Mutex
	buckets   map[bucketKey]*bucket
	penalties map[string]int64 // CA -> nothing before this offset
	lastSweep int64
}

type bucketKind int

const (
	accountBucket bucketKind = iota
	domainBucket
	exactSetBucket
	failureBucket
)

type bucketKey struct {
	ca   string
	kind bucketKind
	key  string // registered domain, sorted names, or name; "" for the account
}

// New returns a Budget for the CAs in limits, keyed by the CA name orders
// are reserved under (a certificate_authorities key of ottr.yaml). A CA
// not in limits is not limited, though Penalize still holds it back. A
// Rate that Limits.Validate rejects is treated as no limit. now is the
// clock; nil means time.Now.
func New(limits map[string]Limits, now func() time.Time) *Budget {
	if now == nil {
		now = time.Now
	}
	b := &Budget{
		now:       now,
		limits:    maps.Clone(limits),
		buckets:   make(map[bucketKey]*bucket),
		penalties: make(map[string]int64),
	}
	// Offsets are taken from the wall clock: a monotonic reading would
	// make times from the clock and times from callers disagree.
	b.epoch = now().Round(0)
	return b
}

// Reserve books an order for names with CA ca at the earliest time it fits
// every bucket, no earlier than now, and spends the tokens at that time.
// Calling it for each of a wave of due certificates spreads the wave as
// tightly as the limits allow.
func (b *Budget) Reserve(ca string, names []string) (time.Time, *Reservation) {
	r := b.ReserveOrder(ca, Order{Names: names})
	return r.At, r
}

// ReserveOrder is Reserve for an Order, which may be a renewal and may
// have to wait for its due time.
func (b *Budget) ReserveOrder(ca string, o Order) *Reservation {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.offset(b.now())
	b.maybeSweep(now)
	spend, check := b.bucketsFor(ca, o, func(k bucketKey, r Rate) *bucket { return b.bucket(k, r, now) })
	at := b.earliest(ca, o, now, spend, check)
	for _, bk := range spend {
		bk.insert(at)
	}
	return &Reservation{At: b.time(at), Waits: at > now, at: at, buckets: spend}
}

// Cancel gives back the tokens of an order that was never placed, such
// as one the CA refused as rate limited (Cancel it, Penalize, then Reserve
// again). Cancelling twice, or a nil Reservation, does nothing; nor does
// cancelling a reservation more than a limit's period old, which that
// bucket has already stopped tracking one by one.
func (b *Budget) Cancel(r *Reservation) {
	if r == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.canceled {
		return
	}
	r.canceled = true
	for _, bk := range r.buckets {
		bk.remove(r.at)
	}
}

// Plan returns when each order would be placed if reserved one after the
// other in the given order, without spending any token: for showing an
// operator what a wave of due rotations will do (`ottr plan`).
func (b *Budget) Plan(ca string, orders []Order) []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.offset(b.now())
	clones := make(map[bucketKey]*bucket)
	lookup := func(k bucketKey, r Rate) *bucket {
		if c, ok := clones[k]; ok {
			return c
		}
		c := newBucket(r)
		if real, ok := b.buckets[k]; ok {
			c = real.clone()
		}
		clones[k] = c
		return c
	}
	out := make([]time.Time, len(orders))
	for i, o := range orders {
		spend, check := b.bucketsFor(ca, o, lookup)
		at := b.earliest(ca, o, now, spend, check)
		for _, bk := range spend {
			bk.insert(at)
		}
		out[i] = b.time(at)
	}
	return out
}

// Penalize holds back every order for ca until retryAfter, as the CA asked
// in the Retry-After of a rate-limit error. A later penalty extends an
// earlier one; an earlier one does not shorten it. Orders reserved before
// the penalty keep their times: check PenalizedUntil before placing one.
func (b *Budget) Penalize(ca string, retryAfter time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	until := b.offset(retryAfter)
	if until > b.penalties[ca] {
		b.penalties[ca] = until
	}
}

// PenalizedUntil returns the time ca holds orders back until, or the zero
// time if it does not now.
func (b *Budget) PenalizedUntil(ca string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.penalties[ca]
	if !ok || until <= b.offset(b.now()) {
		return time.Time{}
	}
	return b.time(until)
}

// RecordAuthorizationFailure counts a failed validation of each name with
// ca, now. Once a name's failures empty its bucket, Reserve schedules no
// order naming it before a token is back.
func (b *Budget) RecordAuthorizationFailure(ca string, names []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rate := b.limits[ca].AuthorizationFailuresPerName
	if !rate.limited() {
		return
	}
	now := b.offset(b.now())
	for _, n := range identifiers(names) {
		// A failure happened whether or not the bucket had room for it.
		b.bucket(bucketKey{ca: ca, kind: failureBucket, key: n}, rate, now).insert(now)
	}
}

// bucketsFor returns the buckets an order spends a token from and those it
// only needs a token in (authorization failures are spent by failing, not
// by ordering).
func (b *Budget) bucketsFor(ca string, o Order, get func(bucketKey, Rate) *bucket) (spend, check []*bucket) {
	l := b.limits[ca]
	exempt := l.exemptsRenewals()
	if exempt && o.Renewal == ARI {
		return nil, nil
	}
	renewal := exempt && o.Renewal == SameNames
	if r := l.NewOrdersPerAccount; r.limited() && !renewal {
		spend = append(spend, get(bucketKey{ca: ca, kind: accountBucket}, r))
	}
	if r := l.CertificatesPerRegisteredDomain; r.limited() && !renewal {
		for _, d := range registeredDomains(o.Names) {
			spend = append(spend, get(bucketKey{ca: ca, kind: domainBucket, key: d}, r))
		}
	}
	if r := l.CertificatesPerExactSet; r.limited() {
		spend = append(spend, get(bucketKey{ca: ca, kind: exactSetBucket, key: exactSet(o.Names)}, r))
	}
	if r := l.AuthorizationFailuresPerName; r.limited() {
		for _, n := range identifiers(o.Names) {
			k := bucketKey{ca: ca, kind: failureBucket, key: n}
			// A name that never failed has a full bucket: nothing to check.
			if _, ok := b.buckets[k]; ok {
				check = append(check, get(k, r))
			}
		}
	}
	return spend, check
}

// earliest is the first offset at or after now, the penalty and the
// order's NotBefore at which every bucket has a token. Each bucket's own
// earliest time only moves the answer later, and the answer is the first
// time all agree on.
func (b *Budget) earliest(ca string, o Order, now int64, spend, check []*bucket) int64 {
	t := max(now, b.penalties[ca])
	if !o.NotBefore.IsZero() {
		t = max(t, b.offset(o.NotBefore))
	}
	all := append(slices.Clip(spend), check...)
	for {
		moved := false
		for _, bk := range all {
			if e := bk.earliest(t); e > t {
				t, moved = e, true
			}
		}
		if !moved {
			return t
		}
	}
}

// bucket returns the live bucket for k, pruned to now, making it if need be.
func (b *Budget) bucket(k bucketKey, r Rate, now int64) *bucket {
	bk, ok := b.buckets[k]
	if !ok {
		bk = newBucket(r)
		b.buckets[k] = bk
	}
	bk.prune(now - int64(r.Period))
	return bk
}

// maybeSweep drops the buckets that are full again, at most once per
// sweepEvery. Their spends are a period old, so a Cancel of them would
// change nothing the CA still counts.
func (b *Budget) maybeSweep(now int64) {
	if now-b.lastSweep < int64(sweepEvery) && now >= b.lastSweep {
		return
	}
	b.lastSweep = now
	for k, bk := range b.buckets {
		bk.prune(now - bk.capacity*bk.interval)
		if bk.full(now) {
			delete(b.buckets, k)
		}
	}
	for ca, until := range b.penalties {
		if until <= now {
			delete(b.penalties, ca)
		}
	}
}

func (b *Budget) offset(t time.Time) int64 { return int64(t.Sub(b.epoch)) }
func (b *Budget) time(off int64) time.Time { return b.epoch.Add(time.Duration(off)) }

// normalName lower-cases a name and drops a trailing dot and spaces.
func normalName(n string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
}

// identifiers returns the distinct names an order asks the CA to
// authorize: a wildcard is authorized as its base name.
func identifiers(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.TrimPrefix(normalName(n), "*."); n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// registeredDomains returns the distinct registered domains (eTLD+1) of
// names. A name that has none, such as an IP address or a public suffix
// itself, stands for itself.
func registeredDomains(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range identifiers(names) {
		d, err := publicsuffix.EffectiveTLDPlusOne(n)
		if err != nil {
			d = n
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// exactSet is the key of a set of names, ignoring case and order.
func exactSet(names []string) string {
	set := make([]string, 0, len(names))
	for _, n := range names {
		if n = normalName(n); n != "" {
			set = append(set, n)
		}
	}
	slices.Sort(set)
	return strings.Join(slices.Compact(set), ",")
}
