// Package vaultkv reads vault: secret references from the KV secrets
// engine (version 1 or 2) of HashiCorp Vault or OpenBao, through Vault's
// own API client (github.com/hashicorp/vault/api), which OpenBao serves
// unchanged. It logs in with a token, an AppRole or a Kubernetes service
// account, and logs in again when a login's token expires or is refused.
package vaultkv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/ottr-go/ottr/internal/secret"
)

// Auth methods.
const (
	MethodToken      = "token"
	MethodAppRole    = "approle"
	MethodKubernetes = "kubernetes"
)

// Config says how to reach and log in to the server.
type Config struct {
	// Address is the server's URL.
	Address string
	// Namespace is sent with every request when set.
	Namespace string
	// CAFile holds PEM certificates to verify the server's against.
	CAFile string
	// Method is MethodToken, MethodAppRole or MethodKubernetes.
	Method string
	// Token is the token of MethodToken (the value, not a reference).
	Token string
	// RoleID and SecretID are the AppRole's.
	RoleID, SecretID string
	// Role and JWTFile are the Kubernetes login's: the file is read at
	// each login, as Kubernetes rotates projected tokens.
	Role, JWTFile string
	// AuthMount is where the AppRole or Kubernetes method is mounted.
	AuthMount string
	// Mounts are KV versions by mount path; others are asked about.
	Mounts map[string]int
	// Now is the clock token lifetimes are measured with; time.Now when nil.
	Now func() time.Time
}

// Source reads KV secrets. It is safe for concurrent use; only callers that
// need a login wait for it.
type Source struct {
	cfg    Config
	client *vault.Client

	// login holds a token while one caller logs in.
	login chan struct{}

	mu sync.Mutex
	// token is the token in use ("" before the first login), and
	// expires when it must be replaced (zero: never, as far as known).
	token   string
	expires time.Time
	// mounts are the KV mounts known, by path without the trailing slash.
	mounts map[string]int
}

// New returns a Source. It sends nothing to the server.
func New(cfg Config) (*Source, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	vc := vault.DefaultConfig()
	vc.Address = cfg.Address
	// One try: the Resolver's timeout bounds a lookup, and a server that
	// is down must fail the rotation that needs it promptly.
	vc.MaxRetries = 0
	if cfg.CAFile != "" {
		if err := vc.ConfigureTLS(&vault.TLSConfig{CACert: cfg.CAFile}); err != nil {
			return nil, fmt.Errorf("secrets.vault.ca_file: %w", err)
		}
	}
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("secrets.vault: %w", err)
	}
	// NewClient takes VAULT_TOKEN and VAULT_NAMESPACE from the
	// environment; ottr uses what its configuration says only.
	client.ClearToken()
	client.ClearNamespace()
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	s := &Source{cfg: cfg, client: client, login: make(chan struct{}, 1), mounts: map[string]int{}}
	for mount, version := range cfg.Mounts {
		s.mounts[strings.Trim(mount, "/")] = version
	}
	switch cfg.Method {
	case MethodToken:
		if cfg.Token == "" {
			return nil, errors.New("secrets.vault.auth.token is empty")
		}
		s.token = cfg.Token
	case MethodAppRole, MethodKubernetes:
	default:
		return nil, fmt.Errorf("secrets.vault.auth.method %q is not token, approle or kubernetes", cfg.Method)
	}
	return s, nil
}

// Fetch returns the fields of the KV secret ref names.
func (s *Source) Fetch(ctx context.Context, ref secret.Ref) (secret.Document, error) {
	token, err := s.currentToken(ctx, "")
	if err != nil {
		return secret.Document{}, err
	}
	doc, err := s.read(ctx, token, ref)
	var refused *refusedError
	if errors.As(err, &refused) && s.cfg.Method != MethodToken {
		// The token expired or was revoked before its lease said: log
		// in again, once.
		if token, err = s.currentToken(ctx, token); err != nil {
			return secret.Document{}, err
		}
		doc, err = s.read(ctx, token, ref)
	}
	return doc, err
}

// refusedError is a 403: a token that is not (or no longer) valid, or
// whose policies do not allow the read.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

func (s *Source) read(ctx context.Context, token string, ref secret.Ref) (secret.Document, error) {
	mount, version, err := s.mountOf(ctx, token, ref.Name)
	if err != nil {
		return secret.Document{}, err
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(ref.Name, mount), "/")
	path := mount + "/" + rest
	if version == 2 {
		path = mount + "/data/" + rest
	}
	body, err := s.get(ctx, token, path)
	if err != nil {
		return secret.Document{}, s.explain(err, ref.Name)
	}
	if body == nil {
		return secret.Document{}, fmt.Errorf("Vault has no secret at %s (KV version %d mount %s/): check the path", ref.Name, version, mount)
	}
	data := body.Data
	if version == 2 {
		inner, ok := data["data"].(map[string]any)
		if !ok {
			// KV 2 answers data: null for a deleted or destroyed version.
			return secret.Document{}, fmt.Errorf("the current version of %s is deleted or destroyed in Vault: restore it or write a new version", ref.Name)
		}
		data = inner
	}
	if data == nil {
		data = map[string]any{}
	}
	return secret.Document{Fields: data}, nil
}

