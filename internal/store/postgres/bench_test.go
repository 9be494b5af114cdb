package postgres

import (
	"context"
	"testing"
	"time"
)

// fillInventory inserts n assets shaped like a fleet of 90-day certificates
// renewed at two thirds of their lifetime, spread evenly, so about 1.5% are
// due at planNow; every 50th is paused. It writes in SQL, not through
// ImportAssets: a million assets would take minutes that way.
func fillInventory(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	_, err := s.Pool().Exec(ctx, `INSERT INTO assets
		(system_name, data_center, certificate_expiration, renewal_time, paused)
		SELECT format('dev%s', lpad(i::text, 7, '0')), format('dc%s', i % 5),
		       $1::timestamptz + (i % 5400) * interval '24 minutes' + interval '29 days',
		       $1::timestamptz + (i % 5400) * interval '24 minutes' - interval '1 day',
		       i % 50 = 0
		FROM generate_series(1, $2::int) AS i`, planNow, n)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `ANALYZE assets`); err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d assets in %s", n, time.Since(start).Round(time.Millisecond))
}

// BenchmarkDueAssets measures the scheduler's scan: one page of 1,000 due
// assets out of inventories of growing size. The index keeps its cost flat.
func BenchmarkDueAssets(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"100k", 100_000}, {"1M", 1_000_000}} {
		b.Run(size.name, func(b *testing.B) {
			s := openStore(b, pg.NewDatabase(b))
			fillInventory(b, s, size.n)
			ctx := context.Background()
			for b.Loop() {
				due, err := s.DueAssets(ctx, planNow, 1000)
				if err != nil {
					b.Fatal(err)
				}
				if len(due) != 1000 {
					b.Fatalf("got %d due assets, want 1000", len(due))
				}
			}
		})
	}
}
