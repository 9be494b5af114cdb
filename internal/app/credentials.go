package app

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/secret/stores"
)

// secretResolver holds the Resolver of the configuration in effect. A
// reload that leaves the secrets block alone keeps it, and its cache; one
// that changes the block gets a new one.
type secretResolver struct {
	opts stores.Options

	mu       sync.Mutex
	settings config.Secrets
	resolver *secret.Resolver
}

func newSecretResolver(cfg *config.Config, o Options) (*secretResolver, error) {
	s := &secretResolver{opts: stores.Options{Env: o.Env, Now: o.Now, Logger: o.Logger}}
	if _, err := s.forConfig(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// forConfig returns the Resolver of cfg's secrets block.
func (s *secretResolver) forConfig(cfg *config.Config) (*secret.Resolver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resolver != nil && reflect.DeepEqual(s.settings, cfg.Secrets) {
		return s.resolver, nil
	}
	r, err := stores.New(cfg.Secrets, s.opts)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	s.settings, s.resolver = cfg.Secrets, r
	return r, nil
}

// Resolve reads a secret reference of the config (env:NAME, file:PATH,
// aws-sm:NAME#key, vault:MOUNT/PATH#key), through the cache of the
// configuration in effect.
func (a *App) Resolve(ref string) (string, error) { return a.resolve(ref) }

// ResolveContext is Resolve bounded by ctx as well as by secrets.timeout.
func (a *App) ResolveContext(ctx context.Context, ref string) (string, error) {
	r, err := a.secrets.forConfig(a.Current())
	if err != nil {
		return "", err
	}
	return r.ResolveContext(ctx, ref)
}

func (a *App) resolve(ref string) (string, error) {
	return a.ResolveContext(context.Background(), ref)
}

// credentials returns the login named by the asset, or "default".
func (a *App) credentials(as asset.Asset, _ route.Route) (driver.Credentials, error) {
	name := as.Credentials
	if name == "" {
		name = "default"
	}
	c, ok := a.Current().Credentials[name]
	if !ok {
		return driver.Credentials{}, fmt.Errorf("no credentials named %q in the config (credentials.%s)", name, name)
	}
	out := driver.Credentials{Username: c.Username}
	var err error
	// A username is not secret, but Ottr keeps it beside the password, so
	// it may be a reference too (aws-sm:prod/otter/panos#username).
	if ref, _ := secret.ParseRef(c.Username); !ref.IsLiteral() {
		if out.Username, err = a.resolve(c.Username); err != nil {
			return driver.Credentials{}, fmt.Errorf("credentials.%s.username: %w", name, err)
		}
	}
	if c.Password != "" {
		if out.Password, err = a.resolve(c.Password); err != nil {
			return driver.Credentials{}, fmt.Errorf("credentials.%s.password: %w", name, err)
		}
	}
	if c.PrivateKey != "" {
		key, err := a.resolve(c.PrivateKey)
		if err != nil {
			return driver.Credentials{}, fmt.Errorf("credentials.%s.private_key: %w", name, err)
		}
		out.PrivateKey = []byte(key)
	}
	return out, nil
}

// resolve resolves ref with the Resolver built at start, before the App
// exists (the database URL).
func (s *secretResolver) resolve(ref string) (string, error) {
	s.mu.Lock()
	r := s.resolver
	s.mu.Unlock()
	return r.Resolve(ref)
}
