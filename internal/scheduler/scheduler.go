// Package scheduler finds the assets whose certificates are due and queues
// their rotations: it first refreshes the renewal windows the CAs suggest
// (ACME ARI) for the certificates due a check, then takes an indexed query
// for candidates, the renewal policy for the decision, the routing table
// for a driver, the CA's rate-limit budget for a time, then queues one job
// per device.
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/ratelimit"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// Creator records a pending rotation and, in the same transaction, queues
// its job through enqueue; *rotation.Runner implements it.
type Creator interface {
	Create(ctx context.Context, systemName string, trigger store.Trigger, force bool, enqueue rotation.Enqueue) (store.Rotation, error)
}

// Enqueuer makes what queues a new rotation's job on its data center's
// queue, to run no earlier than runAt (now when zero), inside the
// transaction that creates the rotation; *queue.Queue implements it.
type Enqueuer interface {
	EnqueueFunc(dataCenter string, runAt time.Time) rotation.Enqueue
}

// Scheduler scans for due assets.
type Scheduler struct {
	Store    store.Store
	Creator  Creator
	Enqueuer Enqueuer
	Policy   policy.Settings
	// Batch is the most assets one scan looks at. Default 10000.
	Batch int
	// NoRouteHold is how long an asset with no route is left alone before
	// it is looked at again; it stays listed as such meanwhile. Default 1h.
	NoRouteHold time.Duration

	// RenewalInfo asks the CA profile caName when the certificate with ARI
	// certificate ID certID should be renewed (issuer.Issuer.RenewalInfo).
	// nil: windows are only learnt when a rotation records them.
	RenewalInfo func(ctx context.Context, caName, certID string) (issuer.RenewalInfo, error)
	// RecheckBatch is the most certificates one scan asks their CAs about.
	// Default 1000.
	RecheckBatch int
	// RecheckConcurrency is how many of those questions are asked at once.
	// Default 8.
	RecheckConcurrency int
	// RecheckRetry is how long a certificate whose CA could not answer
	// waits before it is asked about again. Default 1h.
	RecheckRetry time.Duration

	// Budget books every rotation's order against its CA's rate limits,
	// and the rotation is queued to run at the time booked, so a wave of
	// due certificates is spread over the time the limits allow instead of
	// tripping them. nil: every due rotation runs now.
	//
	// The budget lives in this process's memory. In cluster mode the
	// elected leader schedules one scan at a time, which the first free
	// process runs with its own budget: each books the waves it scans,
	// so a process that has not scanned yet starts with a full budget and
	// may run a wave ahead of another's bookings until the CA's buckets
	// refill; the CA's own Retry-After then holds the fleet back.
	// A CA's "rate limited" answer penalizes the budget of the process
	// whose worker got it (rotation.Deps.RateLimited): on a single node
	// that is this budget; in a cluster the leader learns of it through
	// the refused assets, held back until the CA's Retry-After.
	Budget *ratelimit.Budget

	// Expiry, if set, is asked after each scan to tell of the
	// certificates that crossed an expiry threshold; *notify.Notifier
	// implements it.
	Expiry ExpiryChecker

	Now    func() time.Time
	Logger *slog.Logger
}

// ExpiryChecker tells of the certificates near their expiry and returns
// how many it told of.
type ExpiryChecker interface {
	CheckExpiry(ctx context.Context) (int, error)
}

// Result counts what one scan did.
type Result struct {
	// Rechecked are certificates whose renewal window the CA was asked
	// about again; RecheckFailed those it did not answer for.
	Rechecked     int `json:"rechecked"`
	RecheckFailed int `json:"recheck_failed"`
	Candidates    int `json:"candidates"`
	Enqueued      int `json:"enqueued"`
	// Deferred are the enqueued rotations queued to run later, when the
	// CA's rate limits have room for their orders.
	Deferred int `json:"deferred"`
	// NotYet are candidates the policy holds back (jitter, backoff).
	NotYet int `json:"not_yet"`
	// Active already had a rotation pending or running.
	Active  int `json:"active"`
	NoRoute int `json:"no_route"`
	Errors  int `json:"errors"`
	// Expiring are the certificates told of as crossing an expiry
	// threshold.
	Expiring int `json:"expiring"`
}

// Scan runs one pass; it implements queue.Scanner.
func (s *Scheduler) Scan(ctx context.Context) error {
	_, err := s.ScanOnce(ctx)
	return err
}

