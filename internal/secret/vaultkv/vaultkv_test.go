package vaultkv_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/secret/stores"
	"github.com/ottr-go/ottr/internal/secret/vaultkv/vaultlab"

	"github.com/ottr-go/ottr/internal/testenv"
)

const (
	panosPassword = "pan-Vault-Pa55-1c9e"
	legacyKey     = "legacy-Pa55-77aa"
	secretID      = "approle-secret-id-9d1f"
	serviceJWT    = "eyJhbGciOiJSUzI1NiJ9.service-account.sig"
)

type fixture struct {
	vault    *vaultlab.Server
	clock    *testenv.Clock
	log      *bytes.Buffer
	resolver *secret.Resolver
	token    string
	// leaks are values that must never show in an error or the log.
	leaks []string
}

// newFixture starts a Vault with Ottr's secrets in a namespace, and a
// resolver configured by auth (address, namespace and CA file are filled in).
// The token method's token may read everything, unless limit makes another.
func newFixture(t *testing.T, auth config.VaultAuth, mounts map[string]int, limit ...func(*vaultlab.Server) string) *fixture {
	t.Helper()
	f := &fixture{clock: testenv.NewClock(time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)), log: &bytes.Buffer{}}
	f.vault = vaultlab.Start(vaultlab.Config{Namespace: "pki", Now: f.clock.Now})
	t.Cleanup(f.vault.Close)
	f.vault.Mount("secret", 2)
	f.vault.Mount("legacy", 1)
	f.vault.Put("secret", "otter/panos", map[string]any{"username": "admin", "password": "old-" + panosPassword})
	f.vault.Put("secret", "otter/panos", map[string]any{"username": "admin", "password": panosPassword})
	f.vault.Put("legacy", "otter/f5", map[string]any{"password": legacyKey})
	f.vault.AppRole("approle", "ottr-role", secretID, time.Hour)
	f.vault.KubernetesRole("kubernetes", "ottr", serviceJWT, time.Hour)
	f.token = f.vault.Token(time.Hour)
	if len(limit) > 0 {
		f.token = limit[0](f.vault)
	}
	f.leaks = []string{panosPassword, legacyKey, secretID, serviceJWT, f.token}

	dir := t.TempDir()
	caFile := filepath.Join(dir, "vault-ca.pem")
	jwtFile := filepath.Join(dir, "token")
	for file, data := range map[string][]byte{caFile: f.vault.CertificatePEM(), jwtFile: []byte(serviceJWT + "\n")} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"VAULT_TOKEN": f.token, "OTTR_SECRET_ID": secretID}
	if auth.Method == config.VaultAuthKubernetes {
		auth.JWTFile = jwtFile
	}
	cfg := config.Secrets{
		CacheTTL: time.Minute, Timeout: time.Minute,
		Vault: config.SecretsVault{Address: f.vault.URL(), Namespace: "pki", CAFile: caFile, Auth: auth, Mounts: mounts},
	}
	r, err := stores.New(cfg, stores.Options{
		Env:    func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Now:    f.clock.Now,
		Logger: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.resolver = r
	return f
}

func (f *fixture) assertNoLeak(t *testing.T, where, text string) {
	t.Helper()
	for _, v := range f.leaks {
		if strings.Contains(text, v) {
			t.Errorf("%s holds a secret or a token: %s", where, text)
		}
	}
}

var (
	tokenAuth   = config.VaultAuth{Method: config.VaultAuthToken, Token: "env:VAULT_TOKEN"}
	appRoleAuth = config.VaultAuth{Method: config.VaultAuthAppRole, RoleID: "ottr-role", SecretID: "env:OTTR_SECRET_ID", Mount: "approle"}
	k8sAuth     = config.VaultAuth{Method: config.VaultAuthKubernetes, Role: "ottr", Mount: "kubernetes"}
)

func TestReadsKVSecretsWithEachLogin(t *testing.T) {
	for name, auth := range map[string]config.VaultAuth{"token": tokenAuth, "approle": appRoleAuth, "kubernetes": k8sAuth} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, auth, nil)
			for ref, want := range map[string]string{
				"vault:secret/otter/panos#password": panosPassword,
				"vault:secret/otter/panos#username": "admin",
				"vault:legacy/otter/f5#password":    legacyKey,
			} {
				got, err := f.resolver.Resolve(ref)
				if err != nil || got != want {
					t.Errorf("Resolve(%s) = %q, %v; want %q", ref, got, err, want)
				}
			}
			for _, r := range f.vault.Requests() {
				if r.Namespace != "pki" {
					t.Errorf("%s %s was sent in namespace %q, want pki", r.Method, r.Path, r.Namespace)
				}
			}
			f.assertNoLeak(t, "the log", f.log.String())
		})
	}
}

