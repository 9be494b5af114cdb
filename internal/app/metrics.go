package app

import (
	"context"
	"crypto/x509"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/metrics"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/scheduler"
)

// driverLookupTimeout bounds the store read that names a rotation's
// driver for its metrics.
const driverLookupTimeout = 5 * time.Second

// newMetrics builds the app's metrics: the inventory, the job queue and
// the rate-limit budget read at scrape time, and the counters set up at
// 0 for every driver and notification channel the config names.
func (a *App) newMetrics() error {
	m := metrics.New(metrics.Options{Now: a.opts.Now, Logger: a.log})
	m.AddInventory(metrics.Inventory{Store: a.Store, Routed: a.routed})
	if err := m.AddQueue(metrics.Queue{DB: a.db, Pool: a.pool}); err != nil {
		return err
	}
	m.AddBudget(a.Budget, slices.Collect(maps.Keys(a.Config.CertificateAuthorities)))
	drivers := map[string]bool{}
	for _, r := range a.Routes.Routes() {
		drivers[r.Driver] = true
	}
	m.InitRotations(slices.Sorted(maps.Keys(drivers)))
	kinds := make([]string, 0, len(notify.Kinds()))
	for _, k := range notify.Kinds() {
		kinds = append(kinds, string(k))
	}
	m.InitNotifications(slices.Sorted(maps.Keys(a.Config.Notifications.Channels)), kinds)
	a.Metrics = m
	return nil
}

// routed reports whether a route takes as.
func (a *App) routed(as asset.Asset) bool {
	_, _, ok := a.Routes.Match(as)
	return ok
}

// rotationObserver counts rotations and times their steps, then tells
// the observer of the options, if any.
func (a *App) rotationObserver() func(rotation.Event) {
	return a.Metrics.RotationObserver(a.driverOf, a.opts.Observer)
}

// driverOf names the driver of the route the asset takes, "" when none
// does or the asset is gone.
func (a *App) driverOf(systemName string) string {
	ctx, cancel := context.WithTimeout(context.Background(), driverLookupTimeout)
	defer cancel()
	as, err := a.Store.GetAsset(ctx, systemName)
	if err != nil {
		return ""
	}
	r, _, ok := a.Routes.Match(as)
	if !ok {
		return ""
	}
	return r.Driver
}

// acmeHTTPClient is the client the issuer of CA profile name talks to its
// CA with: the issuer's own default, trusting roots, with every request
// counted by endpoint and status.
func (a *App) acmeHTTPClient(name, directory string, roots *x509.CertPool) *http.Client {
	c := acme.NewHTTPClient(roots)
	c.Transport = a.Metrics.ACMETransport(name, directory, c.Transport)
	return c
}

// measuredScans is the scheduler as the queue's scanner, with every scan
// counted, timed and, when it succeeds, stamped.
type measuredScans struct {
	sched   *scheduler.Scheduler
	metrics *metrics.Metrics
	now     func() time.Time
}

func (s measuredScans) Scan(ctx context.Context) error {
	started := s.now()
	res, err := s.sched.ScanOnce(ctx)
	s.metrics.ObserveScan(s.now().Sub(started), res.Enqueued, err)
	return err
}
