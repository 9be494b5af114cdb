package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
)

// CA returns the profile named name, creating its ACME issuer (and account)
// on first use.
func (a *App) CA(name string) (*rotation.CAProfile, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.cas[name]; ok {
		return p, nil
	}
	// Read under mu: Reload empties the cache under it after the swap,
	// so no profile of an older config is cached after a reload.
	c, ok := a.Current().CertificateAuthorities[name]
	if !ok {
		return nil, fmt.Errorf("certificate authority %q is not configured (certificate_authorities in the config)", name)
	}
	roots, err := a.roots(c)
	if err != nil {
		return nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	acfg := acme.Config{
		Name:           name,
		DirectoryURL:   c.Directory,
		Email:          c.Email,
		HTTPClient:     a.acmeHTTPClient(name, c.Directory, roots),
		Profile:        c.Profile,
		PreferredChain: c.PreferredChain,
		Accounts:       vaultAccounts{a.Vault},
		Logger:         a.log,
	}
	if acfg.DNS01, err = a.DNS01(); err != nil {
		return nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	acfg.DNS01.Observe = a.Metrics.ObserveDNSUpdate
	if c.EAB != nil {
		hmac, err := a.resolve(c.EAB.HMACKey)
		if err != nil {
			return nil, fmt.Errorf("certificate authority %s: eab.hmac_key: %w", name, err)
		}
		acfg.EAB = &acme.EAB{KID: c.EAB.KeyID, HMACKey: hmac}
	}
	iss, err := acme.New(context.Background(), acfg)
	if err != nil {
		return nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	p := &rotation.CAProfile{
		Name:            name,
		Issuer:          iss,
		Roots:           roots,
		ExpectedIssuers: c.ExpectedIssuers,
		MinLifetime:     c.MinLifetime,
		KeyType:         c.KeyType,
		KeyTypes:        c.KeyTypes,
		Profile:         c.Profile,
	}
	a.cas[name] = p
	return p, nil
}

func (a *App) roots(c config.CA) (*x509.CertPool, error) {
	if c.RootsFile == "" {
		return x509.SystemCertPool()
	}
	pemBytes, err := os.ReadFile(c.RootsFile)
	if err != nil {
		return nil, fmt.Errorf("roots_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("roots_file %s holds no PEM certificate", c.RootsFile)
	}
	return pool, nil
}

// vaultAccounts keeps ACME accounts in the encrypted vault.
type vaultAccounts struct{ v *secret.Vault }

func (s vaultAccounts) LoadAccount(ctx context.Context, name string) ([]byte, error) {
	b, err := s.v.Get(ctx, "acme-account/"+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", acme.ErrNoAccount, err)
	}
	return b, err
}

func (s vaultAccounts) SaveAccount(ctx context.Context, name string, data []byte) error {
	return s.v.Put(ctx, "acme-account/"+name, data)
}

func (s vaultAccounts) CreateAccount(ctx context.Context, name string, data []byte) error {
	err := s.v.Create(ctx, "acme-account/"+name, data)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %w", acme.ErrAccountExists, err)
	}
	return err
}
