package scheduler_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// expiryChecker counts the checks it is asked for and tells of told
// certificates each time, or fails with err.
type expiryChecker struct {
	checks, told int
	err          error
}

func (c *expiryChecker) CheckExpiry(context.Context) (int, error) {
	c.checks++
	return c.told, c.err
}

func TestAScanChecksExpiries(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateAsset(ctx, asset.Asset{SystemName: "new.example.com", CommonName: "new.example.com", HostPlatform: "linux"}); err != nil {
		t.Fatal(err)
	}
	for _, checker := range []*expiryChecker{{told: 2}, {err: errors.New("store unavailable")}} {
		q := &enqueuer{queued: map[string]string{}}
		s := &scheduler.Scheduler{Store: st, Creator: creator{st: st}, Enqueuer: q, Expiry: checker}
		res, err := s.ScanOnce(ctx)
		if err != nil {
			t.Fatalf("scan with an expiry check failing with %v: %v; want the scan itself to succeed", checker.err, err)
		}
		if checker.checks != 1 || res.Expiring != checker.told {
			t.Errorf("expiry checked %d times, %d told; want once, %d", checker.checks, res.Expiring, checker.told)
		}
	}
}
