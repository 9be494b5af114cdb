package panos

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

const (
	testUser     = "ottr-api"
	testPassword = "Pa55word-for-the-lab!"
	deviceName   = "fw1.example.test"
)

// fixture is one emulated firewall whose certificates chain to ca, and what
// opens a session on it.
type fixture struct {
	dev    *panoslab.Device
	ca     *drivertest.TestCA
	target driver.Target
	creds  driver.Credentials
}

// newFixture starts a firewall serving a certificate for deviceName signed
// by ca, with the route options a route to it would have.
func newFixture(t testing.TB, ca *drivertest.TestCA, cfg panoslab.Config) *fixture {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = deviceName
	}
	cfg.Username, cfg.Password = testUser, testPassword
	if cfg.InitialCertificate == nil {
		cfg.InitialCertificate = signedCertificate(t, ca, cfg.Name)
	}
	dev, err := panoslab.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	options := dev.RouteOptions()
	options["ca_file"] = writeRoot(t, ca.Root())
	return &fixture{
		dev: dev,
		ca:  ca,
		target: driver.Target{
			Asset: asset.Asset{
				SystemName:             cfg.Name,
				CommonName:             cfg.Name,
				SubjectAlternativeName: []string{cfg.Name, "vpn.example.test"},
				IPAddress:              "127.0.0.1",
			},
			Options: options,
		},
		creds: driver.Credentials{Username: testUser, Password: testPassword},
	}
}

// withOptions returns a copy of the target with extra route options.
func (f *fixture) withOptions(extra map[string]any) driver.Target {
	t := f.target
	t.Options = maps.Clone(f.target.Options)
	maps.Copy(t.Options, extra)
	return t
}

// signedCertificate makes a certificate for name, signed by ca, with the
// key held here: the device's certificate before any rotation.
func signedCertificate(t testing.TB, ca *drivertest.TestCA, name string) *tls.Certificate {
	t.Helper()
	cert, err := ca.Certificate(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func writeRoot(t testing.TB, root *x509.Certificate) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newCA(t testing.TB) *drivertest.TestCA {
	t.Helper()
	ca, err := drivertest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newDriver returns a driver that polls commit jobs without waiting long.
func newDriver() *Driver {
	return New(Config{
		Logger:          slog.New(slog.DiscardHandler),
		PollInterval:    time.Millisecond,
		MaxPollInterval: 5 * time.Millisecond,
	})
}

func (f *fixture) open(t testing.TB, d *Driver, target driver.Target) *session {
	t.Helper()
	sess, err := d.Open(context.Background(), target, f.creds)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess.(*session)
}

// issue has the device make an ECDSA P-256 CSR and signs it.
func (f *fixture) issue(t testing.TB, sess driver.Session) []*x509.Certificate {
	t.Helper()
	return f.issueFor(t, sess, f.target.Asset)
}

func (f *fixture) issueFor(t testing.TB, sess driver.Session, a asset.Asset) []*x509.Certificate {
	t.Helper()
	ctx := context.Background()
	csr, err := sess.GenerateCSR(ctx, driver.CSRRequest{CommonName: a.CommonName, DNSNames: a.Names(), KeyType: asset.KeyECDSA256})
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	chain, err := f.ca.Sign(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// served returns the chain the management interface presents.
func (f *fixture) served(t testing.TB) []*x509.Certificate {
	t.Helper()
	chain, err := drivertest.ServedChain(context.Background(), f.dev.TLSAddr(), f.target.Asset.CommonName)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func TestConformance(t *testing.T) {
	ca := newCA(t)
	drivertest.Run(t, drivertest.Harness{
		Driver: newDriver(),
		Sign:   ca.Sign,
		AimAt:  drivertest.AimByAPIPort,
		NewDevice: func(t *testing.T) *drivertest.Device {
			f := newFixture(t, ca, panoslab.Config{})
			return &drivertest.Device{
				Target:      f.target,
				Credentials: f.creds,
				Served: func(ctx context.Context) ([]*x509.Certificate, error) {
					return drivertest.ServedChain(ctx, f.dev.TLSAddr(), f.target.Asset.CommonName)
				},
				PrivateKeyExported: f.dev.PrivateKeyExported,
				FailInstalls:       f.dev.FailInstalls,
				FailureMessage:     f.dev.FailureMessage(),
			}
		},
	})
}
