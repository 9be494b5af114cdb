package secret

import (
	"context"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/store"
)

// Backend keeps opaque, already sealed values by name. store.Store
// implements it. GetSecret reports a missing name with an error wrapping
// store.ErrNotFound.
type Backend interface {
	PutSecret(ctx context.Context, name string, value []byte) error
	GetSecret(ctx context.Context, name string) ([]byte, error)
}

// Vault stores secrets in a Backend, sealed by a Box. Each value is sealed
// with its name as additional data, so a sealed value copied to another
// name does not open. It is safe for concurrent use if the Backend is.
type Vault struct {
	box     *Box
	backend Backend
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
	if err := v.backend.PutSecret(ctx, name, v.box.Seal(plaintext, []byte(name))); err != nil {
		return fmt.Errorf("secret: put %q: %w", name, err)
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
	plaintext, err := v.box.Open(sealed, []byte(name))
	if err != nil {
		return nil, fmt.Errorf("secret: get %q: %w", name, err)
	}
	return plaintext, nil
}
