package secret

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// openStore opens a real SQLite store, the vault's backend in production.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openVault(t *testing.T, file KeyFile, st Storage) *Vault {
	t.Helper()
	v, err := OpenVault(context.Background(), file, st)
	if err != nil {
		t.Fatalf("OpenVault: %v", err)
	}
	return v
}

// files lists the names in dir, so a test can tell that nothing was made.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func writeKey(t *testing.T, path string, key []byte) {
	t.Helper()
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustPut(t *testing.T, v *Vault, name, value string) {
	t.Helper()
	if err := v.Put(context.Background(), name, []byte(value)); err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
}

func assertGet(t *testing.T, v *Vault, name, want string) {
	t.Helper()
	got, err := v.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("Get %s: %v", name, err)
	}
	if string(got) != want {
		t.Errorf("Get %s = %q, want %q", name, got, want)
	}
}

func assertErrorSays(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestOpenVaultMakesTheKeyOnlyWhenItFirstSeals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	v := openVault(t, KeyFile{Path: path, MayCreate: true}, openStore(t))
	if _, err := v.Get(ctx, "acme-account/lab"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing value = %v, want not found", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("opening the vault and reading made %v", got)
	}
	mustPut(t, v, "acme-account/lab", plaintextSecret)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the first seal made no key: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", info.Mode().Perm())
	}
	assertGet(t, v, "acme-account/lab", plaintextSecret)
}

func TestAClusterVaultNeverMakesAKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	v := openVault(t, KeyFile{Path: path}, openStore(t))
	err := v.Put(context.Background(), "api/signing-key", []byte(plaintextSecret))
	assertErrorSays(t, err, path, "openssl rand -hex 32")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cluster vault made %s", path)
	}
}

// Another process may make the key and seal the first value after this
// vault opened without one.
func TestAVaultReadsAKeyMadeAfterItOpened(t *testing.T) {
	st := openStore(t)
	path := filepath.Join(t.TempDir(), "master.key")
	reader := openVault(t, KeyFile{Path: path, MayCreate: true}, st)
	writer := openVault(t, KeyFile{Path: path, MayCreate: true}, st)
	mustPut(t, writer, "acme-account/lab", plaintextSecret)
	assertGet(t, reader, "acme-account/lab", plaintextSecret)
}

func TestOpenVaultRefusesAMissingKeyBesideSealedValues(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	mustPut(t, openVault(t, KeyFile{Path: path, MayCreate: true}, st), "acme-account/lab", plaintextSecret)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for _, mayCreate := range []bool{true, false} {
		_, err := OpenVault(context.Background(), KeyFile{Path: path, MayCreate: mayCreate}, st)
		assertErrorSays(t, err, path, "is missing", "acme-account/lab", "Restore", "docs/deployment.md")
		if got := files(t, dir); len(got) != 0 {
			t.Fatalf("a refused vault made %v", got)
		}
	}
}

func TestOpenVaultRefusesAWrongKey(t *testing.T) {
	st := openStore(t)
	path := filepath.Join(t.TempDir(), "master.key")
	mustPut(t, openVault(t, KeyFile{Path: path, MayCreate: true}, st), "acme-account/lab", plaintextSecret)
	wrong := bytes.Repeat([]byte{7}, KeySize)
	writeKey(t, path, wrong)
	_, err := OpenVault(context.Background(), KeyFile{Path: path, MayCreate: true}, st)
	assertErrorSays(t, err, path, "opens none", "Restore")
	assertNoLeak(t, err, plaintextSecret, hex.EncodeToString(wrong))
	if after, _ := os.ReadFile(path); string(after) != hex.EncodeToString(wrong)+"\n" {
		t.Error("the refused key file was changed")
	}
}

// One altered value is not a wrong key: the vault opens, and the altered
// value fails on its own when read.
func TestOpenVaultAcceptsTheKeyWhenOnlySomeValuesAreAltered(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	path := filepath.Join(t.TempDir(), "master.key")
	mustPut(t, openVault(t, KeyFile{Path: path, MayCreate: true}, st), "good", "one")
	if err := st.PutSecret(ctx, "altered", []byte("not sealed at all")); err != nil {
		t.Fatal(err)
	}
	v := openVault(t, KeyFile{Path: path}, st)
	assertGet(t, v, "good", "one")
	if _, err := v.Get(ctx, "altered"); err == nil {
		t.Error("an altered value opened")
	}
}