// ScanOnce refreshes the renewal windows due a check, enqueues a rotation
// for every due asset and says what it did. A window the CA moved to now
// (say, ahead of a revocation) is seen and acted on in the same scan.
func (s *Scheduler) ScanOnce(ctx context.Context) (Result, error) {
	now := s.now()
	batch := s.Batch
	if batch <= 0 {
		batch = 10000
	}
	var res Result
	res.Rechecked, res.RecheckFailed = s.refreshWindows(ctx, now)
	candidates, err := s.Store.DueAssets(ctx, now, batch)
	if err != nil {
		return res, fmt.Errorf("scheduler: %w", err)
	}
	res.Candidates = len(candidates)
	for _, a := range candidates {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		// Decide on a fresh read: a rotation may have finished since the
		// candidates were listed.
		if a, err = s.Store.GetAsset(ctx, a.SystemName); err != nil {
			continue
		}
		d := policy.Decide(policy.Input{Asset: a, Now: now, Settings: s.Policy})
		if !d.Due {
			res.NotYet++
			s.refreshRenewalTime(ctx, a)
			continue
		}
		// The budget is booked first, so the job is created with the
		// time it may run; a rotation that is not created gives it back.
		runAt, booked := s.reserve(a, now)
		rot, err := s.Creator.Create(ctx, a.SystemName, store.TriggerSchedule, false, s.Enqueuer.EnqueueFunc(a.DataCenter, runAt))
		if err != nil && booked != nil {
			s.Budget.Cancel(booked)
		}
		switch {
		case errors.Is(err, store.ErrConflict):
			res.Active++
			continue
		case errors.Is(err, rotation.ErrNoRoute):
			res.NoRoute++
			s.logger().Warn("due asset has no route", "asset", a.SystemName, "err", err)
			s.holdBack(ctx, a, now)
			continue
		case err != nil:
			res.Errors++
			s.logger().Error("could not create and queue the rotation", "asset", a.SystemName, "err", err)
			continue
		}
		res.Enqueued++
		if !runAt.IsZero() {
			res.Deferred++
			s.logger().Info("rotation queued to run when the CA's rate limits allow", "asset", a.SystemName, "rotation", rot.ID,
				"reason", d.Reason, "run_at", runAt.UTC().Format(time.RFC3339))
			continue
		}
		s.logger().Info("rotation queued", "asset", a.SystemName, "rotation", rot.ID, "reason", d.Reason)
	}
	if s.Expiry != nil {
		// After the due assets are queued: that is the scan's first duty.
		n, err := s.Expiry.CheckExpiry(ctx)
		if err != nil {
			s.logger().Error("could not tell of the certificates near their expiry", "err", err)
		}
		res.Expiring = n
	}
	return res, nil
}

// reserve books the order of a's rotation in the budget and returns when
// it may run: now, or later when the CA's rate limits are spent. Without a
// budget it is always now (the zero time).
func (s *Scheduler) reserve(a asset.Asset, now time.Time) (time.Time, *ratelimit.Reservation) {
	if s.Budget == nil {
		return time.Time{}, nil
	}
	r := s.Budget.ReserveOrder(a.CertificateAuthority, Order(a, now))
	if !r.Waits {
		// The budget's "now" is a moment after the scan's: an order it
		// has room for runs at once, not a few milliseconds later, which
		// would leave the job waiting for the queue's scheduler.
		return time.Time{}, r
	}
	return r.At, r
}

// Order is the order a due asset's rotation places, as the CA's rate
// limits count it. It is a renewal when ottr installed the asset's
// current certificate from the asset's CA: an ARI renewal when that
// certificate has an ARI ID and the CA's window for it is open (the order
// then names it in "replaces"), else a renewal of the same names — ottr
// orders exactly the asset's names, and takes them as unchanged since.
func Order(a asset.Asset, now time.Time) ratelimit.Order {
	o := ratelimit.Order{Names: a.Names()}
	ownRenewal := a.LastRotation != nil && a.CertificateExpiration != nil &&
		cmp.Or(a.RenewalCertCA, a.CertificateAuthority) == a.CertificateAuthority
	switch {
	case ownRenewal && a.RenewalCertID != "" && a.RenewalWindow != nil && !now.Before(a.RenewalWindow.Start):
		o.Renewal = ratelimit.ARI
	case ownRenewal:
		o.Renewal = ratelimit.SameNames
	}
	return o
}

// refreshRenewalTime stores the policy's renewal time on an asset that came
// back as a candidate without being due (say, one added with a known expiry),
// so the next scan's index skips it.
func (s *Scheduler) refreshRenewalTime(ctx context.Context, a asset.Asset) {
	rt := policy.RenewalTime(a, s.Policy)
	if rt == nil || (a.RenewalTime != nil && a.RenewalTime.Equal(*rt)) {
		return
	}
	a.RenewalTime = rt
	if err := s.Store.UpdateAsset(ctx, a); err != nil {
		s.logger().Error("could not store renewal time", "asset", a.SystemName, "err", err)
	}
}

func (s *Scheduler) holdBack(ctx context.Context, a asset.Asset, now time.Time) {
	hold := s.NoRouteHold
	if hold <= 0 {
		hold = time.Hour
	}
	next := now.Add(hold).UTC()
	a.NextAttemptAt = &next
	if err := s.Store.UpdateAsset(ctx, a); err != nil {
		s.logger().Error("could not hold back asset", "asset", a.SystemName, "err", err)
	}
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
