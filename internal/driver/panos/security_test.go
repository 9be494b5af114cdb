package panos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

// apiKey logs in the way the driver does and returns the key the device
// hands out, so tests can look for it where it must not be.
func apiKey(t *testing.T, f *fixture) string {
	t.Helper()
	c, err := newClient("127.0.0.1", f.dev.Port(), f.target.Options["ca_file"].(string), f.target.Asset.CommonName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.keygen(context.Background(), f.creds.Username, f.creds.Password); err != nil {
		t.Fatal(err)
	}
	return c.key
}

func TestSecretsNeverTravelInURLs(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	ctx := context.Background()
	d := newDriver()
	sess := f.open(t, d, f.target)
	chain := f.issue(t, sess)
	installed, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := sess.Finalize(ctx, installed); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
	if _, err := sess.CurrentCertificate(ctx); err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}
	if err := sess.Rollback(ctx, installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	key := apiKey(t, f)

	requests := f.dev.Requests()
	if len(requests) < 10 {
		t.Fatalf("the device saw only %d requests; the rotation did not reach it", len(requests))
	}
	types := map[string]bool{}
	for _, r := range requests {
		types[r.Type] = true
		if r.Method != "POST" {
			t.Errorf("a %s request used %s; every call must be a POST with a form body", r.Type, r.Method)
		}
		if r.URI != "/api/" {
			t.Errorf("a %s request went to %q; parameters belong in the body, not the URL", r.Type, r.URI)
		}
		for _, secret := range []string{key, testPassword, testUser} {
			if strings.Contains(r.URI, secret) {
				t.Errorf("a %s request's URL %q carries a secret", r.Type, r.URI)
			}
		}
		got := r.Header.Get("X-PAN-KEY")
		switch {
		case r.Type == "keygen" && got != "":
			t.Error("the keygen request carries an X-PAN-KEY header")
		case r.Type != "keygen" && got != key:
			t.Errorf("a %s request does not carry the API key in X-PAN-KEY", r.Type)
		}
		if auth := r.Header.Get("Authorization"); auth != "" {
			t.Errorf("a %s request carries an Authorization header", r.Type)
		}
	}
	for _, want := range []string{"keygen", "op", "export", "import", "config", "commit"} {
		if !types[want] {
			t.Errorf("no type=%s request was seen; the check above did not cover it", want)
		}
	}
}

func TestTLSToTheAPIIsVerified(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	f := newFixture(t, ca, panoslab.Config{})
	for _, tc := range []struct {
		name    string
		options map[string]any
		want    string
	}{
		{
			name:    "refuses a device whose certificate does not chain to ca_file",
			options: map[string]any{"ca_file": writeRoot(t, other.Root())},
			want:    "certificate",
		},
		{
			name:    "refuses a device whose certificate is for another name",
			options: map[string]any{"tls_server_name": "other.example.test"},
			want:    "other.example.test",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newDriver().Open(context.Background(), f.withOptions(tc.options), f.creds)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
	t.Run("checks a wildcard asset's API against its first plain name", func(t *testing.T) {
		target := f.target
		target.Asset.CommonName = "*.example.test"
		target.Asset.SubjectAlternativeName = []string{"*.example.test", deviceName}
		sess, err := newDriver().Open(context.Background(), target, f.creds)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		_ = sess.Close()
	})
	t.Run("reports a ca_file that holds no certificate", func(t *testing.T) {
		_, err := newDriver().Open(context.Background(), f.withOptions(map[string]any{"ca_file": writeFile(t, "not PEM")}), f.creds)
		if err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
			t.Fatalf("Open: %v, want an error about the ca_file", err)
		}
	})
	t.Run("a new connection after the install verifies the new certificate", func(t *testing.T) {
		d := newDriver()
		sess := f.open(t, d, f.target)
		if _, err := sess.Install(context.Background(), f.issue(t, sess)); err != nil {
			t.Fatalf("Install: %v", err)
		}
		// A new session dials anew and meets the certificate just bound.
		again := f.open(t, d, f.target)
		if _, err := again.CurrentCertificate(context.Background()); err != nil {
			t.Fatalf("CurrentCertificate over a new connection: %v", err)
		}
	})
}

func TestWrongPasswordCarriesTheDevicesMessage(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	wrong := driver.Credentials{Username: testUser, Password: "not-the-password-4711"}
	_, err := newDriver().Open(context.Background(), f.target, wrong)
	if err == nil {
		t.Fatal("Open with a wrong password succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"panos: log in", "Invalid Credential", "403"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, wrong.Password) {
		t.Errorf("the error carries the password: %v", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestADeviceThatIgnoresTheKeyHeaderGetsTheKeyInTheBodyNeverInTheURL(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{IgnoreKeyHeader: true})
	ctx := context.Background()
	sess := f.open(t, newDriver(), f.target)
	old := f.served(t)
	chain := f.issue(t, sess)
	installed, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Fatal("the device does not serve the installed certificate")
	}
	if err := sess.Rollback(ctx, installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Error("after Rollback the device does not serve the certificate from before")
	}
	key := apiKey(t, f)
	refused, types := 0, map[string]bool{}
	for _, r := range f.dev.Requests() {
		if strings.Contains(r.URI, key) || strings.Contains(r.KeyIn, "query") {
			t.Errorf("a %s request carried the key in its URL %q", r.Type, r.URI)
		}
		switch {
		case r.Type == "keygen":
		case r.KeyIn == "header":
			refused++
		case r.KeyIn == "body":
			types[r.Type] = true
		default:
			t.Errorf("a %s request carried the key in %q", r.Type, r.KeyIn)
		}
	}
	if refused != 1 {
		t.Errorf("%d requests tried the X-PAN-KEY header, want only the first", refused)
	}
	for _, want := range []string{"op", "export", "import", "config", "commit"} {
		if !types[want] {
			t.Errorf("no type=%s request carried the key in its body", want)
		}
	}
}
