package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv"
)

// benchNow is the instant the benchmark inventory is built around.
var benchNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// inventories holds the benchmark databases, one per size, each built at
// most once per test binary, on the first benchmark that asks for it, and
// removed by TestMain: a million assets take tens of seconds to build, too
// long to repeat for every -count or every benchmark using them. Plain
// `go test` never builds them.
//
// With OTTR_BENCH_DIR set, the databases are kept in that directory and
// reused by later runs, so two builds of the store can be compared on the
// same file without building it twice (minutes on a busy machine).
var inventories struct {
	mu    sync.Mutex
	dir   string
	keep  bool
	built map[int]*inventory
}

type inventory struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if inventories.dir != "" && !inventories.keep {
		os.RemoveAll(inventories.dir)
	}
	os.Exit(code)
}

// benchInventory returns the path of a database holding n assets shaped like
// a fleet of 90-day certificates renewed on schedule at two thirds of their
// lifetime, with about 1.5% of them due now.
func benchInventory(b *testing.B, n int) string {
	b.Helper()
	inventories.mu.Lock()
	if inventories.built == nil {
		inventories.built = make(map[int]*inventory)
	}
	if inventories.dir == "" {
		if dir := os.Getenv("OTTR_BENCH_DIR"); dir != "" {
			inventories.dir, inventories.keep = dir, true
		}
	}
	if inventories.dir == "" {
		dir, err := os.MkdirTemp("", "ottr-bench-")
		if err != nil {
			inventories.mu.Unlock()
			b.Fatal(err)
		}
		inventories.dir = dir
	}
	inv := inventories.built[n]
	if inv == nil {
		inv = &inventory{path: filepath.Join(inventories.dir, fmt.Sprintf("ottr-%d.db", n))}
		inventories.built[n] = inv
	}
	inventories.mu.Unlock()

	inv.once.Do(func() {
		if _, err := os.Stat(inv.path); err == nil && inventories.keep {
			b.Logf("reusing %s", inv.path)
			return
		}
		start := time.Now()
		// Built under another name and renamed when whole, so a kept file
		// is never one a killed run left half written.
		building := inv.path + ".building"
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(building + suffix)
		}
		if inv.err = buildInventory(building, n); inv.err == nil {
			// The store checkpoints its WAL into the file when it closes;
			// a WAL left beside it would not follow the rename.
			if _, err := os.Stat(building + "-wal"); err == nil {
				inv.err = fmt.Errorf("%s-wal remains after the store closed", building)
			} else {
				inv.err = os.Rename(building, inv.path)
			}
		}
		b.Logf("built %d assets in %s", n, time.Since(start).Round(time.Second))
	})
	if inv.err != nil {
		b.Fatal(inv.err)
	}
	return inv.path
}

