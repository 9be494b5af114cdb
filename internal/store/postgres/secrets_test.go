package postgres

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/secret"
)

// A cluster rotates its master key through the store like a single node:
// every value sealed again in one transaction, readable with the new key by
// every process that is given it.
func TestMasterKeyRotationOnPostgres(t *testing.T) {
	ctx := context.Background()
	db := pg.NewDatabase(t)
	path := filepath.Join(t.TempDir(), "master.key")
	// In a cluster the operator makes the key; no process may.
	if _, err := secret.LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	cluster := secret.KeyFile{Path: path}
	first, err := secret.OpenVault(ctx, cluster, openStore(t, db))
	must(t, err)
	values := map[string]string{"acme-account/lets_encrypt": "account key", "api/token-signing-key/ed25519": "signing seed"}
	for name, v := range values {
		must(t, first.Put(ctx, name, []byte(v)))
	}

	rot, err := secret.RotateKey(ctx, path, openStore(t, db), time.Now())
	must(t, err)
	if rot.Resealed != len(values) {
		t.Errorf("resealed %d values, want %d", rot.Resealed, len(values))
	}
	// Another process, started with the new key.
	other, err := secret.OpenVault(ctx, cluster, openStore(t, db))
	must(t, err)
	for name, want := range values {
		got, err := other.Get(ctx, name)
		must(t, err)
		if string(got) != want {
			t.Errorf("%s = %q after the rotation, want %q", name, got, want)
		}
	}
	// A process given the old key is refused, naming the file.
	if _, err := secret.OpenVault(ctx, secret.KeyFile{Path: rot.OldKeyFile}, openStore(t, db)); err == nil {
		t.Error("the old key opened the vault after the rotation")
	}
}
