package linux

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// writingCalls are the calls that change a host: the driver's file
// utilities, openssl req (it writes the key) and the reload.
var writingCalls = []string{"ssh cp", "ssh mv", "ssh rm", "ssh mkdir", "ssh chmod", "ssh chown", "ssh openssl req", "ssh reload_command"}

// conformanceDevice is the suite's view of f's host.
func (f *fixture) conformanceDevice() *drivertest.Device {
	return &drivertest.Device{
		Target:      f.target,
		Credentials: f.creds,
		Served: func(ctx context.Context) ([]*x509.Certificate, error) {
			return drivertest.ServedChain(ctx, f.host.TLSAddr(), f.target.Asset.CommonName)
		},
		PrivateKeyExported: f.host.PrivateKeyExported,
		FailInstalls:       f.host.FailReloads,
		FailureMessage:     "nginx: [emerg]",
	}
}

func TestCheckLooksAtTheHostWithoutChangingIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  linuxlab.Config
		sudo bool
	}{
		{"with /bin/sh", linuxlab.Config{RecordCalls: true}, false},
		{"with the in-process shell", linuxlab.Config{RecordCalls: true, InProcessShell: true}, false},
		{"through sudo", linuxlab.Config{RecordCalls: true, RequireSudo: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			f.target.Options["sudo"] = tc.sudo
			report := drivertest.RunCheck(t, f.driver(), f.conformanceDevice(), func(t *testing.T) string {
				return drivertest.DirState(t, f.host.LocalPath(linuxlab.DefaultPathPrefix+"/"))
			})
			for _, want := range []string{"OpenSSL ", " on Linux "} {
				if !strings.Contains(report.Software, want) {
					t.Errorf("software %q does not name %q", report.Software, want)
				}
			}
			for _, want := range []string{linuxlab.DefaultPathPrefix + "/" + linuxlab.DefaultCertPath, linuxlab.DefaultReloadCommand} {
				if !strings.Contains(report.Binding, want) {
					t.Errorf("binding %q does not name %q", report.Binding, want)
				}
			}
			served := f.host.Served()
			for _, c := range report.Checks {
				if c.Status != driver.CheckOK {
					t.Errorf("%s: %s (%s), want ok on a host set up for rotation", c.Capability, c.Status, c.Detail)
				}
				if c.Capability == driver.CapabilityBinding && !strings.Contains(c.Detail, served.SerialNumber.Text(16)) {
					t.Errorf("binding detail %q does not name the served certificate's serial %x", c.Detail, served.SerialNumber)
				}
			}
			if tc.sudo && !strings.Contains(report.Checks[0].Detail, "root (uid 0) through sudo -n") {
				t.Errorf("login detail %q does not say the commands run as root through sudo", report.Checks[0].Detail)
			}
			for _, call := range f.host.Calls() {
				if slices.Contains(writingCalls, call) {
					t.Errorf("Check sent %q, which writes", call)
				}
			}
		})
	}
}

func TestCheckSaysWhatARotationWouldFailAtAndTheFix(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        linuxlab.Config
		options    map[string]any
		prepare    func(t *testing.T, f *fixture)
		capability string
		want       []string
	}{
		{
			name:       "a reload program the host lacks fails the commit",
			options:    map[string]any{"reload_command": "ottr-no-such-reloader reload nginx"},
			capability: driver.CapabilityCommit,
			want:       []string{"ottr-no-such-reloader is not found", "give its full path in reload_command"},
		},
		{
			name:       "a work_dir under a file fails key generation",
			options:    map[string]any{"work_dir": linuxlab.DefaultPathPrefix + "/" + linuxlab.DefaultCertPath + "/staging"},
			capability: driver.CapabilityKeyGeneration,
			want:       []string{"work_dir", "is not a directory"},
		},
		{
			name:       "a key_path holding another key fails the binding",
			prepare:    func(t *testing.T, f *fixture) { writeOtherKey(t, f.host.KeyPath()) },
			capability: driver.CapabilityBinding,
			want:       []string{"does not hold the key of the certificate", "must name the pair the service loads"},
		},
		{
			name:       "a host whose files are root's fails the login without sudo",
			cfg:        linuxlab.Config{RequireSudo: true},
			capability: driver.CapabilityLogin,
			want:       []string{"Permission denied", "the login must be able to run sh -c"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			for k, v := range tc.options {
				f.target.Options[k] = v
			}
			if tc.prepare != nil {
				tc.prepare(t, f)
			}
			before := drivertest.DirState(t, f.host.LocalPath(linuxlab.DefaultPathPrefix+"/"))
			report, err := f.open(t, f.driver()).(driver.Checker).Check(context.Background())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !report.Failed() {
				t.Errorf("no check failed: %+v", report.Checks)
			}
			drivertest.RequireCheck(t, report, tc.capability, driver.CheckFailed, tc.want...)
			if after := drivertest.DirState(t, f.host.LocalPath(linuxlab.DefaultPathPrefix+"/")); after != before {
				t.Errorf("Check changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// writeOtherKey replaces the key file with a new key of no certificate.
func writeOtherKey(t *testing.T, file string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
