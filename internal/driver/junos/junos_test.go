package junos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/junos/junoslab"
)

const deviceName = "srx1.example.test"

// fixture is one emulated device and everything needed to open a session
// on it.
type fixture struct {
	dev    *junoslab.Device
	target driver.Target
	creds  driver.Credentials
	// knownHosts is the known_hosts file that holds the device's host key.
	knownHosts string
}

// newFixture starts an emulated device serving a certificate ca signed (or
// its system-generated one when ca is nil) and writes its host key to a
// known_hosts file. The login is a password unless cfg sets AuthorizedKey.
func newFixture(t testing.TB, ca *drivertest.TestCA, cfg junoslab.Config) *fixture {
	t.Helper()
	return newFixtureIn(t, ca, cfg, filepath.Join(t.TempDir(), "known_hosts"))
}

// newFixtureIn is newFixture adding the host key to knownHosts, which may
// hold other devices' keys already, as the file of a fleet does.
func newFixtureIn(t testing.TB, ca *drivertest.TestCA, cfg junoslab.Config, knownHosts string) *fixture {
	t.Helper()
	cfg.Name = deviceName
	cfg.Username = "ottr"
	if cfg.AuthorizedKey == nil && cfg.Password == "" {
		cfg.Password = "s3cret-Device-pw"
	}
	if ca != nil {
		cfg.InitialCertificate = initialCertificate(t, ca)
	}
	dev, err := junoslab.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	return &fixture{
		dev: dev,
		target: driver.Target{
			Asset: asset.Asset{
				SystemName:             deviceName,
				CommonName:             deviceName,
				SubjectAlternativeName: []string{deviceName},
				IPAddress:              "127.0.0.1",
				Port:                   portOf(t, dev.TLSAddr()),
			},
			Options: dev.RouteOptions(),
		},
		creds:      driver.Credentials{Username: "ottr", Password: cfg.Password},
		knownHosts: addKnownHost(t, knownHosts, dev.Addr(), dev.HostKey()),
	}
}

// driver returns a driver that verifies host keys against f's known_hosts
// file.
func (f *fixture) driver() *Driver {
	return New(Config{KnownHostsFile: f.knownHosts})
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func writeKnownHosts(t testing.TB, addr string, key ssh.PublicKey) string {
	t.Helper()
	return addKnownHost(t, filepath.Join(t.TempDir(), "known_hosts"), addr, key)
}

// addKnownHost appends addr's host key to file, creating it if need be.
func addKnownHost(t testing.TB, file, addr string, key ssh.PublicKey) string {
	t.Helper()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	out, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

// initialCertificate is a chain ca issued for the device, with its key, as
// the device serves it before any rotation.
func initialCertificate(t testing.TB, ca *drivertest.TestCA) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: deviceName}, DNSNames: []string{deviceName},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.Sign(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	out := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out
}

func newCA(t testing.TB) *drivertest.TestCA {
	t.Helper()
	ca, err := drivertest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func (f *fixture) open(t testing.TB, d *Driver) driver.Session {
	t.Helper()
	sess, err := d.Open(context.Background(), f.target, f.creds)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}

// issue has the device make an ECDSA CSR and signs it with ca.
func (f *fixture) issue(t testing.TB, sess driver.Session, ca *drivertest.TestCA) []*x509.Certificate {
	t.Helper()
	ctx := context.Background()
	csr, err := sess.GenerateCSR(ctx, driver.CSRRequest{
		CommonName: f.target.Asset.CommonName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyECDSA256,
	})
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	chain, err := ca.Sign(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func (f *fixture) served(t testing.TB) []*x509.Certificate {
	t.Helper()
	chain, err := drivertest.ServedChain(context.Background(), f.dev.TLSAddr(), deviceName)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// TestConformance runs the conformance suite, then the driver's Check, and
// fails on any RPC the devices saw that Requests does not list, and on any
// row of Requests no RPC matched.
func TestConformance(t *testing.T) {
	ca := newCA(t)
	var calls drivertest.CallLog
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	drivertest.Run(t, drivertest.Harness{
		Driver: New(Config{KnownHostsFile: knownHosts}),
		Sign:   ca.Sign,
		NewDevice: func(t *testing.T) *drivertest.Device {
			f := newFixtureIn(t, ca, junoslab.Config{}, knownHosts)
			calls.Add(f.dev.Calls)
			return &drivertest.Device{
				Target:      f.target,
				Credentials: f.creds,
				Served: func(ctx context.Context) ([]*x509.Certificate, error) {
					return drivertest.ServedChain(ctx, f.dev.TLSAddr(), deviceName)
				},
				PrivateKeyExported: f.dev.PrivateKeyExported,
				FailInstalls:       f.dev.FailInstalls,
				FailureMessage:     f.dev.FailureMessage(),
			}
		},
	})
	t.Run("Check reports the device", func(t *testing.T) {
		f := newFixture(t, ca, junoslab.Config{})
		calls.Add(f.dev.Calls)
		if _, err := f.open(t, f.driver()).(driver.Checker).Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
	t.Run("every RPC the driver sent is in its table", func(t *testing.T) {
		for _, r := range drivertest.RequireListed(t, Requests(), calls.Calls()) {
			t.Errorf("Requests lists %q, which the driver never sent: remove it or cover it", r.Call)
		}
	})
}