// openInventory opens the benchmark database of n assets (benchInventory)
// for the rest of b.
func openInventory(b *testing.B, n int) *Store {
	b.Helper()
	s, err := Open(context.Background(), benchInventory(b, n))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// buildInventory writes n assets in one transaction through one prepared
// statement: row by row through the store's API would take minutes.
func buildInventory(path string, n int) error {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		return err
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const day = 24 * time.Hour
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, insertAssetSQL)
		if err != nil {
			return err
		}
		defer stmt.Close()
		// Assets arrive in no particular order of name, as in a real
		// inventory, so rows sorted by name are scattered over the file.
		for _, i := range rng.Perm(n) {
			a := benchAsset(rng, i)
			roll := rng.Float64()
			switch {
			case roll < 0.003: // imported, renewal time not computed yet
			case roll < 0.015: // overdue: failed or late, some backing off
				issued := benchNow.Add(-60*day - time.Duration(rng.Int64N(int64(7*day))))
				setCert(&a, issued)
				if rng.IntN(5) == 0 {
					next := benchNow.Add(time.Duration(rng.Int64N(int64(day))))
					a.NextAttemptAt, a.FailureCount = &next, 1+rng.IntN(5)
				}
			default: // renewed on schedule within the last 60 days
				setCert(&a, benchNow.Add(-time.Duration(rng.Int64N(int64(60*day)))))
			}
			a.Paused = rng.IntN(200) == 0
			args, err := assetArgs(a)
			if err != nil {
				return err
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

func benchAsset(rng *rand.Rand, i int) asset.Asset {
	name := fmt.Sprintf("dev%07d", i)
	platforms := []string{"panos", "bigip", "linux", "lighthouse", "junos"}
	return asset.Asset{
		SystemName:             name,
		CommonName:             name + ".example.com",
		SubjectAlternativeName: []string{name + ".example.com", name + ".mgmt.example.com"},
		CertificateAuthority:   "lets_encrypt",
		CertificateValidation:  true,
		DataCenter:             fmt.Sprintf("dc%d", rng.IntN(20)),
		DeviceModel:            "model-" + fmt.Sprint(rng.IntN(50)),
		HostPlatform:           platforms[rng.IntN(len(platforms))],
		IPAddress:              fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		Origin:                 "netbox",
		OSVersion:              "10.2." + fmt.Sprint(rng.IntN(10)),
		Labels:                 map[string]string{"team": "netops"},
	}
}

// setCert gives a a 90-day certificate issued at issued, due at two thirds
// of its lifetime.
func setCert(a *asset.Asset, issued time.Time) {
	expires := issued.Add(90 * 24 * time.Hour)
	renewal := issued.Add(60 * 24 * time.Hour)
	a.CertificateNotBefore, a.LastRotation = &issued, &issued
	a.CertificateExpiration, a.RenewalTime = &expires, &renewal
	a.CertificateSerial = fmt.Sprintf("%x", issued.UnixNano())
	a.CertificateIssuer = "CN=R11,O=Let's Encrypt,C=US"
}

// BenchmarkDueAssets1M measures the scheduler's query over a million-asset
// inventory, returning a full page of 10,000 due assets.
func BenchmarkDueAssets1M(b *testing.B) {
	s := openInventory(b, 1_000_000)
	ctx := context.Background()
	var due int
	cpu0, cpuKnown := testenv.ProcessCPUTime()
	for b.Loop() {
		assets, err := s.DueAssets(ctx, benchNow, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		due = len(assets)
	}
	cpu1, _ := testenv.ProcessCPUTime()
	if due != 10_000 {
		b.Fatalf("got %d due assets, want a full page of 10000", due)
	}
	b.ReportMetric(float64(due), "assets/op")
	if cpuKnown {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkListAssetsExpiring100k measures the API's search for expiring
// certificates (Ottr's days_until_expiration) over 100,000 assets, one page
// of 100 at a time. Few assets expire within 30 days in a fleet renewed on
// schedule, every one within 120; the cases cover both ends, later pages
// and the expiry filter combined with each other filter. p99-ms is the 99th
// percentile of the iterations' durations.
func BenchmarkListAssetsExpiring100k(b *testing.B) {
	s := openInventory(b, 100_000)
	within := func(days int) *time.Time {
		t := benchNow.Add(time.Duration(days) * 24 * time.Hour)
		return &t
	}
	cases := []struct {
		name   string
		filter store.AssetFilter
	}{
		{"30 days", store.AssetFilter{ExpiresBefore: within(30)}},
		{"30 days, a later page", store.AssetFilter{ExpiresBefore: within(30), After: "dev0050000"}},
		{"60 days", store.AssetFilter{ExpiresBefore: within(60)}},
		{"120 days", store.AssetFilter{ExpiresBefore: within(120)}},
		{"120 days, a later page", store.AssetFilter{ExpiresBefore: within(120), After: "dev0050000"}},
		{"30 days in one data center", store.AssetFilter{ExpiresBefore: within(30), DataCenter: "dc7"}},
		{"30 days on one platform", store.AssetFilter{ExpiresBefore: within(30), HostPlatform: "panos"}},
		{"30 days from one origin", store.AssetFilter{ExpiresBefore: within(30), Origin: "netbox"}},
		{"30 days at one IP address", store.AssetFilter{ExpiresBefore: within(30), IPAddress: "10.1.2.3"}},
		{"30 days for one system", store.AssetFilter{ExpiresBefore: within(30), SystemName: "dev0012345"}},
		{"120 days in one data center", store.AssetFilter{ExpiresBefore: within(120), DataCenter: "dc7"}},
		{"120 days from one origin", store.AssetFilter{ExpiresBefore: within(120), Origin: "netbox"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.filter.Limit = 100
			benchList(b, s, c.filter)
		})
	}
}

// BenchmarkListAssetsAtRandomPages100k pages through the assets expiring
// within 120 days from cursors spread over all 100,000 names, so each page
// reads rows the previous ones did not: the database file, not a
// connection's page cache, serves most of them.
func BenchmarkListAssetsAtRandomPages100k(b *testing.B) {
	s := openInventory(b, 100_000)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	cutoff := benchNow.Add(120 * 24 * time.Hour)
	for b.Loop() {
		f := store.AssetFilter{ExpiresBefore: &cutoff, After: fmt.Sprintf("dev%07d", rng.IntN(100_000)), Limit: 100}
		if _, err := s.ListAssets(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListAssets100k measures one page of 100 assets over 100,000
// assets for each filter without an expiry cutoff.
func BenchmarkListAssets100k(b *testing.B) {
	s := openInventory(b, 100_000)
	cases := []struct {
		name   string
		filter store.AssetFilter
	}{
		{"no filter", store.AssetFilter{}},
		{"no filter, a later page", store.AssetFilter{After: "dev0050000"}},
		{"one data center", store.AssetFilter{DataCenter: "dc7"}},
		{"one platform", store.AssetFilter{HostPlatform: "panos"}},
		{"one origin", store.AssetFilter{Origin: "netbox"}},
		{"one IP address", store.AssetFilter{IPAddress: "10.1.2.3"}},
		{"one data center and platform", store.AssetFilter{DataCenter: "dc7", HostPlatform: "panos"}},
		{"a platform nobody runs in one data center", store.AssetFilter{DataCenter: "dc7", HostPlatform: "none"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.filter.Limit = 100
			benchList(b, s, c.filter)
		})
	}
}

// benchList lists f over and over and reports assets per page and the 99th
// percentile of the durations.
func benchList(b *testing.B, s *Store, f store.AssetFilter) {
	ctx := context.Background()
	var durations []time.Duration
	var page int
	for b.Loop() {
		start := time.Now()
		assets, err := s.ListAssets(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
		page = len(assets)
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(page), "assets/op")
}

// BenchmarkUpdateAsset100k measures one write of an asset, each committed
// on its own as the API writes them, in an inventory of 100,000: the cost
// the packed row (SQLite builds it on every write) adds to writing.
func BenchmarkUpdateAsset100k(b *testing.B) {
	s := openInventory(b, 100_000)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	// The same few assets over and over: the kept inventory is written to,
	// and its shape must not drift between runs.
	var assets []asset.Asset
	for i := range 16 {
		a, err := s.GetAsset(ctx, fmt.Sprintf("dev%07d", i*6151))
		if err != nil {
			b.Fatal(err)
		}
		assets = append(assets, a)
	}
	i := 0
	for b.Loop() {
		a := assets[i%len(assets)]
		a.FailureCount = rng.IntN(3)
		if err := s.UpdateAsset(ctx, a); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
