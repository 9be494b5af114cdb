package app

import (
	"fmt"
	"os"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/secret"
)

// Resolve reads a secret reference of the config (env:NAME, file:PATH).
func (a *App) Resolve(ref string) (string, error) { return a.resolve(ref) }

func (a *App) resolve(ref string) (string, error) {
	return secret.Resolve(ref, a.opts.Env, os.ReadFile)
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
