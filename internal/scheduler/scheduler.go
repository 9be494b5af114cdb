// Package scheduler finds the assets whose certificates are due and queues
// their rotations: an indexed query for candidates, the renewal policy for
// the decision, the routing table for a driver, then one job per device.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// Creator records a pending rotation; *rotation.Runner implements it.
type Creator interface {
	Create(ctx context.Context, systemName, trigger string, force bool) (store.Rotation, error)
}

// Enqueuer queues a rotation on its data center's queue; *queue.Queue
// implements it.
type Enqueuer interface {
	Enqueue(ctx context.Context, rot store.Rotation, dataCenter string) error
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
	Now         func() time.Time
	Logger      *slog.Logger
}

// Result counts what one scan did.
type Result struct {
	Candidates int `json:"candidates"`
	Enqueued   int `json:"enqueued"`
	// NotYet are candidates the policy holds back (jitter, backoff).
	NotYet int `json:"not_yet"`
	// Active already had a rotation pending or running.
	Active  int `json:"active"`
	NoRoute int `json:"no_route"`
	Errors  int `json:"errors"`
}

// Scan runs one pass; it implements queue.Scanner.
func (s *Scheduler) Scan(ctx context.Context) error {
	_, err := s.ScanOnce(ctx)
	return err
}

// ScanOnce enqueues a rotation for every due asset and says what it did.
func (s *Scheduler) ScanOnce(ctx context.Context) (Result, error) {
	now := s.now()
	batch := s.Batch
	if batch <= 0 {
		batch = 10000
	}
	candidates, err := s.Store.DueAssets(ctx, now, batch)
	if err != nil {
		return Result{}, fmt.Errorf("scheduler: %w", err)
	}
	res := Result{Candidates: len(candidates)}
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
		rot, err := s.Creator.Create(ctx, a.SystemName, store.TriggerSchedule, false)
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
			s.logger().Error("could not create rotation", "asset", a.SystemName, "err", err)
			continue
		}
		if err := s.Enqueuer.Enqueue(ctx, rot, a.DataCenter); err != nil {
			res.Errors++
			s.logger().Error("could not enqueue rotation", "asset", a.SystemName, "rotation", rot.ID, "err", err)
			continue
		}
		res.Enqueued++
		s.logger().Info("rotation queued", "asset", a.SystemName, "rotation", rot.ID, "reason", d.Reason)
	}
	return res, nil
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
