package secret

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/store"
)

// plaintextSecret is what every test seals; no error may ever contain it.
const plaintextSecret = "hunter2-Sup3rS3cret!"

func testKey(t *testing.T, fill byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{fill}, KeySize)
}

func testBox(t *testing.T, fill byte) *Box {
	t.Helper()
	b, err := NewBox(testKey(t, fill))
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

// assertNoLeak fails if err's message contains any of the given secrets.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

func TestBoxOpensWhatItSealed(t *testing.T) {
	box := testBox(t, 1)
	for _, plaintext := range [][]byte{nil, []byte(""), []byte(plaintextSecret), bytes.Repeat([]byte{0xff}, 4096)} {
		sealed := box.Seal(plaintext, []byte("device/fw1"))
		if bytes.Contains(sealed, []byte(plaintextSecret)) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := box.Open(sealed, []byte("device/fw1"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Errorf("Open = %q, want %q", got, plaintext)
		}
	}
}

func TestBoxSealsTheSameValueDifferentlyEachTime(t *testing.T) {
	box := testBox(t, 1)
	a := box.Seal([]byte(plaintextSecret), nil)
	b := box.Seal([]byte(plaintextSecret), nil)
	if bytes.Equal(a, b) {
		t.Error("two seals of one value are identical: the nonce is not random")
	}
}

func TestBoxRefusesWhatItShouldNotOpen(t *testing.T) {
	box := testBox(t, 1)
	sealed := box.Seal([]byte(plaintextSecret), []byte("device/fw1"))
	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name       string
		box        *Box
		ciphertext []byte
		ad         string
	}{
		{"a flipped byte in the ciphertext is detected", box, flip(len(sealed) / 2), "device/fw1"},
		{"a flipped byte in the tag is detected", box, flip(len(sealed) - 1), "device/fw1"},
		{"a flipped byte in the nonce is detected", box, flip(2), "device/fw1"},
		{"a changed version byte is refused", box, flip(0), "device/fw1"},
		{"a value moved to another name does not open", box, sealed, "device/fw2"},
		{"a value sealed under another key does not open", testBox(t, 2), sealed, "device/fw1"},
		{"a truncated value is refused", box, sealed[:10], "device/fw1"},
		{"an empty value is refused", box, nil, "device/fw1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.ciphertext, []byte(tt.ad))
			if err == nil {
				t.Fatalf("Open succeeded with %q", got)
			}
			assertNoLeak(t, err, plaintextSecret)
		})
	}
}

func TestNewBoxRefusesAKeyOfTheWrongLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox accepted a %d-byte key", n)
		}
	}
}

// memBackend is a Backend kept in memory, reporting store.ErrNotFound like
// the real store.
type memBackend struct {
	mu     sync.Mutex
	values map[string][]byte
}

func (m *memBackend) PutSecret(_ context.Context, name string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values == nil {
		m.values = map[string][]byte{}
	}
	m.values[name] = bytes.Clone(v)
	return nil
}

func (m *memBackend) CreateSecret(_ context.Context, name string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.values[name]; ok {
		return fmt.Errorf("mem: create secret %q: %w", name, store.ErrExists)
	}
	if m.values == nil {
		m.values = map[string][]byte{}
	}
	m.values[name] = bytes.Clone(v)
	return nil
}

