package notify

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// page is how many assets a check reads from the store at a time, so a
// large inventory is never held in memory at once.
const page = 1000

// eachAsset calls fn with every page of the assets f selects, in name
// order, until fn fails or the assets run out.
func (n *Notifier) eachAsset(ctx context.Context, f store.AssetFilter, fn func([]asset.Asset) error) error {
	f.Limit = page
	for {
		assets, err := n.cfg.Store.ListAssets(ctx, f)
		if err != nil {
			return err
		}
		if err := fn(assets); err != nil {
			return err
		}
		if len(assets) < page {
			return nil
		}
		f.After = assets[len(assets)-1].SystemName
	}
}

// reason says why a may not be rotated before its certificate expires.
func (n *Notifier) reason(a asset.Asset, now time.Time) string {
	_, _, routed := n.cfg.Routes.Match(a)
	return reasonOf(a, routed, n.cfg.HeldUntil(a.CertificateAuthority), now)
}

// CheckExpiry tells of every certificate that has crossed one of the
// expiry thresholds (notifications.expiry.days) since it was last told
// of, with the reason it may not be rotated in time; see decideExpiry. It
// reads only the assets expiring within the largest threshold, through
// the store's expiry index, and returns how many it told of. The scan
// calls it.
func (n *Notifier) CheckExpiry(ctx context.Context) (int, error) {
	days := n.cfg.Settings.Expiry.Days
	if len(days) == 0 {
		return 0, nil
	}
	now := n.cfg.Now()
	horizon := now.Add(time.Duration(slices.Max(days)) * 24 * time.Hour)
	type candidate struct {
		asset     asset.Asset
		threshold int
		reason    string
	}
	count := 0
	err := n.eachAsset(ctx, store.AssetFilter{ExpiresBefore: &horizon}, func(assets []asset.Asset) error {
		var due []candidate
		var keys []string
		for _, a := range assets {
			reason := n.reason(a, now)
			threshold, ok := decideExpiry(a, days, reason, policy.RenewalTime(a, n.cfg.Policy), now)
			if ok {
				due = append(due, candidate{a, threshold, reason})
				keys = append(keys, expiringKey(a, threshold))
			}
		}
		if len(due) == 0 {
			return nil
		}
		claimed, err := n.cfg.Store.ClaimedNotifications(ctx, keys)
		if err != nil {
			return err
		}
		for i, c := range due {
			if claimed[keys[i]] {
				continue
			}
			told, err := n.tell(ctx, Event{
				Kind:          CertificateExpiring,
				Time:          now,
				Link:          n.links.asset(c.asset.SystemName),
				Asset:         assetOf(c.asset, now),
				FailureCount:  c.asset.FailureCount,
				ThresholdDays: c.threshold,
				Reason:        c.reason,
			}, []string{keys[i]})
			if err != nil {
				return err
			}
			if told {
				count++
			}
		}
		return nil
	})
	return count, err
}

// DriftResult counts what one drift check saw.
type DriftResult struct {
	// Checked are the devices asked what they serve; Unreachable those
	// that did not answer; Drifted those serving another certificate than
	// the recorded one, told of (once per certificate they serve).
	Checked, Unreachable, Drifted int
}

