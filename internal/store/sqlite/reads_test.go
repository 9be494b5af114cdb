package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// TestReadsSeeEveryCommittedWrite writes on the read-write connection and
// reads on the read-only ones, in the writing goroutine and in another one
// told after each write: every read sees the write before it.
func TestReadsSeeEveryCommittedWrite(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const writes = 50

	written := make(chan int)
	errs := make(chan error, writes)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range written {
			name := fmt.Sprintf("dev%03d", i)
			a, err := s.GetAsset(ctx, name)
			if err == nil && a.Port != i {
				err = fmt.Errorf("%s has port %d, want %d", name, a.Port, i)
			}
			errs <- err
		}
	})

	for i := range writes {
		name := fmt.Sprintf("dev%03d", i)
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: name, Port: i}))
		if _, err := s.GetAsset(ctx, name); err != nil {
			t.Fatalf("the writer cannot read what it wrote: %v", err)
		}
		n, err := s.CountAssets(ctx, store.AssetFilter{})
		must(t, err)
		if n != i+1 {
			t.Fatalf("CountAssets = %d right after write %d, want %d", n, i+1, i+1)
		}
		written <- i
	}
	close(written)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("another goroutine missed a write: %v", err)
		}
	}

	must(t, s.UpdateAsset(ctx, asset.Asset{SystemName: "dev000", Port: 443}))
	if a, err := s.GetAsset(ctx, "dev000"); err != nil || a.Port != 443 {
		t.Errorf("after an update, got port %d, %v; want 443", a.Port, err)
	}
	must(t, s.DeleteAsset(ctx, "dev000"))
	if _, err := s.GetAsset(ctx, "dev000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after a delete, got %v; want store.ErrNotFound", err)
	}
	must(t, s.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("x"), Role: store.RoleAdmin}))
	if _, err := s.GetUser(ctx, "alice"); err != nil {
		t.Errorf("a new user is not found: %v", err)
	}
	must(t, s.PutSecret(ctx, "k", []byte("v2")))
	if v, err := s.GetSecret(ctx, "k"); err != nil || string(v) != "v2" {
		t.Errorf("got secret %q, %v; want v2", v, err)
	}
}

// TestReadsGoOnWhileTheWriterIsBusy holds the only read-write connection in
// a transaction, as River does while it fetches jobs: reads still answer,
// from the last committed state.
func TestReadsGoOnWhileTheWriterIsBusy(t *testing.T) {
	// A guard against a hang, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openTemp(t)
	must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))

	tx, err := s.DB().BeginTx(ctx, nil)
	must(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO assets (system_name) VALUES ('fw2')`)
	must(t, err)

	if _, err := s.GetAsset(ctx, "fw1"); err != nil {
		t.Errorf("GetAsset while the writer is busy: %v", err)
	}
	assets, err := s.ListAssets(ctx, store.AssetFilter{})
	must(t, err)
	if len(assets) != 1 {
		t.Errorf("ListAssets while the writer is busy found %d assets, want the 1 committed", len(assets))
	}

	must(t, tx.Commit())
	if _, err := s.GetAsset(ctx, "fw2"); err != nil {
		t.Errorf("GetAsset after the commit: %v", err)
	}
}

func TestReadConnectionsRefuseWrites(t *testing.T) {
	s := openTemp(t)
	_, err := s.read.ExecContext(context.Background(), `INSERT INTO assets (system_name) VALUES ('fw1')`)
	if err == nil {
		t.Fatal("a read-only connection wrote a row")
	}
}

func TestReadsAfterCloseFail(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "ottr.db"))
	must(t, err)
	must(t, s.Close())
	if _, err := s.GetAsset(ctx, "fw1"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAsset after Close = %v, want an error other than not found", err)
	}
	if _, err := s.ListAssets(ctx, store.AssetFilter{}); err == nil {
		t.Error("ListAssets after Close succeeded")
	}
}

// TestListingNoticesHowManyAssetsExpire checks that the remembered
// threshold between collecting and walking follows this store's writes at
// once, and another process's writes within a second. Either way the
// listing is right (TestListingAgreesWithAFullScan); only its speed
// depends on this.
func TestListingNoticesHowManyAssetsExpire(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ottr.db")
	var mu sync.Mutex
	now := planNow
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s, err := Open(ctx, path, WithClock(clock))
	must(t, err)
	defer s.Close()
	other, err := Open(ctx, path, WithClock(clock))
	must(t, err)
	defer other.Close()

	cutoff := planNow.Add(24 * 365 * time.Hour)
	collects := func(s *Store) bool {
		t.Helper()
		ix, err := s.chooseIndex(ctx, store.AssetFilter{ExpiresBefore: &cutoff})
		must(t, err)
		return ix.fewExpiring
	}
	if !collects(s) || !collects(other) {
		t.Fatal("an empty inventory is walked")
	}

	must(t, s.ImportAssets(ctx, listingInventory(fewExpiring)))
	if collects(s) {
		t.Errorf("after importing %d expiring assets, the importing store still collects them", fewExpiring)
	}

	_, err = other.DB().ExecContext(ctx, `DELETE FROM assets`)
	must(t, err)
	if collects(s) {
		t.Error("another store's delete was noticed before a second passed")
	}
	mu.Lock()
	now = now.Add(expiringThresholdMaxAge)
	mu.Unlock()
	if !collects(s) {
		t.Error("another store's delete was not noticed after a second")
	}
}
