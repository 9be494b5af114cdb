package awssmlab_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
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
		rotCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		rot, err := ap.Runner.Create(rotCtx, d.Name(), store.TriggerManual, true, nil)
		if err != nil {
			cancel()
			t.Fatalf("%s: create the rotation: %v", d.Name(), err)
		}
		done, err := ap.Runner.Run(rotCtx, rot.ID)
		cancel()
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
		full, err := ap.Store.GetRotation(ctx, rot.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range passwords {
			if strings.Contains(fmt.Sprintf("%+v", full), pw) {
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
}