// CheckDrift asks every device with a recorded certificate what it serves
// (a TLS handshake, as verify does), notifications.drift_check.concurrency
// at a time, and tells of each serving another certificate than the
// recorded one. A device whose certificate is being rotated is left
// alone: it may serve the new certificate before the rotation records it.
func (n *Notifier) CheckDrift(ctx context.Context) (DriftResult, error) {
	var (
		res  DriftResult
		mu   sync.Mutex
		wg   sync.WaitGroup
		slot = make(chan struct{}, max(n.cfg.Settings.DriftCheck.Concurrency, 1))
		errs []error
	)
	err := n.eachAsset(ctx, store.AssetFilter{}, func(assets []asset.Asset) error {
		for _, a := range assets {
			if a.CertificateSerial == "" || a.IPAddress == "" {
				continue
			}
			select {
			case slot <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			wg.Go(func() {
				defer func() { <-slot }()
				reached, drifted, err := n.checkServed(ctx, a)
				mu.Lock()
				defer mu.Unlock()
				res.Checked++
				if !reached {
					res.Unreachable++
				}
				if drifted {
					res.Drifted++
				}
				if err != nil {
					errs = append(errs, err)
				}
			})
		}
		return nil
	})
	wg.Wait()
	n.cfg.Logger.Info("drift check done", "checked", res.Checked, "unreachable", res.Unreachable, "drifted", res.Drifted)
	return res, errors.Join(append(errs, err)...)
}

// checkServed looks at what a's device serves and tells of a drift. It
// reports whether the device answered and whether it drifted.
func (n *Notifier) checkServed(ctx context.Context, a asset.Asset) (reached, drifted bool, err error) {
	chain, err := n.cfg.Fetch(ctx, net.JoinHostPort(a.IPAddress, strconv.Itoa(a.TLSPort())), a.CommonName)
	if err != nil {
		n.cfg.Logger.Debug("drift check: device did not answer", "asset", a.SystemName, "err", err)
		return false, false, nil
	}
	served := driftSerials(a.CertificateSerial, verify.SerialHex(chain[0]))
	if len(served) == 0 {
		return true, false, nil
	}
	// A rotation may have recorded the certificate since the list was
	// read, or be installing it now.
	fresh, err := n.cfg.Store.GetAsset(ctx, a.SystemName)
	if err != nil || normalSerial(fresh.CertificateSerial) != normalSerial(a.CertificateSerial) {
		return true, false, nil
	}
	if _, err := n.cfg.Store.ActiveRotation(ctx, a.SystemName); err == nil {
		return true, false, nil
	}
	return true, true, n.tellDrift(ctx, fresh, served[0], "check", "", n.cfg.Now())
}

// digestHorizon is how far ahead the digest lists expiring certificates.
const digestHorizon = 14 * 24 * time.Hour

// SendDigest tells the day's digest — assets by state, the certificates
// expiring within 14 days, the assets failing — unless today's was told
// already. It reports whether it told it.
func (n *Notifier) SendDigest(ctx context.Context) (bool, error) {
	now := n.cfg.Now()
	key := digestKey(now)
	if claimed, err := n.cfg.Store.ClaimedNotifications(ctx, []string{key}); err != nil || claimed[key] {
		return false, err
	}
	rotating := map[string]bool{}
	for _, state := range []store.State{store.StatePending, store.StateRunning} {
		rots, err := n.cfg.Store.ListRotations(ctx, store.RotationFilter{State: state})
		if err != nil {
			return false, err
		}
		for _, r := range rots {
			rotating[r.Asset] = true
		}
	}
	d := &Digest{States: map[string]int{}, Expiring: []Asset{}, Failed: []Asset{}}
	var expiring, failed []asset.Asset
	err := n.eachAsset(ctx, store.AssetFilter{}, func(assets []asset.Asset) error {
		for _, a := range assets {
			_, _, routed := n.cfg.Routes.Match(a)
			d.States[a.State(routed, rotating[a.SystemName], now)]++
			if a.CertificateExpiration != nil && a.CertificateExpiration.Before(now.Add(digestHorizon)) {
				expiring = append(expiring, a)
			}
			if a.FailureCount > 0 {
				failed = append(failed, a)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	slices.SortStableFunc(expiring, func(a, b asset.Asset) int { return a.CertificateExpiration.Compare(*b.CertificateExpiration) })
	slices.SortStableFunc(failed, func(a, b asset.Asset) int { return cmp.Compare(b.FailureCount, a.FailureCount) })
	d.ExpiringTotal, d.FailedTotal = len(expiring), len(failed)
	for _, a := range expiring[:min(len(expiring), DigestListed)] {
		d.Expiring = append(d.Expiring, *assetOf(a, now))
	}
	for _, a := range failed[:min(len(failed), DigestListed)] {
		d.Failed = append(d.Failed, *assetOf(a, now))
	}
	return n.tell(ctx, Event{Kind: DigestKind, Time: now, Link: n.links.base, Digest: d}, []string{key})
}