func TestConfiguredMountsAreNotAskedAbout(t *testing.T) {
	f := newFixture(t, tokenAuth, map[string]int{"legacy": 1, "secret": 2})
	for _, ref := range []string{"vault:legacy/otter/f5#password", "vault:secret/otter/panos#password"} {
		if _, err := f.resolver.Resolve(ref); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range f.vault.Requests() {
		if strings.Contains(r.Path, "sys/internal/ui/mounts") {
			t.Errorf("asked about a configured mount: %s", r.Path)
		}
	}
}

func TestAppRoleLogsInAgainWhenTheTokenLapses(t *testing.T) {
	f := newFixture(t, appRoleAuth, nil)
	if _, err := f.resolver.Resolve("vault:secret/otter/panos#password"); err != nil {
		t.Fatal(err)
	}
	// The lease is an hour: past it (and the cache), a new login.
	f.clock.Add(61 * time.Minute)
	if got, err := f.resolver.Resolve("vault:secret/otter/panos#password"); err != nil || got != panosPassword {
		t.Fatalf("after the lease: %q, %v", got, err)
	}
	if n := f.vault.Logins(); n != 2 {
		t.Errorf("%d logins, want 2: one at the start, one when the lease ran out", n)
	}
	// A token revoked before its lease ends is refused (403): one new
	// login, and the read goes through.
	f.vault.RevokeAll()
	f.clock.Add(2 * time.Minute)
	if got, err := f.resolver.Resolve("vault:secret/otter/panos#password"); err != nil || got != panosPassword {
		t.Fatalf("after a revocation: %q, %v", got, err)
	}
	if n := f.vault.Logins(); n != 3 {
		t.Errorf("%d logins, want 3", n)
	}
	refused := 0
	for _, r := range f.vault.Requests() {
		if r.Status == 403 {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("Vault refused %d requests, want the one with the revoked token", refused)
	}
}

func TestVaultFailures(t *testing.T) {
	tests := []struct {
		name    string
		auth    config.VaultAuth
		limit   func(*vaultlab.Server) string
		breakIt func(f *fixture)
		ref     string
		wantErr []string
	}{
		{
			name: "an expired token", auth: tokenAuth,
			breakIt: func(f *fixture) { f.clock.Add(2 * time.Hour) },
			ref:     "vault:secret/otter/panos#password",
			wantErr: []string{"secret vault:secret/otter/panos#password: Vault refused the read of secret/otter/panos (403 permission denied): the token of secrets.vault.auth.token has expired or been revoked: set a valid token"},
		},
		{
			name: "a token whose policies do not allow the read", auth: tokenAuth,
			limit:   func(v *vaultlab.Server) string { return v.LimitedToken(time.Hour, "secret/data/otter/f5") },
			ref:     "vault:secret/otter/panos#password",
			wantErr: []string{"secret vault:secret/otter/panos#password: Vault refused the read of secret/otter/panos (403 permission denied): the token is valid, but its policies (default, otter-read) do not allow reading it"},
		},
		{
			name: "a wrong AppRole secret ID", auth: config.VaultAuth{Method: config.VaultAuthAppRole, RoleID: "ottr-role", SecretID: "wrong", Mount: "approle"},
			ref:     "vault:secret/otter/panos#password",
			wantErr: []string{"secret vault:secret/otter/panos#password: vault approle login at auth/approle: Vault answered 400 invalid secret id"},
		},
		{
			name: "a Kubernetes role that refuses the service account", auth: config.VaultAuth{Method: config.VaultAuthKubernetes, Role: "ottr", Mount: "kubernetes"},
			breakIt: func(f *fixture) { f.vault.KubernetesRole("kubernetes", "ottr", "another-jwt", time.Hour) },
			ref:     "vault:secret/otter/panos#password",
			wantErr: []string{"Vault refused the kubernetes login (403 permission denied)"},
		},
		{
			name: "a secret missing its key", auth: tokenAuth,
			ref:     "vault:secret/otter/panos#token",
			wantErr: []string{`secret vault:secret/otter/panos#token: the secret has no key "token" (it has "password", "username")`},
		},
		{
			name: "a path that holds nothing", auth: tokenAuth,
			ref:     "vault:secret/otter/nothing#password",
			wantErr: []string{"Vault has no secret at secret/otter/nothing (KV version 2 mount secret/)"},
		},
		{
			name: "a deleted current version", auth: tokenAuth,
			breakIt: func(f *fixture) { f.vault.DeleteLatest("secret", "otter/panos") },
			ref:     "vault:secret/otter/panos#password",
			wantErr: []string{"Vault has no secret at secret/otter/panos"},
		},
		{
			name: "a mount that does not exist", auth: tokenAuth,
			ref:     "vault:kv/otter/panos#password",
			wantErr: []string{"find the KV mount of kv/otter/panos (or set it in secrets.vault.mounts)"},
		},
		{
			name: "the server down", auth: appRoleAuth,
			breakIt: func(f *fixture) { f.vault.Close() },
			ref:     "vault:secret/otter/panos#password",
			wantErr: []string{"cannot reach Vault at https://127.0.0.1:", "connection refused"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var limit []func(*vaultlab.Server) string
			if tt.limit != nil {
				limit = append(limit, tt.limit)
			}
			f := newFixture(t, tt.auth, nil, limit...)
			if tt.breakIt != nil {
				tt.breakIt(f)
			}
			got, err := f.resolver.Resolve(tt.ref)
			if err == nil {
				t.Fatalf("Resolve(%s) = %q, want an error", tt.ref, got)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error\n  %v\ndoes not say\n  %s", err, want)
				}
			}
			f.assertNoLeak(t, "the error", err.Error())
			f.assertNoLeak(t, "the log", f.log.String())
		})
	}
}
