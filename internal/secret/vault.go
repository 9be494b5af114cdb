package secret

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/ottr-go/ottr/internal/store"
)

// Backend keeps opaque, already sealed values by name. store.Store
// implements it. GetSecret reports a missing name with an error wrapping
// store.ErrNotFound.
type Backend interface {
	PutSecret(ctx context.Context, name string, value []byte) error
	CreateSecret(ctx context.Context, name string, value []byte) error
	GetSecret(ctx context.Context, name string) ([]byte, error)
}

// Storage is a Backend that can also list its values and rewrite them all
// at once, as store.Store does: OpenVault checks the key against what it
// holds, and RotateKey seals it all again.
type Storage interface {
	Backend
	SecretNames(ctx context.Context) ([]string, error)
	ResealSecrets(ctx context.Context, reseal func(name string, value []byte) ([]byte, error)) (int, error)
}

// KeyFile is where a vault's master key is kept.
type KeyFile struct {
	// Path is the file holding the key, hex-encoded.
	Path string
	// MayCreate lets the vault create the key, when there is none yet,
	// the first time it seals a value. A cluster's processes share one
	// key the operator made, so none of them may make its own.
	MayCreate bool
}

// Vault stores secrets in a Backend, sealed by a Box. Each value is sealed
// with its name as additional data, so a sealed value copied to another
// name does not open. It is safe for concurrent use if the Backend is.
type Vault struct {
	backend Backend
	// file is where the key comes from while box is nil.
	file KeyFile

	mu  sync.Mutex
	box *Box
}

// NewVault returns a Vault sealing with box and keeping values in backend.
func NewVault(box *Box, backend Backend) *Vault {
	return &Vault{box: box, backend: backend}
}

// Put seals plaintext and stores it under name, replacing any earlier value.
func (v *Vault) Put(ctx context.Context, name string, plaintext []byte) error {
	if name == "" {
		return errors.New("secret: put: empty name")
	}
	box, err := v.sealingBox()
	if err != nil {
		return fmt.Errorf("secret: put %q: %w", name, err)
	}
	if err := v.backend.PutSecret(ctx, name, box.Seal(plaintext, []byte(name))); err != nil {
		return fmt.Errorf("secret: put %q: %w", name, err)
	}
	return nil
}

// Create seals plaintext and stores it under name unless a value is stored
// there already, which is an error wrapping store.ErrExists.
func (v *Vault) Create(ctx context.Context, name string, plaintext []byte) error {
	if name == "" {
		return errors.New("secret: create: empty name")
	}
	box, err := v.sealingBox()
	if err != nil {
		return fmt.Errorf("secret: create %q: %w", name, err)
	}
	if err := v.backend.CreateSecret(ctx, name, box.Seal(plaintext, []byte(name))); err != nil {
		return fmt.Errorf("secret: create %q: %w", name, err)
	}
	return nil
}

// Get returns the plaintext stored under name. A missing name is an error
// wrapping store.ErrNotFound; a value that does not open (wrong key,
// altered, or moved from another name) is a different error.
func (v *Vault) Get(ctx context.Context, name string) ([]byte, error) {
	sealed, err := v.backend.GetSecret(ctx, name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("secret: get %q: %w", name, store.ErrNotFound)
		}
		return nil, fmt.Errorf("secret: get %q: %w", name, err)
	}
	box, err := v.openingBox(name)
	if err != nil {
		return nil, fmt.Errorf("secret: get %q: %w", name, err)
	}
	plaintext, err := box.Open(sealed, []byte(name))
	if err != nil {
		return nil, fmt.Errorf("secret: get %q: %w", name, err)
	}
	return plaintext, nil
}

// sealingBox returns the box to seal with, reading the key file, or
// creating it if allowed, the first time.
func (v *Vault) sealingBox() (*Box, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.box != nil {
		return v.box, nil
	}
	load := LoadKey
	if v.file.MayCreate {
		load = LoadOrCreateKey
	}
	return v.setKey(load(v.file.Path))
}

// openingBox returns the box to open the value stored under name with.
// The key is never created here: a value sealed under a key that is gone
// can only be opened by restoring that key.
func (v *Vault) openingBox(name string) (*Box, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.box != nil {
		return v.box, nil
	}
	key, err := readKeyFile(v.file.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missingKeyError(v.file.Path, []string{name})
	}
	return v.setKey(key, err)
}

func (v *Vault) setKey(key []byte, err error) (*Box, error) {
	if err != nil {
		return nil, err
	}
	if v.box, err = NewBox(key); err != nil {
		return nil, err
	}
	return v.box, nil
}
