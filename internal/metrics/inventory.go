package metrics

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// Asset states, as ottr_asset_status's state label names them. An asset is
// in exactly one, the first that applies in this order.
const (
	// StatePaused: the scheduler leaves it alone.
	StatePaused = "paused"
	// StateUnrouted: no route takes it, so it is never rotated.
	StateUnrouted = "unrouted"
	// StateFailing: its last rotation failed.
	StateFailing = "failing"
	// StateDue: its renewal time has come (or its expiry is unknown).
	StateDue = "due"
	// StateOK: nothing to do before its renewal time.
	StateOK = "ok"
)

// AssetStates lists every state, in the order they are decided.
var AssetStates = []string{StatePaused, StateUnrouted, StateFailing, StateDue, StateOK}

// Inventory reads the per-asset gauges from the store at scrape time, so a
// deleted asset's series end with it. Store is required.
type Inventory struct {
	Store store.Store
	// Routed reports whether a route takes the asset; an asset none takes
	// is "unrouted". nil: every asset is routed.
	Routed func(asset.Asset) bool
	// PageSize is how many assets one read of the store returns. Default
	// 2000.
	PageSize int
	// Timeout bounds the reads of one scrape. Default 30s.
	Timeout time.Duration
}

func (inv Inventory) withDefaults() Inventory {
	if inv.PageSize <= 0 {
		inv.PageSize = 2000
	}
	if inv.Timeout <= 0 {
		inv.Timeout = 30 * time.Second
	}
	return inv
}

// The per-asset families, labelled as cert-manager labels a certificate
// (name, namespace, issuer): asset, data_center, platform and profile,
// in that (the exposition's sorted) order.
var (
	assetLabels  = []string{"asset", "data_center", "platform", "profile"}
	statusLabels = []string{"asset", "data_center", "platform", "profile", "state"}

	notAfterFamily = newFamily(namespace+"_certificate_not_after_timestamp_seconds", assetLabels,
		"When the asset's recorded certificate expires (notAfter), in Unix seconds; absent while unknown.")
	notBeforeFamily = newFamily(namespace+"_certificate_not_before_timestamp_seconds", assetLabels,
		"When the asset's recorded certificate became valid (notBefore), in Unix seconds; absent while unknown.")
	renewalFamily = newFamily(namespace+"_certificate_renewal_timestamp_seconds", assetLabels,
		"When the renewal policy considers the asset's certificate due, in Unix seconds; absent while the expiry is unknown (due now).")
	statusFamily = newFamily(namespace+"_asset_status", statusLabels,
		"Always 1, one series per asset, labelled with the asset's state: paused, unrouted, failing, due or ok.")
	failuresFamily = newFamily(namespace+"_rotation_consecutive_failures", assetLabels,
		"Rotations of the asset that failed in a row; 0 after a success.")

	// inventoryFamilies are written in this order.
	inventoryFamilies = []*family{notAfterFamily, notBeforeFamily, renewalFamily, statusFamily, failuresFamily}
)

// family is one per-asset metric family: a gauge.
type family struct {
	name, help string
	desc       *prometheus.Desc
}

func newFamily(name string, labels []string, help string) *family {
	return &family{name: name, help: help, desc: prometheus.NewDesc(name, help, labels, nil)}
}

// assetRow is what the per-asset families show of one asset.
type assetRow struct {
	// labels are the values of assetLabels.
	labels                       [4]string
	notAfter, notBefore, renewal float64
	hasNotAfter, hasNotBefore    bool
	hasRenewal                   bool
	failures                     int
	state                        string
}

// sample is one family's value for the row, and whether it has one.
func (r *assetRow) sample(f *family) (float64, bool) {
	switch f {
	case notAfterFamily:
		return r.notAfter, r.hasNotAfter
	case notBeforeFamily:
		return r.notBefore, r.hasNotBefore
	case renewalFamily:
		return r.renewal, r.hasRenewal
	case statusFamily:
		return 1, true
	}
	return float64(r.failures), true
}

// read pages through the inventory and hands each page to page.
func (inv *Inventory) read(ctx context.Context, page func([]asset.Asset)) error {
	after := ""
	for {
		assets, err := inv.Store.ListAssets(ctx, store.AssetFilter{After: after, Limit: inv.PageSize})
		if err != nil {
			return fmt.Errorf("metrics: read the inventory after %q: %w", after, err)
		}
		page(assets)
		if len(assets) < inv.PageSize {
			return nil
		}
		after = assets[len(assets)-1].SystemName
	}
}

// rows returns what the per-asset families show of assets, in rows, which
// it reuses.
func (inv *Inventory) rows(assets []asset.Asset, now time.Time, rows []assetRow) []assetRow {
	rows = slices.Grow(rows[:0], len(assets))[:len(assets)]
	for i := range assets {
		inv.row(&assets[i], now, &rows[i])
	}
	return rows
}

func (inv *Inventory) row(a *asset.Asset, now time.Time, r *assetRow) {
	*r = assetRow{}
	r.labels = [4]string{a.SystemName, a.DataCenter, a.HostPlatform, a.CertificateAuthority}
	if t := a.CertificateExpiration; t != nil {
		r.notAfter, r.hasNotAfter = unixSeconds(*t), true
		if t := a.RenewalTime; t != nil {
			r.renewal, r.hasRenewal = unixSeconds(*t), true
		}
	}
	if t := a.CertificateNotBefore; t != nil {
		r.notBefore, r.hasNotBefore = unixSeconds(*t), true
	}
	r.failures = a.FailureCount
	r.state = inv.state(a, now)
}

// state is the asset's fleet state (asset.State), the first of
// AssetStates that applies. The inventory does not read the rotations, so
// the metric has no rotating state: an asset counts as failing or due
// while it rotates.
func (inv *Inventory) state(a *asset.Asset, now time.Time) string {
	routed := inv.Routed == nil || inv.Routed(*a)
	return a.State(routed, false, now)
}

func unixSeconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// AddInventory makes `ottr serve`'s metrics show the per-asset gauges of
// inv. Handler writes them itself, fast enough for 100,000 assets
// (BENCHMARKS.md); Gatherer collects them as any collector.
func (m *Metrics) AddInventory(inv Inventory) {
	inv = inv.withDefaults()
	m.inventory = &inv
}

// inventoryCollector is the per-asset gauges as a prometheus.Collector.
type inventoryCollector struct {
	inv *Inventory
	now func() time.Time
}

var inventoryErrorDesc = prometheus.NewDesc(namespace+"_inventory_read_errors",
	"The inventory could not be read for this scrape.", nil, nil)

func (c *inventoryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range inventoryFamilies {
		ch <- f.desc
	}
}

func (c *inventoryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.inv.Timeout)
	defer cancel()
	now := c.now()
	var rows []assetRow
	err := c.inv.read(ctx, func(assets []asset.Asset) {
		rows = c.inv.rows(assets, now, rows)
		for i := range rows {
			r := &rows[i]
			for _, f := range inventoryFamilies {
				v, ok := r.sample(f)
				if !ok {
					continue
				}
				labels := r.labels[:]
				if f == statusFamily {
					labels = append(labels[:4:4], r.state)
				}
				ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, v, labels...)
			}
		}
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(inventoryErrorDesc, err)
	}
}
