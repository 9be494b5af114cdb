package ui

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

// BenchmarkUIMemory100k measures what the UI keeps in memory over
// 100,000 assets in SQLite (the fleet of BenchmarkUIPages100k): the fleet
// index of the overview and the assets table, and the whole-fleet results
// the plan and DNS screens cache, each as heap bytes an asset still held
// after a garbage collection. Run it once, with
//
//	go test -run '^$' -bench UIMemory100k -benchtime 1x ./internal/ui
//
// BENCHMARKS.md has the figures.
func BenchmarkUIMemory100k(b *testing.B) {
	e := newEnv(b)
	assets, _ := e.fleet100k()
	n := float64(len(assets))
	assets = nil // only what the UI keeps is measured
	u := &UI{app: e.app, store: e.app.Store, now: time.Now, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	fleet := &fleetIndex{store: u.store, routes: e.app.Routes, now: time.Now}
	plan, dns := newPlanScreen(u), newDNSScreen(u)
	// A first read of every kind warms SQLite and the store's statements,
	// which the UI does not keep.
	if _, err := fleet.load(ctx); err != nil {
		b.Fatal(err)
	}
	before := heapAfterGC()
	for range b.N {
		index, err := measureHeld(b, "fleet-index-B/asset", n, func() (any, error) { return fleet.load(ctx) })
		if err != nil {
			b.Fatal(err)
		}
		planned, err := measureHeld(b, "plan-cache-B/asset", n, func() (any, error) { return plan.compute(ctx, time.Now()) })
		if err != nil {
			b.Fatal(err)
		}
		delegations, err := measureHeld(b, "dns-cache-B/asset", n, func() (any, error) { return dns.compute(ctx, time.Now()) })
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(heapAfterGC()-before)/(1<<20), "all-three-MB")
		runtime.KeepAlive(index)
		runtime.KeepAlive(planned)
		runtime.KeepAlive(delegations)
	}
}

// measureHeld reports, as metric, the heap bytes an asset that what
// compute returns holds after a garbage collection, and returns it.
func measureHeld(b *testing.B, metric string, assets float64, compute func() (any, error)) (any, error) {
	before := heapAfterGC()
	v, err := compute()
	if err != nil {
		return nil, err
	}
	held := float64(heapAfterGC()) - float64(before)
	b.ReportMetric(held/assets, metric)
	return v, nil
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
