package awssmlab_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
	"github.com/ottr-go/ottr/internal/secret/vaultkv/vaultlab"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// ottrNames are the Secrets Manager names Ottr keeps each lab platform's
// login under (it calls BIG-IP "f5").
var ottrNames = map[string]string{lab.PlatformPANOS: "prod/otter/panos", lab.PlatformBIGIP: "prod/otter/f5"}

// TestLabRotationReadsDeviceLoginsFromSecretsManager rotates a PAN-OS
// firewall and a BIG-IP of the lab whose logins are only in the Secrets
// Manager emulator, as Ottr keeps them: the password files the lab wrote
// are removed, and the configuration names aws-sm: references.
func TestLabRotationReadsDeviceLoginsFromSecretsManager(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("the lab needs openssl on PATH (Debian package openssl)")
	}
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Options{Devices: 2, Platforms: []string{lab.PlatformPANOS, lab.PlatformBIGIP}})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	defer l.Close()
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}

	secrets := map[string]string{}
	var passwords []string
	for platform, name := range ottrNames {
		cred := cfg.Credentials[platform]
		file := strings.TrimPrefix(cred.Password, "file:")
		password, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("the lab's %s password: %v", platform, err)
		}
		pw := strings.TrimSpace(string(password))
		passwords = append(passwords, pw)
		secrets[name] = fmt.Sprintf(`{"username":%q,"password":%q}`, cred.Username, pw)
		if err := os.Remove(file); err != nil {
			t.Fatal(err)
		}
		cfg.Credentials[platform] = config.Credential{Username: "aws-sm:" + name + "#username", Password: "aws-sm:" + name + "#password"}
	}
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "aws.secret")
	if err := os.WriteFile(keyFile, []byte(sm.SecretAccessKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Secrets.AWS = config.SecretsAWS{Region: sm.Region(), Endpoint: sm.URL(), AccessKeyID: sm.AccessKeyID(), SecretAccessKey: "file:" + keyFile}
	cfg.Database = filepath.Join(dir, "ottr.db")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	ap, err := app.New(ctx, cfg, app.Options{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("ottr does not start with logins in Secrets Manager: %v", err)
	}
	defer ap.Close()
	if err := ap.Store.ImportAssets(ctx, l.Assets); err != nil {
		t.Fatal(err)
	}
	for _, d := range l.Devices {
		before, err := d.ServedChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done, err := rotate(ctx, ap, d.Name())
		if err != nil || done.State != store.StateSucceeded {
			t.Errorf("%s (%s): rotation %s, %v: %s", d.Name(), d.Platform, done.State, err, done.Error)
			continue
		}
		after, err := d.ServedChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if verify.SerialHex(after[0]) == verify.SerialHex(before[0]) {
			t.Errorf("%s (%s) still serves serial %s after the rotation", d.Name(), d.Platform, verify.SerialHex(after[0]))
		}
		for _, pw := range passwords {
			if strings.Contains(fmt.Sprintf("%+v", done), pw) {
				t.Errorf("%s: the rotation's record holds a device password", d.Name())
			}
		}
	}

	read := map[string]bool{}
	for _, c := range sm.Calls() {
		if c.Operation == "GetSecretValue" && c.Status == 200 {
			read[c.SecretID] = true
		}
	}
	for _, name := range ottrNames {
		if !read[name] {
			t.Errorf("Secrets Manager was never asked for %s (calls: %+v)", name, sm.Calls())
		}
	}
	for _, pw := range passwords {
		if strings.Contains(logs.String(), pw) {
			t.Error("a device password is in the log")
		}
	}

	t.Run("a store that is down fails only the rotations that need it", func(t *testing.T) {
		// The BIG-IP's login moves to a Vault that then goes down; the
		// PAN-OS keeps its login in Secrets Manager.
		vault := vaultlab.Start(vaultlab.Config{})
		vault.Mount("secret", 2)
		token := vault.Token(time.Hour)
		caFile := filepath.Join(dir, "vault-ca.pem")
		if err := os.WriteFile(caFile, vault.CertificatePEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		vault.Close()
		down := *cfg
		down.Credentials = maps.Clone(cfg.Credentials)
		down.Credentials[lab.PlatformBIGIP] = config.Credential{Username: "admin", Password: "vault:secret/otter/f5#password"}
		down.Secrets.Vault = config.SecretsVault{
			Address: vault.URL(), CAFile: caFile, Mounts: map[string]int{"secret": 2},
			Auth: config.VaultAuth{Method: config.VaultAuthToken, Token: "env:OTTR_LAB_VAULT_TOKEN"},
		}
		down.Database = filepath.Join(t.TempDir(), "ottr.db")
		if err := down.Validate(); err != nil {
			t.Fatal(err)
		}
		env := func(name string) (string, bool) {
			if name == "OTTR_LAB_VAULT_TOKEN" {
				return token, true
			}
			return os.LookupEnv(name)
		}
		ap, err := app.New(ctx, &down, app.Options{Env: env})
		if err != nil {
			t.Fatalf("ottr does not start while Vault is down: %v", err)
		}
		defer ap.Close()
		if err := ap.Store.ImportAssets(ctx, l.Assets); err != nil {
			t.Fatal(err)
		}
		results := make([]store.Rotation, len(l.Devices))
		var wg sync.WaitGroup
		for i, d := range l.Devices {
			wg.Go(func() {
				results[i], _ = rotate(ctx, ap, d.Name())
			})
		}
		wg.Wait()
		for i, d := range l.Devices {
			got := results[i]
			switch d.Platform {
			case lab.PlatformPANOS:
				if got.State != store.StateSucceeded {
					t.Errorf("%s, whose login is in Secrets Manager: rotation %s: %s", d.Name(), got.State, got.Error)
				}
			case lab.PlatformBIGIP:
				want := "credentials.bigip.password: secret vault:secret/otter/f5#password: cannot reach Vault at " + vault.URL()
				if got.State != store.StateFailed || !strings.Contains(got.Error, want) || !strings.Contains(got.Error, "connection refused") {
					t.Errorf("%s, whose login is in the Vault that is down: rotation %s: %s\nwant it failed saying %q", d.Name(), got.State, got.Error, want)
				}
				if strings.Contains(got.Error, token) {
					t.Error("the failed rotation's error holds the Vault token")
				}
			}
		}
	})
}

// rotate runs a manual rotation of the asset to its end, as `ottr rotate`
// does.
func rotate(ctx context.Context, ap *app.App, name string) (store.Rotation, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	rot, err := ap.Runner.Create(ctx, name, store.TriggerManual, true, nil)
	if err != nil {
		return rot, fmt.Errorf("create the rotation: %w", err)
	}
	done, err := ap.Runner.Run(ctx, rot.ID)
	if full, getErr := ap.Store.GetRotation(ctx, rot.ID); getErr == nil {
		done = full
	}
	return done, err
}