// get reads path with token, returning nil for a path that holds nothing.
func (s *Source) get(ctx context.Context, token, path string) (*vault.Secret, error) {
	client, err := s.client.CloneWithHeaders()
	if err != nil {
		return nil, err
	}
	client.SetToken(token)
	resp, err := client.Logical().ReadRawWithContext(ctx, path)
	if resp != nil {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	return vault.ParseSecret(resp.Body)
}

// mountOf returns the KV mount name lives under and its version: the
// longest configured mount that prefixes it, or what the server says.
func (s *Source) mountOf(ctx context.Context, token, name string) (string, int, error) {
	s.mu.Lock()
	best, version := "", 0
	for mount, v := range s.mounts {
		if (name == mount || strings.HasPrefix(name, mount+"/")) && len(mount) > len(best) {
			best, version = mount, v
		}
	}
	s.mu.Unlock()
	if best != "" {
		return best, version, nil
	}
	body, err := s.get(ctx, token, "sys/internal/ui/mounts/"+name)
	if err != nil {
		return "", 0, fmt.Errorf("find the KV mount of %s (or set it in secrets.vault.mounts): %w", name, s.explain(err, name))
	}
	if body == nil {
		return "", 0, fmt.Errorf("Vault has no mount for %s: check the first part of the path, the mount", name)
	}
	mount, _ := body.Data["path"].(string)
	mount = strings.Trim(mount, "/")
	if kind, _ := body.Data["type"].(string); kind != "kv" && kind != "generic" {
		return "", 0, fmt.Errorf("%s/ in Vault is a %q mount, not a KV secrets engine", mount, kind)
	}
	version = 1
	if options, ok := body.Data["options"].(map[string]any); ok {
		if v, _ := options["version"].(string); v != "" {
			if version, err = strconv.Atoi(v); err != nil {
				return "", 0, fmt.Errorf("%s/ in Vault has KV version %q", mount, v)
			}
		}
	}
	s.mu.Lock()
	s.mounts[mount] = version
	s.mu.Unlock()
	return mount, version, nil
}

// currentToken returns the token to use, logging in when there is none,
// when it has expired, or when it is refused (the token just used).
func (s *Source) currentToken(ctx context.Context, refused string) (string, error) {
	if token, ok := s.usable(refused); ok {
		return token, nil
	}
	if s.cfg.Method == MethodToken {
		return "", errors.New("Vault refused the token of secrets.vault.auth.token (permission denied): it has expired or been revoked, or its policies do not allow the read: set a valid token")
	}
	select {
	case s.login <- struct{}{}:
		defer func() { <-s.login }()
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the Vault login: %w", ctx.Err())
	}
	// Another caller may have logged in while this one waited.
	if token, ok := s.usable(refused); ok {
		return token, nil
	}
	return s.logIn(ctx)
}

// usable returns the token in use, unless it is missing, expired or the
// one refused.
func (s *Source) usable(refused string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" || s.token == refused {
		return "", false
	}
	if !s.expires.IsZero() && !s.cfg.Now().Before(s.expires) {
		return "", false
	}
	return s.token, true
}

func (s *Source) logIn(ctx context.Context) (string, error) {
	body := map[string]any{}
	switch s.cfg.Method {
	case MethodAppRole:
		body["role_id"], body["secret_id"] = s.cfg.RoleID, s.cfg.SecretID
	case MethodKubernetes:
		jwt, err := os.ReadFile(s.cfg.JWTFile)
		if err != nil {
			return "", fmt.Errorf("vault kubernetes login: read the service account token (secrets.vault.auth.jwt_file): %w", err)
		}
		body["role"], body["jwt"] = s.cfg.Role, strings.TrimSpace(string(jwt))
	}
	client, err := s.client.CloneWithHeaders()
	if err != nil {
		return "", err
	}
	client.ClearToken()
	started := s.cfg.Now()
	answer, err := client.Logical().WriteWithContext(ctx, "auth/"+s.cfg.AuthMount+"/login", body)
	if err != nil {
		return "", fmt.Errorf("vault %s login at auth/%s: %w", s.cfg.Method, s.cfg.AuthMount, s.explain(err, ""))
	}
	if answer == nil || answer.Auth == nil || answer.Auth.ClientToken == "" {
		return "", fmt.Errorf("vault %s login at auth/%s: the answer holds no token", s.cfg.Method, s.cfg.AuthMount)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = answer.Auth.ClientToken
	s.expires = time.Time{}
	if lease := time.Duration(answer.Auth.LeaseDuration) * time.Second; lease > 0 {
		// Log in again a little before the token lapses, rather than
		// have a read refused.
		s.expires = started.Add(lease - lease/10)
	}
	return s.token, nil
}

// explain says what a failed request means. Vault's own message names
// the URL and Vault's reasons, never a secret; name is the secret read.
func (s *Source) explain(err error, name string) error {
	var resp *vault.ResponseError
	if errors.As(err, &resp) {
		reasons := strings.Join(resp.Errors, "; ")
		if resp.StatusCode == http.StatusForbidden {
			switch {
			case name == "":
				return &refusedError{err: fmt.Errorf("Vault refused the %s login (403 %s): check secrets.vault.auth and the role's credentials", s.cfg.Method, reasons)}
			case s.cfg.Method == MethodToken:
				return &refusedError{err: fmt.Errorf("Vault refused the read of %s (403 %s): the token of secrets.vault.auth.token has expired or been revoked, "+
					"or its policies do not allow it: set a valid token", name, reasons)}
			default:
				return &refusedError{err: fmt.Errorf("Vault refused the read of %s (403 %s), also after a new %s login: check the role's policies", name, reasons, s.cfg.Method)}
			}
		}
		return fmt.Errorf("Vault answered %d %s to %s %s", resp.StatusCode, reasons, resp.HTTPMethod, resp.URL)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("cannot reach Vault at %s (secrets.vault.address): %w", s.cfg.Address, opErr)
	}
	return fmt.Errorf("Vault at %s: %w", s.cfg.Address, err)
}
