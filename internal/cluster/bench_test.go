package cluster_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/testenv"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

// BenchmarkWaveOnPostgres rotates a lab fleet (OTTR_BENCH_DEVICES, default
// 2000) through ottr processes sharing PostgreSQL: serve plus one worker,
// then serve plus three, each worker on both data-center queues. It reports
// rotations per second of the whole wave, from the processes' start to the
// last recorded rotation. One wave per sub-benchmark, whatever b.N is:
//
//	go test -run '^$' -bench WaveOnPostgres -benchtime 1x -timeout 60m ./internal/cluster/
func BenchmarkWaveOnPostgres(b *testing.B) {
	testenv.SkipInShort(b, testenv.Cluster)
	devices := 2000
	if v, err := strconv.Atoi(os.Getenv("OTTR_BENCH_DEVICES")); err == nil && v > 0 {
		devices = v
	}
	ctx := context.Background()
	pg := pgtest.Start(b)
	l, err := lab.Start(ctx, lab.Options{Devices: devices, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for _, workers := range []int{1, 3} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			for range b.N {
				rate := wave(b, l, pg.NewDatabase(b), workers)
				b.ReportMetric(rate, "rotations/s")
			}
		})
	}
}

// wave seeds a fresh database with the lab's assets (all due), runs serve
// and the workers until every asset has rotated, and returns the rate.
func wave(b *testing.B, l *lab.Lab, databaseURL string, workers int) float64 {
	b.Helper()
	ctx := context.Background()
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := secret.LoadOrCreateKey(cfg.MasterKeyFile); err != nil {
		b.Fatal(err)
	}
	cfg.Database = databaseURL
	seed, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, a := range l.Assets {
		if err := seed.Store.CreateAsset(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	if err := seed.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	seed.Close()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)

	b.ResetTimer()
	began := time.Now()
	common := []string{"-c", l.ConfigPath, "--database", "env:OTTR_DATABASE_URL"}
	procs := []*process{start(b, "serve", databaseURL, append(common, "serve", "--listen", freeAddr(b))...)}
	for i := range workers {
		procs = append(procs, start(b, "worker "+strconv.Itoa(i+1), databaseURL, append(common, "worker", "--queue", "lab1", "--queue", "lab2")...))
	}
	deadline := began.Add(45 * time.Minute)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM assets WHERE last_rotation IS NOT NULL`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == len(l.Assets) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d rotated after 45 minutes", n, len(l.Assets))
		}
		time.Sleep(250 * time.Millisecond)
	}
	took := time.Since(began)
	b.StopTimer()
	for _, p := range procs {
		p.stop(b)
	}
	var failed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM rotations WHERE state <> 'succeeded'`).Scan(&failed); err != nil {
		b.Fatal(err)
	}
	if failed > 0 {
		b.Errorf("%d rotations did not succeed", failed)
	}
	b.Logf("%d devices, %d worker(s): %s, %.1f rotations/s ", len(l.Assets), workers,
		took.Round(time.Millisecond), float64(len(l.Assets))/took.Seconds())
	return float64(len(l.Assets)) / took.Seconds()
}
