package bigip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip/bigiplab"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
)

const (
	testName     = "bigip1.example.test"
	testUser     = "admin"
	testPassword = "Sup3r-secret.Pw"
)

// fixture is one emulated BIG-IP and what opens a session on it.
type fixture struct {
	dev    *bigiplab.Device
	ca     *drivertest.TestCA
	target driver.Target
	creds  driver.Credentials
}

// newFixture starts a device whose initial certificate (leaf and
// intermediate) comes from ca, and writes ca's root to the route's
// ca_file, so the driver verifies the API as it would in production.
func newFixture(t testing.TB, ca *drivertest.TestCA, cfg bigiplab.Config) *fixture {
	t.Helper()
	if ca == nil {
		ca = newCA(t)
	}
	cfg.Name = testName
	cfg.Username, cfg.Password = testUser, testPassword
	cfg.InitialCertificate = issueInitial(t, ca, testName)
	cfg.RecordRequests = true
	dev, err := bigiplab.Start(context.Background(), cfg)
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
				SystemName:             testName,
				CommonName:             testName,
				SubjectAlternativeName: []string{testName, "www.example.test"},
				IPAddress:              "127.0.0.1",
			},
			Options: options,
		},
		creds: driver.Credentials{Username: testUser, Password: testPassword},
	}
}

func newCA(t testing.TB) *drivertest.TestCA {
	t.Helper()
	ca, err := drivertest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issueInitial makes the device's factory certificate, signed by ca.
func issueInitial(t testing.TB, ca *drivertest.TestCA, name string) *tls.Certificate {
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

func (f *fixture) open(t testing.TB, d *Driver) driver.Session {
	t.Helper()
	sess, err := d.Open(context.Background(), f.target, f.creds)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	return sess
}

// issue has the device make a CSR and signs it with the fixture's CA.
func (f *fixture) issue(t testing.TB, sess driver.Session, keyType string) []*x509.Certificate {
	t.Helper()
	ctx := context.Background()
	csr, err := sess.GenerateCSR(ctx, driver.CSRRequest{
		CommonName: f.target.Asset.CommonName, DNSNames: f.target.Asset.Names(), KeyType: keyType,
	})
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	chain, err := f.ca.Sign(ctx, csr)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func (f *fixture) served(t testing.TB) []*x509.Certificate {
	t.Helper()
	chain, err := drivertest.ServedChain(context.Background(), f.dev.TLSAddr(), testName)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// requests returns the recorded requests whose method and path match
// (path: a prefix; empty: any).
func (f *fixture) requests(method, pathPrefix string) []bigiplab.Request {
	var out []bigiplab.Request
	for _, r := range f.dev.Requests() {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, pathPrefix) {
			out = append(out, r)
		}
	}
	return out
}

// jsonBody decodes a recorded request's body.
func jsonBody(t testing.TB, r bigiplab.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v", r.Method, r.Path, err)
	}
	return m
}

func sameChain(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
