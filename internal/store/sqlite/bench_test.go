package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// benchNow is the instant the benchmark inventory is built around.
var benchNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// inventory1M is built at most once per test binary, on the first benchmark
// that asks for it, and removed by TestMain: it takes tens of seconds to
// build, too long to repeat for every -count or every benchmark using it.
// Plain `go test` never builds it.
var inventory1M struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if inventory1M.dir != "" {
		os.RemoveAll(inventory1M.dir)
	}
	os.Exit(code)
}

// benchInventory returns the path of a database holding n assets shaped like
// a fleet of 90-day certificates renewed on schedule at two thirds of their
// lifetime, with about 1.5% of them due now.
func benchInventory(b *testing.B) string {
	b.Helper()
	inventory1M.once.Do(func() {
		inventory1M.dir, inventory1M.err = os.MkdirTemp("", "ottr-bench-")
		if inventory1M.err != nil {
			return
		}
		inventory1M.path = filepath.Join(inventory1M.dir, "ottr.db")
		start := time.Now()
		inventory1M.err = buildInventory(inventory1M.path, 1_000_000)
		b.Logf("built 1,000,000 assets in %s", time.Since(start).Round(time.Second))
	})
	if inventory1M.err != nil {
		b.Fatal(inventory1M.err)
	}
	return inventory1M.path
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
		for i := range n {
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
	path := benchInventory(b)
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var due int
	for b.Loop() {
		assets, err := s.DueAssets(ctx, benchNow, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		due = len(assets)
	}
	if due != 10_000 {
		b.Fatalf("got %d due assets, want a full page of 10000", due)
	}
	b.ReportMetric(float64(due), "assets/op")
}
