package app

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/route"
)

// ErrOtherACMEAccount is what ImportACMEAccount returns (wrapped) when the CA
// profile has an account of another key already.
var ErrOtherACMEAccount = errors.New("the CA profile has another ACME account")

// ImportACMEAccount stores an ACME account registered by another client as
// the account of the CA profile named ca, so ottr orders under it. An
// account of the same key already stored is left as it is (imported
// reports false); one of another key is kept unless replace is set.
func (a *App) ImportACMEAccount(ctx context.Context, ca string, key crypto.Signer, uri string, replace bool) (imported bool, err error) {
	profile, ok := a.Current().CertificateAuthorities[ca]
	if !ok {
		return false, fmt.Errorf("certificate authority %q is not configured (certificate_authorities in the config)", ca)
	}
	accounts := vaultAccounts{a.Vault}
	existing, err := accounts.LoadAccount(ctx, ca)
	switch {
	case err == nil:
		stored, err := acme.DecodeStoredAccount(existing)
		if err != nil {
			return false, fmt.Errorf("certificate authority %s: the account stored already: %w", ca, err)
		}
		if acme.SameKey(stored.PublicKey, key.Public()) && stored.URI == uri {
			return false, nil
		}
		if !replace {
			return false, fmt.Errorf("certificate authority %s: %w (%s)", ca, ErrOtherACMEAccount, stored.URI)
		}
	case !errors.Is(err, acme.ErrNoAccount):
		return false, fmt.Errorf("certificate authority %s: %w", ca, err)
	}
	data, err := acme.EncodeImportedAccount(key, uri, profile.Directory)
	if err != nil {
		return false, err
	}
	if err := accounts.SaveAccount(ctx, ca, data); err != nil {
		return false, fmt.Errorf("certificate authority %s: store the account: %w", ca, err)
	}
	// A profile built before the import holds the account it had.
	a.mu.Lock()
	delete(a.cas, ca)
	a.mu.Unlock()
	return true, nil
}

// CompileRoutes builds cfg's routing table as New does, every route's
// options checked by its driver, for a command that checks a config
// without running it.
func CompileRoutes(cfg *config.Config) (*route.Table, error) {
	return compileRoutes(Drivers(cfg.KnownHostsFile), cfg)
}