func TestRotateKeySealsEveryValueUnderANewKey(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	v := openVault(t, KeyFile{Path: path, MayCreate: true}, st)
	mustPut(t, v, "acme-account/lab", plaintextSecret)
	mustPut(t, v, "api/signing-key", "seed")
	// An operator may have made the key read-only; a rotation keeps that.
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	oldKey, _ := os.ReadFile(path)
	sealedBefore, _ := st.GetSecret(ctx, "acme-account/lab")

	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	rot, err := RotateKey(ctx, path, st, at)
	if err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	if rot.Resealed != 2 {
		t.Errorf("resealed %d values, want 2", rot.Resealed)
	}
	if want := path + ".old-20300506T070809Z"; rot.OldKeyFile != want {
		t.Errorf("old key kept in %s, want %s", rot.OldKeyFile, want)
	}
	if kept, _ := os.ReadFile(rot.OldKeyFile); !bytes.Equal(kept, oldKey) {
		t.Error("the kept file does not hold the old key")
	}
	newKey, _ := os.ReadFile(path)
	if bytes.Equal(newKey, oldKey) {
		t.Fatal("the key file still holds the old key")
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o400 {
		t.Errorf("new key file mode %04o, want the old file's 0400", info.Mode().Perm())
	}
	if sealedAfter, _ := st.GetSecret(ctx, "acme-account/lab"); bytes.Equal(sealedAfter, sealedBefore) {
		t.Error("the stored value was not sealed again")
	}
	if got, want := files(t, dir), []string{"master.key", "master.key.old-20300506T070809Z"}; !slices.Equal(got, want) {
		t.Errorf("files after the rotation %v, want %v", got, want)
	}

	after := openVault(t, KeyFile{Path: path}, st)
	assertGet(t, after, "acme-account/lab", plaintextSecret)
	assertGet(t, after, "api/signing-key", "seed")
	_, err = OpenVault(ctx, KeyFile{Path: rot.OldKeyFile}, st)
	assertErrorSays(t, err, "opens none")

	// A second rotation in the same second keeps both old keys.
	rot2, err := RotateKey(ctx, path, st, at)
	if err != nil {
		t.Fatal(err)
	}
	if rot2.OldKeyFile == rot.OldKeyFile {
		t.Errorf("the second rotation kept its old key in the first one's file %s", rot2.OldKeyFile)
	}
	assertGet(t, openVault(t, KeyFile{Path: path}, st), "acme-account/lab", plaintextSecret)
}

func TestRotateKeyChangesNothingWhenAValueDoesNotOpen(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	mustPut(t, openVault(t, KeyFile{Path: path, MayCreate: true}, st), "good", "one")
	if err := st.PutSecret(ctx, "altered", []byte("not sealed at all")); err != nil {
		t.Fatal(err)
	}
	keyBefore, _ := os.ReadFile(path)
	goodBefore, _ := st.GetSecret(ctx, "good")

	_, err := RotateKey(ctx, path, st, time.Now())
	assertErrorSays(t, err, `"altered"`, "delete it", "nothing was changed")
	if keyAfter, _ := os.ReadFile(path); !bytes.Equal(keyAfter, keyBefore) {
		t.Error("the key file changed")
	}
	if goodAfter, _ := st.GetSecret(ctx, "good"); !bytes.Equal(goodAfter, goodBefore) {
		t.Error("a value was sealed again although the rotation failed")
	}
	if got := files(t, dir); !slices.Equal(got, []string{"master.key"}) {
		t.Errorf("a failed rotation left %v", got)
	}
}

func TestRotateKeyNeedsAKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	_, err := RotateKey(context.Background(), path, openStore(t), time.Now())
	assertErrorSays(t, err, path, "nothing to rotate")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("RotateKey made a key")
	}
}

// lostCommit is a store whose reseal commits but whose caller hears of a
// failure, as when the connection drops during COMMIT.
type lostCommit struct{ *sqlite.Store }

func (s lostCommit) ResealSecrets(ctx context.Context, reseal func(string, []byte) ([]byte, error)) (int, error) {
	if _, err := s.Store.ResealSecrets(ctx, reseal); err != nil {
		return 0, err
	}
	return 0, errors.New("connection lost during commit")
}

func TestAnInterruptedRotationSaysHowToFinish(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	path := filepath.Join(t.TempDir(), "master.key")
	mustPut(t, openVault(t, KeyFile{Path: path, MayCreate: true}, st), "acme-account/lab", plaintextSecret)

	_, err := RotateKey(ctx, path, lostCommit{st}, time.Now())
	assertErrorSays(t, err, "connection lost", path+".new")
	if _, err := os.Stat(path + ".new"); err != nil {
		t.Fatalf("the new key, which the values are sealed under, was not kept: %v", err)
	}
	_, err = OpenVault(ctx, KeyFile{Path: path}, st)
	assertErrorSays(t, err, "mv "+path+".new "+path)

	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	assertGet(t, openVault(t, KeyFile{Path: path}, st), "acme-account/lab", plaintextSecret)
}
