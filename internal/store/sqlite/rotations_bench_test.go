package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// BenchmarkReadsBesideWrites measures the reads a rotation makes (an asset,
// a rotation with its journal and log) over 10,000 assets when another
// commit comes between them, as in a wave of rotations: each operation
// is a journal write, then an asset read and a rotation read. In WAL mode a read-only connection that maps the file unmaps it
// whenever another connection has committed since its last read, so the
// map is paid for again on almost every read.
func BenchmarkReadsBesideWrites(b *testing.B) {
	path := filepath.Join(b.TempDir(), "ottr.db")
	if err := buildInventory(path, 10_000); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mmap int64
	}{{"mapped", readMmapSize}, {"not mapped", 0}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, path, func(o *options) { o.lookupMmapSize = c.mmap })
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rots := make([]store.Rotation, 100)
			for i := range rots {
				if rots[i], err = s.CreateRotation(ctx, store.Rotation{Asset: fmt.Sprintf("dev%07d", i), Trigger: store.TriggerSchedule, State: store.StateSucceeded}); err != nil {
					b.Fatal(err)
				}
				if err := s.AppendLog(ctx, rots[i].ID, store.LogLine{Time: benchNow, Level: "info", Message: "started"}); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(5, 6))
			cpu := cpuTime()
			for n := 0; b.Loop(); n++ {
				e := store.JournalEntry{Step: "preflight", StartedAt: benchNow, FinishedAt: benchNow}
				if err := s.AppendJournal(ctx, rots[n%len(rots)].ID, e); err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetAsset(ctx, fmt.Sprintf("dev%07d", rng.IntN(10_000))); err != nil {
					b.Fatal(err)
				}
				if _, err := s.GetRotation(ctx, rots[rng.IntN(len(rots))].ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
