package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/issuer/acme"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
)

// caBuildTimeout bounds the build of one CA profile, which runs on after
// its callers stop waiting: a few ACME requests, each bounded by the HTTP
// client's own timeout, and the vault's reads and writes.
const caBuildTimeout = 10 * time.Minute

// caBuild is a CA profile being built for every caller that asks for it
// meanwhile; done is closed once profile or err is set.
type caBuild struct {
	done    chan struct{}
	profile *rotation.CAProfile
	err     error
}

// CA returns the profile named name, creating its ACME issuer (and account)
// on first use. A profile is built once for every caller that asks for it
// meanwhile, each of which waits until it is built or ctx ends; profiles of
// other names are built and returned beside it, so one slow CA holds up only
// the rotations that need it. A build that failed is not kept: the next call
// tries again.
//
// A build runs to its end even when every caller has stopped waiting (it ends
// sooner only at Close, or after caBuildTimeout). lego reads the CA's
// directory bounded by its HTTP client's timeout, not by ctx, so cancelling
// would not stop the slowest part; an account the CA registered but the vault
// never stored would be left behind at the CA; and a registration slower than
// a rotation's job timeout still completes once, for the next rotation,
// instead of starting over with every job that gives up on it.
func (a *App) CA(ctx context.Context, name string) (*rotation.CAProfile, error) {
	p, b, err := a.caOrBuild(ctx, name)
	if p != nil || err != nil {
		return p, err
	}
	select {
	case <-b.done:
		return b.profile, b.err
	case <-ctx.Done():
		return nil, fmt.Errorf("certificate authority %s: stopped waiting for its ACME account: %w", name, ctx.Err())
	}
}

// caOrBuild returns the profile named name if it is built, or else its build
// under way, starting one if none is and ctx has not ended.
func (a *App) caOrBuild(ctx context.Context, name string) (*rotation.CAProfile, *caBuild, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.cas[name]; ok {
		return p, nil, nil
	}
	if b, ok := a.caBuilds[name]; ok {
		return nil, b, nil
	}
	// Read under mu: Reload swaps the config and forgets every profile,
	// built or being built, under it, so no profile of an older config is
	// kept after a reload.
	cfg := a.Current()
	if _, ok := cfg.CertificateAuthorities[name]; !ok {
		return nil, nil, fmt.Errorf("certificate authority %q is not configured (certificate_authorities in the config)", name)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	b := &caBuild{done: make(chan struct{})}
	a.caBuilds[name] = b
	go a.build(name, cfg, b)
	return nil, b, nil
}

// build builds b, the profile named name in cfg, and keeps it for later
// callers unless it failed or a reload forgot it meanwhile: then it serves
// only those already waiting for it.
func (a *App) build(name string, cfg *config.Config, b *caBuild) {
	ctx, cancel := context.WithTimeout(a.builds, caBuildTimeout)
	defer cancel()
	defer func() {
		// The job queue catches a panic in a rotation; this goroutine is
		// none, so a panic here fails the build rather than the process.
		if r := recover(); r != nil {
			a.log.Error("building a CA profile panicked", "ca", name, "panic", r, "stack", string(debug.Stack()))
			b.profile, b.err = nil, fmt.Errorf("certificate authority %s: building its ACME issuer failed unexpectedly (the log has the details)", name)
		}
		a.mu.Lock()
		if a.caBuilds[name] == b {
			delete(a.caBuilds, name)
			if b.err == nil {
				a.cas[name] = b.profile
			}
		}
		a.mu.Unlock()
		close(b.done)
	}()
	b.profile, b.err = a.newCAProfile(ctx, name, cfg)
}

// forgetCAs drops the CA profiles built and being built, so each is built
// again from the config in effect at its next use. The caller holds mu.
func (a *App) forgetCAs() {
	a.cas = map[string]*rotation.CAProfile{}
	a.caBuilds = map[string]*caBuild{}
}

// newCAProfile builds the profile named name in cfg: its roots, its DNS-01
// settings and its ACME issuer, which loads or registers the account.
func (a *App) newCAProfile(ctx context.Context, name string, cfg *config.Config) (*rotation.CAProfile, error) {
	c := cfg.CertificateAuthorities[name]
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
		PollInterval:   c.PollInterval,
		Accounts:       vaultAccounts{a.Vault},
		Logger:         a.log,
	}
	if acfg.DNS01, err = a.dns01(cfg); err != nil {
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
	iss, err := acme.New(ctx, acfg)
	if err != nil {
		return nil, fmt.Errorf("certificate authority %s: %w", name, err)
	}
	return &rotation.CAProfile{
		Name:            name,
		Issuer:          iss,
		Roots:           roots,
		ExpectedIssuers: c.ExpectedIssuers,
		MinLifetime:     c.MinLifetime,
		KeyType:         c.KeyType,
		KeyTypes:        c.KeyTypes,
		Profile:         c.Profile,
	}, nil
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
