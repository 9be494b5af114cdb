// Package stores builds the secret.Resolver of a configuration: env: and
// file: references, and the secret stores its secrets block sets up
// (AWS Secrets Manager, Vault). Every process builds one per configuration
// and passes it to whatever resolves references, so they share its cache.
package stores

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/secret/awssm"
	"github.com/ottr-go/ottr/internal/secret/vaultkv"
)

// Options are what a process adds to the configuration.
type Options struct {
	// Env looks environment variables up; os.LookupEnv when nil.
	Env func(string) (string, bool)
	// Now is the cache's clock; time.Now when nil.
	Now func() time.Time
	// Logger receives a debug line per read from a store.
	Logger *slog.Logger
}

// New returns the Resolver of cfg. The stores' own credentials (an AWS
// access key, a Vault token or AppRole secret ID) are env: or file:
// references, read here. Nothing is sent to a store before the first
// reference to it is resolved.
func New(cfg config.Secrets, o Options) (*secret.Resolver, error) {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	local := secret.NewResolver(secret.ResolverOptions{Env: o.Env})
	sources := map[string]secret.Source{}

	aws := awssm.Config{Region: cfg.AWS.Region, Profile: cfg.AWS.Profile, Endpoint: cfg.AWS.Endpoint}
	var err error
	if aws.AccessKeyID, err = resolveOptional(local, "secrets.aws.access_key_id", cfg.AWS.AccessKeyID); err != nil {
		return nil, err
	}
	if aws.SecretAccessKey, err = resolveOptional(local, "secrets.aws.secret_access_key", cfg.AWS.SecretAccessKey); err != nil {
		return nil, err
	}
	if sources[secret.SchemeAWS], err = awssm.New(aws); err != nil {
		return nil, err
	}

	if v := cfg.Vault; v.Address != "" {
		kv := vaultkv.Config{
			Address: v.Address, Namespace: v.Namespace, CAFile: v.CAFile,
			Method: v.Auth.Method, Role: v.Auth.Role, JWTFile: v.Auth.JWTFile, AuthMount: v.Auth.Mount,
			Mounts: v.Mounts, Now: o.Now,
		}
		for setting, ref := range map[string]struct {
			ref  string
			into *string
		}{
			"token":     {v.Auth.Token, &kv.Token},
			"role_id":   {v.Auth.RoleID, &kv.RoleID},
			"secret_id": {v.Auth.SecretID, &kv.SecretID},
		} {
			if *ref.into, err = resolveOptional(local, "secrets.vault.auth."+setting, ref.ref); err != nil {
				return nil, err
			}
		}
		if sources[secret.SchemeVault], err = vaultkv.New(kv); err != nil {
			return nil, err
		}
	}

	return secret.NewResolver(secret.ResolverOptions{
		Env:      o.Env,
		Sources:  sources,
		CacheTTL: cfg.CacheTTL,
		Timeout:  cfg.Timeout,
		Now:      o.Now,
		Logger:   o.Logger,
	}), nil
}

func resolveOptional(local *secret.Resolver, setting, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	value, err := local.Resolve(ref)
	if err != nil {
		return "", fmt.Errorf("%s: %w", setting, err)
	}
	return value, nil
}
