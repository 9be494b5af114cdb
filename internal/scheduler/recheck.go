package scheduler

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/policy"
)

// defaultRecheck is how long to wait before asking about a window again
// when the CA did not say (RFC 9773 suggests six hours).
const defaultRecheck = 6 * time.Hour

// refreshWindows asks the CAs about the renewal windows of the certificates
// due a check (their Retry-After has passed) and stores what they answer,
// with the renewal time the new window gives, so the due query that
// follows sees a window the CA moved. A CA that does not answer is asked
// again after RecheckRetry; that is logged, not a failed scan. It returns
// how many were refreshed and how many were not.
func (s *Scheduler) refreshWindows(ctx context.Context, now time.Time) (refreshed, failed int) {
	if s.RenewalInfo == nil {
		return 0, 0
	}
	assets, err := s.Store.AssetsToRecheck(ctx, now, cmp.Or(max(s.RecheckBatch, 0), 1000))
	if err != nil {
		s.logger().Error("could not list the certificates whose renewal window to ask about", "err", err)
		return 0, 0
	}
	// Each question is a round trip to a CA: ask a few at once, not all.
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		slot = make(chan struct{}, cmp.Or(max(s.RecheckConcurrency, 0), 8))
	)
	for _, a := range assets {
		if ctx.Err() != nil {
			break
		}
		slot <- struct{}{}
		wg.Go(func() {
			defer func() { <-slot }()
			ok := s.recheck(ctx, a, now)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				refreshed++
			} else {
				failed++
			}
		})
	}
	wg.Wait()
	return refreshed, failed
}

// recheck asks a's CA about its certificate's renewal window and stores
// the answer; it reports whether the CA answered and the answer is kept.
func (s *Scheduler) recheck(ctx context.Context, a asset.Asset, now time.Time) bool {
	ca := cmp.Or(a.RenewalCertCA, a.CertificateAuthority)
	info, err := s.RenewalInfo(ctx, ca, a.RenewalCertID)
	if ctx.Err() != nil {
		return false
	}
	answered := err == nil || errors.Is(err, issuer.ErrNoRenewalInfo)
	// Work on a fresh read: a rotation may have replaced the certificate
	// while the CA answered, and its record must not be overwritten.
	fresh, gerr := s.Store.GetAsset(ctx, a.SystemName)
	if gerr != nil || fresh.RenewalCertID != a.RenewalCertID {
		return answered
	}
	log := s.logger().With("asset", a.SystemName, "ca", ca, "certificate_id", a.RenewalCertID)
	switch {
	case errors.Is(err, issuer.ErrNoRenewalInfo):
		// The CA no longer offers ARI: nothing to ask it about, nor to
		// name in "replaces". The window it gave last still stands.
		log.Warn("the CA no longer offers renewal information (ARI); its certificates are renewed by their lifetime")
		fresh.RenewalCertID, fresh.RenewalCertCA, fresh.RenewalCheckAt = "", "", nil
	case err != nil:
		retry := cmp.Or(max(s.RecheckRetry, 0), time.Hour)
		next := now.Add(retry).UTC()
		fresh.RenewalCheckAt = &next
		log.Warn("could not ask the CA for the renewal window; asking again later", "err", err, "next_check", next.Format(time.RFC3339))
	default:
		window := &asset.Window{Start: info.Start.UTC(), End: info.End.UTC()}
		if old := fresh.RenewalWindow; old == nil || !old.Start.Equal(window.Start) || !old.End.Equal(window.End) {
			log.Info("the CA moved the renewal window", "start", window.Start.Format(time.RFC3339), "end", window.End.Format(time.RFC3339),
				"explanation", info.ExplanationURL)
		}
		next := info.RetryAfter.UTC()
		if info.RetryAfter.IsZero() {
			next = now.Add(defaultRecheck).UTC()
		}
		fresh.RenewalWindow, fresh.RenewalCheckAt = window, &next
		fresh.RenewalTime = policy.RenewalTime(fresh, s.Policy)
	}
	if uerr := s.Store.UpdateAsset(ctx, fresh); uerr != nil {
		log.Error("could not store the renewal window", "err", uerr)
		return false
	}
	return answered
}
