package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// A backup is taken by another process than the one writing (ottr backup
// beside ottr serve): two stores on one file stand for the two.
func TestBackupCopiesTheDatabaseWhileAnotherProcessWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ottr.db")
	server, err := Open(ctx, path)
	must(t, err)
	defer server.Close()
	const before = 200
	assets := make([]asset.Asset, before)
	for i := range assets {
		assets[i] = asset.Asset{SystemName: fmt.Sprintf("fw%04d", i)}
	}
	must(t, server.ImportAssets(ctx, assets))
	must(t, server.PutSecret(ctx, "acme-account/lab", []byte("sealed")))

	tool, err := Open(ctx, path)
	must(t, err)
	defer tool.Close()

	// The server goes on writing during the backup.
	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if err := server.CreateAsset(ctx, asset.Asset{SystemName: fmt.Sprintf("late%05d", i)}); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	})
	for written.Load() == 0 && !t.Failed() {
		// Poll until the writer is under way.
		runtime.Gosched()
	}
	withUmask(t, 0)
	backup := filepath.Join(dir, "backups", "ottr-backup.db")
	must(t, os.Mkdir(filepath.Dir(backup), 0o700))
	must(t, tool.Backup(ctx, backup, false))
	stop.Store(true)
	wg.Wait()

	if got := perm(t, backup); got != 0o600 {
		t.Errorf("backup has mode %04o, want 0600", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(backup)); len(entries) != 1 {
		t.Errorf("the backup directory holds %d files, want the backup alone", len(entries))
	}
	restored, err := Open(ctx, backup)
	must(t, err)
	defer restored.Close()
	var check string
	must(t, restored.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check))
	if check != "ok" {
		t.Errorf("integrity_check of the backup: %s", check)
	}
	n, err := restored.CountAssets(ctx, store.AssetFilter{})
	must(t, err)
	if n < before || n > before+int(written.Load()) {
		t.Errorf("the backup holds %d assets, want between %d and %d", n, before, before+int(written.Load()))
	}
	if v, err := restored.GetSecret(ctx, "acme-account/lab"); err != nil || string(v) != "sealed" {
		t.Errorf("the backup's secret: %q, %v", v, err)
	}
}

func TestBackupRefusesToReplaceAFileUnlessAsked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTemp(t)
	must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
	existing := filepath.Join(dir, "ottr-backup.db")
	must(t, os.WriteFile(existing, []byte("an earlier backup"), 0o600))

	err := s.Backup(ctx, existing, false)
	if !errors.Is(err, ErrBackupExists) || !strings.Contains(err.Error(), existing) {
		t.Fatalf("Backup over an existing file = %v, want ErrBackupExists naming it", err)
	}
	if data, _ := os.ReadFile(existing); string(data) != "an earlier backup" {
		t.Error("the existing file was changed")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("a refused backup left files: %d in the directory", len(entries))
	}

	must(t, s.Backup(ctx, existing, true))
	replaced, err := Open(ctx, existing)
	must(t, err)
	defer replaced.Close()
	if _, err := replaced.GetAsset(ctx, "fw1"); err != nil {
		t.Errorf("the replaced backup lacks the asset: %v", err)
	}
}

func TestBackupNeverReplacesTheDatabase(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
	for _, target := range []string{s.path, s.path + "-wal"} {
		before, _ := os.ReadFile(target)
		if err := s.Backup(ctx, target, true); err == nil || !strings.Contains(err.Error(), "the database itself") {
			t.Errorf("Backup onto %s = %v, want a refusal", filepath.Base(target), err)
		}
		if after, _ := os.ReadFile(target); !slices.Equal(before, after) {
			t.Errorf("%s changed", filepath.Base(target))
		}
	}
}