func (m *memBackend) GetSecret(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[name]
	if !ok {
		return nil, fmt.Errorf("mem: get secret %q: %w", name, store.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

func TestVaultReturnsWhatWasPut(t *testing.T) {
	ctx := context.Background()
	backend := &memBackend{}
	vault := NewVault(testBox(t, 1), backend)
	if err := vault.Put(ctx, "credentials/default", []byte(plaintextSecret)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if bytes.Contains(backend.values["credentials/default"], []byte(plaintextSecret)) {
		t.Fatal("the backend holds the plaintext")
	}
	got, err := vault.Get(ctx, "credentials/default")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(got) != plaintextSecret {
		t.Errorf("Get = %q, want %q", got, plaintextSecret)
	}
}

func TestVaultReportsAMissingNameAsNotFound(t *testing.T) {
	vault := NewVault(testBox(t, 1), &memBackend{})
	_, err := vault.Get(context.Background(), "credentials/nope")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get = %v, want store.ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), "credentials/nope") {
		t.Errorf("error %q does not name the secret", err)
	}
}

func TestVaultRefusesAValueSwappedBetweenNames(t *testing.T) {
	ctx := context.Background()
	backend := &memBackend{}
	vault := NewVault(testBox(t, 1), backend)
	if err := vault.Put(ctx, "credentials/admin", []byte(plaintextSecret)); err != nil {
		t.Fatal(err)
	}
	if err := vault.Put(ctx, "credentials/readonly", []byte("other")); err != nil {
		t.Fatal(err)
	}
	// Someone with write access to the database copies the admin value over
	// the read-only one.
	backend.values["credentials/readonly"] = backend.values["credentials/admin"]
	_, err := vault.Get(ctx, "credentials/readonly")
	if err == nil {
		t.Fatal("Get opened a value moved from another name")
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Errorf("a swapped value is reported as not found: %v", err)
	}
	assertNoLeak(t, err, plaintextSecret)
}

func TestVaultUnderAnotherKeyCannotRead(t *testing.T) {
	ctx := context.Background()
	backend := &memBackend{}
	if err := NewVault(testBox(t, 1), backend).Put(ctx, "ca/eab", []byte(plaintextSecret)); err != nil {
		t.Fatal(err)
	}
	_, err := NewVault(testBox(t, 2), backend).Get(ctx, "ca/eab")
	if err == nil {
		t.Fatal("a vault with another key read the secret")
	}
	assertNoLeak(t, err, plaintextSecret)
}

func TestLoadOrCreateKeyCreatesAPrivateKeyFileAndReadsItBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "master.key")
	first, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("LoadOrCreateKey: %v", err)
	}
	if len(first) != KeySize {
		t.Fatalf("key is %d bytes, want %d", len(first), KeySize)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", perm)
	}
	second, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("second LoadOrCreateKey: %v", err)
	}
	if !bytes.Equal(first, second) {
		t.Error("a second load returned a different key")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".master-key-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

func TestLoadOrCreateKeyGivesConcurrentCallersOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const callers = 8
	keys := make([][]byte, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKey(path) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("caller %d got a different key", i)
		}
	}
}

func TestLoadOrCreateKeyRefusesBadKeyFiles(t *testing.T) {
	keyHex := hex.EncodeToString(testKey(t, 7))
	tests := []struct {
		name     string
		contents string
		mode     fs.FileMode
		wantErr  string
	}{
		{"a group-readable file is refused", keyHex, 0o640, "chmod 600"},
		{"a world-readable file is refused", keyHex, 0o604, "chmod 600"},
		{"a key that is too short is refused", keyHex[:32], 0o600, "16-byte key"},
		{"a key that is too long is refused", keyHex + "00", 0o600, "33-byte key"},
		{"a file that is not hex is refused", strings.Repeat("zz", KeySize), 0o600, "hex"},
		{"an empty file is refused", "", 0o600, "0-byte key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(tt.contents), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // umask may have narrowed it
				t.Fatal(err)
			}
			_, err := LoadOrCreateKey(path)
			if err == nil {
				t.Fatal("LoadOrCreateKey accepted the file")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			assertNoLeak(t, err, keyHex, tt.contents)
			// The file must be left alone: replacing it would lose every secret.
			after, _ := os.ReadFile(path)
			if string(after) != tt.contents {
				t.Error("the refused key file was changed")
			}
		})
	}
}

func TestLoadOrCreateKeyAcceptsATrailingNewline(t *testing.T) {
	want := testKey(t, 9)
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(want)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("LoadOrCreateKey: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Error("key read back differs from the file's")
	}
}

