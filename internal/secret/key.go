package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeySize is the length in bytes of a master key (AES-256).
const KeySize = 32

// LoadOrCreateKey returns the master key kept hex-encoded in the file at
// path. If the file does not exist it creates it, and any missing parent
// directories (0700), with a fresh random key and mode 0600.
//
// It refuses a key file that group or others may read or write: the key
// protects every credential in the database, and a readable key file makes
// the encryption pointless. It also refuses a file that does not hold
// exactly KeySize hex-encoded bytes, rather than silently making a new key
// that could not open the existing secrets.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := createKeyFile(path); err != nil {
		return nil, err
	}
	return readKeyFile(path)
}

// LoadKey reads the key file at path, which must exist: in a cluster every
// process must use the same key, so none may make up its own.
func LoadKey(path string) ([]byte, error) {
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secret: the master key file %s is missing; every process of a cluster must read the same key: "+
			"create it once (umask 077; openssl rand -hex 32 > %s) and give each process a copy", path, path)
	}
	return key, err
}

// readKeyFile reads and checks an existing key file.
func readKeyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("secret: cannot reach the master key file %s (%w): run ottr as the user that owns it", path, fs.ErrPermission)
	}
	if err != nil {
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("secret: key file %s is not a regular file", path)
	}
	// Windows has no POSIX permission bits to check.
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret: key file %s has mode %04o: group and others must have no access; run chmod 600 %s",
			path, info.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("secret: cannot read the master key file %s (%w): run ottr as the user that owns it, or chown that user %s", path, fs.ErrPermission, path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret: key file: %w", err)
	}
	text := strings.TrimSpace(string(data))
	// The decoder's own error would quote the offending character, which is
	// part of the key: report only what is wrong with the shape.
	key, err := hex.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s does not hold a hex-encoded key", path)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key file %s holds a %d-byte key, want %d bytes (%d hex characters)",
			path, len(key), KeySize, 2*KeySize)
	}
	return key, nil
}

// createKeyFile writes a new random key to path without ever exposing a
// partly written file: it writes a temporary file and hard-links it into
// place, which fails if another process created the key first (that key
// then wins and is the one read back).
func createKeyFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secret: create key file: %w", err)
	}
	tmp, err := writeTempKey(path, newKey(), nil)
	if err != nil {
		return fmt.Errorf("secret: create key file: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("secret: create key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// newKey returns a fresh random master key. crypto/rand.Read never fails.
func newKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key)
	return key
}

// writeTempKey writes key, hex-encoded, to a new temporary file beside
// path, synced to disk, and returns its name. The file has mode 0600, or
// like's mode and owner when like is given, so a key that replaces
// another keeps who may read it.
func writeTempKey(path string, key []byte, like fs.FileInfo) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master-key-*")
	if err != nil {
		return "", err
	}
	err = func() error {
		perm := fs.FileMode(0o600)
		if like != nil {
			// Owner access only: readKeyFile refuses anything else.
			perm = like.Mode().Perm() & 0o700
			if err := chownLike(tmp, like); err != nil {
				return err
			}
		}
		if _, err := tmp.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			return err
		}
		if err := tmp.Chmod(perm); err != nil {
			return err
		}
		return tmp.Sync()
	}()
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// syncDir makes a file just created or renamed in dir survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	defer d.Close()
	// Some systems cannot sync a directory; the rename is then as durable
	// as they make it.
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) && runtime.GOOS != "windows" {
		return fmt.Errorf("secret: sync %s: %w", dir, err)
	}
	return nil
}

// KeyFromEnv decodes a master key given in an environment variable's value:
// KeySize bytes, hex or base64 (standard or URL alphabet, padded or not).
// Surrounding white space is ignored. The error never repeats the value.
func KeyFromEnv(value string) ([]byte, error) {
	text := strings.TrimSpace(value)
	if text == "" {
		return nil, errors.New("secret: master key is empty")
	}
	if len(text) == 2*KeySize {
		if key, err := hex.DecodeString(text); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if key, err := enc.DecodeString(text); err == nil && len(key) == KeySize {
			return key, nil
		}
	}
	return nil, fmt.Errorf("secret: master key must be %d bytes encoded as hex (%d characters) or base64 (%d characters); got %d characters that are neither",
		KeySize, 2*KeySize, base64.StdEncoding.EncodedLen(KeySize), len(text))
}