func TestKeyFromEnv(t *testing.T) {
	key := testKey(t, 0xab)
	tests := []struct {
		name  string
		value string
		ok    bool
	}{
		{"hex is accepted", hex.EncodeToString(key), true},
		{"upper-case hex is accepted", strings.ToUpper(hex.EncodeToString(key)), true},
		{"standard base64 is accepted", base64.StdEncoding.EncodeToString(key), true},
		{"unpadded URL base64 is accepted", base64.RawURLEncoding.EncodeToString(key), true},
		{"surrounding white space is ignored", "  " + hex.EncodeToString(key) + "\n", true},
		{"an empty value is refused", "", false},
		{"a 16-byte hex key is refused", hex.EncodeToString(key[:16]), false},
		{"a 31-byte base64 key is refused", base64.StdEncoding.EncodeToString(key[:31]), false},
		{"a passphrase is refused", plaintextSecret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyFromEnv(tt.value)
			if !tt.ok {
				if err == nil {
					t.Fatal("KeyFromEnv accepted the value")
				}
				assertNoLeak(t, err, strings.TrimSpace(tt.value))
				return
			}
			if err != nil {
				t.Fatalf("KeyFromEnv: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("KeyFromEnv = %x, want %x", got, key)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	env := func(name string) (string, bool) {
		switch name {
		case "OTTR_PASSWORD":
			return plaintextSecret, true
		case "OTTR_EMPTY":
			return "", true
		}
		return "", false
	}
	files := map[string]string{
		"/run/secrets/pw":      plaintextSecret + "\n",
		"/run/secrets/crlf":    plaintextSecret + "\r\n",
		"/run/secrets/two":     plaintextSecret + "\n\n",
		"/run/secrets/bare":    plaintextSecret,
		"/run/secrets/pem-key": "-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n",
	}
	readFile := func(path string) ([]byte, error) {
		v, ok := files[path]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
		return []byte(v), nil
	}
	tests := []struct {
		name    string
		ref     string
		want    string
		wantErr string
	}{
		{"an env reference reads the variable", "env:OTTR_PASSWORD", plaintextSecret, ""},
		{"an unset variable is an error naming it", "env:OTTR_MISSING", "", "OTTR_MISSING is not set"},
		{"an empty variable is an error naming it", "env:OTTR_EMPTY", "", "OTTR_EMPTY is empty"},
		{"an env reference without a name is an error", "env:", "", "names no environment variable"},
		{"a file reference drops one trailing newline", "file:/run/secrets/pw", plaintextSecret, ""},
		{"a file reference drops one trailing CRLF", "file:/run/secrets/crlf", plaintextSecret, ""},
		{"a file reference keeps all but the last newline", "file:/run/secrets/two", plaintextSecret + "\n", ""},
		{"a file without a newline is read whole", "file:/run/secrets/bare", plaintextSecret, ""},
		{"a multi-line file keeps its inner newlines", "file:/run/secrets/pem-key", "-----BEGIN KEY-----\nAAAA\n-----END KEY-----", ""},
		{"a missing file is an error naming it", "file:/run/secrets/nope", "", "/run/secrets/nope"},
		{"a file reference without a path is an error", "file:", "", "names no file"},
		{"anything else is a literal", plaintextSecret, plaintextSecret, ""},
		{"an unknown prefix is a literal", "s3:bucket/x", "s3:bucket/x", ""},
		{"a store reference without the store set up is an error naming it", "vault:secret/x#k", "", "secret vault:secret/x#k: vault references are not set up"},
	}
	resolver := NewResolver(ResolverOptions{Env: env, ReadFile: readFile})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolver.Resolve(tt.ref)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Resolve(%q) = %q, want an error", tt.ref, got)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				assertNoLeak(t, err, plaintextSecret)
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.ref, err)
			}
			if got != tt.want {
				t.Errorf("Resolve(%q) = %q, want %q", tt.ref, got, tt.want)
			}
		})
	}
}

func TestResolveReadsARealFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(path, []byte(plaintextSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := NewResolver(ResolverOptions{}).Resolve("file:" + path)
	if err != nil {
		t.Fatal(err)
	}
	if got != plaintextSecret {
		t.Errorf("Resolve = %q, want %q", got, plaintextSecret)
	}
}

func TestLoadKeyNeverCreatesOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "openssl rand -hex 32 > "+path) {
		t.Fatalf("LoadKey of a missing file = %v, want an error saying how to create it", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("LoadKey created %s", path)
	}
	want, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadKey(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("LoadKey = %x, %v; want the existing key", got, err)
	}
}
