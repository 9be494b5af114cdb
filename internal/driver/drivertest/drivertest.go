// Package drivertest is the conformance suite every driver runs against an
// emulator of its device: the CSR carries what was asked, no private key
// leaves the device, an installed chain is what the device serves, rollback
// brings the old certificate back, installs can be repeated, errors never
// carry credentials, and no credential follows a redirect.
package drivertest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Harness tells Run how to exercise one driver.
type Harness struct {
	// Driver is the driver under test.
	Driver driver.Driver
	// NewDevice starts a fresh emulated device for one check and arranges
	// (t.Cleanup) for it to stop.
	NewDevice func(t *testing.T) *Device
	// Sign turns a CSR into a chain, leaf first. Nil: a TestCA made for
	// the run signs.
	Sign func(ctx context.Context, csr *x509.CertificateRequest) ([]*x509.Certificate, error)
	// AimAt returns a device's target pointed at e instead: its address,
	// port or endpoint, and a ca_file that trusts e. Drivers that speak
	// HTTP set it (AimByAPIPort suits most), so the suite checks that no
	// credential follows a redirect (RunRedirects); nil skips that check.
	AimAt func(target driver.Target, e Endpoint) driver.Target
}

// Device is one running emulated device, as the suite sees it.
type Device struct {
	// Target and Credentials open a session on the device. The asset must
	// have a common name; its SANs are requested too.
	Target      driver.Target
	Credentials driver.Credentials
	// Served dials the device's TLS endpoint and returns the chain it
	// presents, leaf first (ServedChain does this for an address).
	Served func(ctx context.Context) ([]*x509.Certificate, error)
	// PrivateKeyExported reports whether the device ever sent a private
	// key to its client.
	PrivateKeyExported func() bool
	// FailInstalls, when set, makes the device's installs fail (true) or
	// work (false), so the suite can check that a failed install leaves
	// the previous certificate served.
	FailInstalls func(fail bool)
	// FailureMessage is text the device's failure message contains; a
	// failed install's error must carry it.
	FailureMessage string
}

// timeout bounds each check; RSA-4096 generation on a busy machine is the
// slowest step.
const timeout = 3 * time.Minute

// Run runs the conformance checks, each as a subtest on its own device.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Driver == nil || h.NewDevice == nil {
		t.Fatal("drivertest: Harness needs Driver and NewDevice")
	}
	if h.Sign == nil {
		ca, err := NewTestCA()
		if err != nil {
			t.Fatal(err)
		}
		h.Sign = ca.Sign
	}
	s := &suite{h: h}
	t.Run("describes itself with supported key types only", s.capabilities)
	t.Run("accepts the route options of its device", s.options)
	t.Run("reports the certificate the device serves", s.currentCertificate)
	t.Run("generates a CSR with the requested names for every key type", s.csrPerKeyType)
	t.Run("installs a chain that the device then serves", s.install)
	t.Run("installing the same chain twice is harmless and still rolls back", s.reinstall)
	t.Run("rollback brings back the previous certificate, twice over", s.rollback)
	t.Run("a new session rolls back with the handle of an earlier one", s.rollbackFromNewSession)
	t.Run("finalizing keeps the new certificate served and can be repeated", s.finalize)
	t.Run("wrong credentials fail without the secret in the error", s.wrongCredentials)
	t.Run("a failed install keeps the previous certificate served", s.failedInstall)
	t.Run("no credential follows a redirect", s.redirects)
}

type suite struct{ h Harness }

// device is a started device with an open session.
type device struct {
	*Device
	sess driver.Session
}

func (s *suite) open(ctx context.Context, t *testing.T) *device {
	t.Helper()
	d := s.h.NewDevice(t)
	if d.Target.Asset.CommonName == "" {
		t.Fatal("drivertest: the device's asset has no common name")
	}
	sess, err := s.h.Driver.Open(ctx, d.Target, d.Credentials)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	dev := &device{Device: d, sess: sess}
	t.Cleanup(func() {
		if d.PrivateKeyExported != nil && d.PrivateKeyExported() {
			t.Error("a private key left the device")
		}
	})
	return dev
}

// checkContext returns the context of one check, ended with the test.
func checkContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) request(d *device, keyType string) driver.CSRRequest {
	a := d.Target.Asset
	return driver.CSRRequest{CommonName: a.CommonName, DNSNames: a.Names(), KeyType: keyType}
}

// keyType picks the key type installs use: the cheapest the driver offers.
func (s *suite) keyType() string {
	types := s.h.Driver.Capabilities().KeyTypes
	for _, kt := range []string{asset.KeyECDSA256, asset.KeyECDSA384, asset.KeyRSA2048} {
		if slices.Contains(types, kt) {
			return kt
		}
	}
	if len(types) > 0 {
		return types[0]
	}
	return asset.KeyECDSA256
}

// issue has the device make a CSR and signs it.
func (s *suite) issue(ctx context.Context, t *testing.T, d *device) []*x509.Certificate {
	t.Helper()
	csr, err := d.sess.GenerateCSR(ctx, s.request(d, s.keyType()))
	if err != nil {
		t.Fatalf("GenerateCSR: %v", err)
	}
	chain, err := s.h.Sign(ctx, csr)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return chain
}

func (s *suite) served(ctx context.Context, t *testing.T, d *device) []*x509.Certificate {
	t.Helper()
	chain, err := d.Served(ctx)
	if err != nil {
		t.Fatalf("reading what the device serves: %v", err)
	}
	if len(chain) == 0 {
		t.Fatal("the device serves no certificate")
	}
	return chain
}

func (s *suite) capabilities(t *testing.T) {
	if s.h.Driver.Name() == "" {
		t.Error("Name is empty")
	}
	caps := s.h.Driver.Capabilities()
	if len(caps.KeyTypes) == 0 {
		t.Error("Capabilities lists no key types")
	}
	for _, kt := range caps.KeyTypes {
		if !slices.Contains(asset.KeyTypes(), kt) {
			t.Errorf("Capabilities lists key type %q, which is not one of %v", kt, asset.KeyTypes())
		}
	}
}

func (s *suite) options(t *testing.T) {
	d := s.h.NewDevice(t)
	if err := s.h.Driver.ValidateOptions(d.Target.Options); err != nil {
		t.Errorf("ValidateOptions rejects the device's own options: %v", err)
	}
}

func (s *suite) currentCertificate(t *testing.T) {
	ctx := checkContext(t)
	d := s.open(ctx, t)
	current, err := d.sess.CurrentCertificate(ctx)
	if err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}
	served := s.served(ctx, t, d)
	if len(current) == 0 {
		t.Fatal("CurrentCertificate returned nothing, but the device serves a certificate")
	}
	if !current[0].Equal(served[0]) {
		t.Errorf("CurrentCertificate returned %s, the device serves %s", describe(current[0]), describe(served[0]))
	}
}

func (s *suite) csrPerKeyType(t *testing.T) {
	ctx := checkContext(t)
	d := s.open(ctx, t)
	for _, kt := range s.h.Driver.Capabilities().KeyTypes {
		r := s.request(d, kt)
		csr, err := d.sess.GenerateCSR(ctx, r)
		if err != nil {
			t.Errorf("GenerateCSR(%s): %v", kt, err)
			continue
		}
		if err := csr.CheckSignature(); err != nil {
			t.Errorf("%s: the CSR's signature does not verify: %v", kt, err)
		}
		if csr.Subject.CommonName != r.CommonName {
			t.Errorf("%s: the CSR's common name is %q, want %q", kt, csr.Subject.CommonName, r.CommonName)
		}
		if s.h.Driver.Capabilities().SANs {
			for _, n := range r.DNSNames {
				if !slices.Contains(csr.DNSNames, n) {
					t.Errorf("%s: the CSR lacks SAN %s (it has %v)", kt, n, csr.DNSNames)
				}
			}
		}
		if got := keyTypeOf(csr.PublicKey); got != kt {
			t.Errorf("the CSR for %s holds a %s key", kt, got)
		}
	}
}

func (s *suite) install(t *testing.T) {
	ctx := checkContext(t)
	d := s.open(ctx, t)
	chain := s.issue(ctx, t, d)
	if _, err := d.sess.Install(ctx, chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	served := s.served(ctx, t, d)
	if !sameChain(served, chain) {
		t.Errorf("after Install the device serves %s, want %s", describeChain(served), describeChain(chain))
	}
	current, err := d.sess.CurrentCertificate(ctx)
	if err != nil {
		t.Fatalf("CurrentCertificate after Install: %v", err)
	}
	if len(current) == 0 || !current[0].Equal(chain[0]) {
		t.Errorf("after Install CurrentCertificate returns %s, want %s", describeChain(current), describe(chain[0]))
	}
}

func (s *suite) reinstall(t *testing.T) {
	ctx := checkContext(t)
	d := s.open(ctx, t)
	old := s.served(ctx, t, d)
	chain := s.issue(ctx, t, d)
	if _, err := d.sess.Install(ctx, chain); err != nil {
		t.Fatalf("first Install: %v", err)
	}
	// A rotation resumed after a crash repeats Install and journals only
	// the second handle, so that handle must still lead back to the
	// certificate from before the first.
	second, err := d.sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("second Install of the same chain: %v", err)
	}
	if served := s.served(ctx, t, d); !sameChain(served, chain) {
		t.Errorf("after the second Install the device serves %s, want %s", describeChain(served), describeChain(chain))
	}
	if !s.h.Driver.Capabilities().Rollback {
		return
	}
	if err := d.sess.Rollback(ctx, second); err != nil {
		t.Fatalf("Rollback with the second Install's handle: %v", err)
	}
	if served := s.served(ctx, t, d); !served[0].Equal(old[0]) {
		t.Errorf("after Rollback the device serves %s, want the original %s", describe(served[0]), describe(old[0]))
	}
}

func (s *suite) rollback(t *testing.T) {
	if !s.h.Driver.Capabilities().Rollback {
		t.Skip("the driver does not roll back")
	}
	ctx := checkContext(t)
	d := s.open(ctx, t)
	old := s.served(ctx, t, d)
	chain := s.issue(ctx, t, d)
	installed, err := d.sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	for i := 1; i <= 2; i++ {
		if err := d.sess.Rollback(ctx, installed); err != nil {
			t.Fatalf("Rollback #%d: %v", i, err)
		}
		if served := s.served(ctx, t, d); !sameChain(served, old) {
			t.Errorf("after Rollback #%d the device serves %s, want the original %s", i, describeChain(served), describeChain(old))
		}
	}
}

// rollbackFromNewSession is a rotation resumed in another process: the
// handle comes from the journal, the session is new.
func (s *suite) rollbackFromNewSession(t *testing.T) {
	if !s.h.Driver.Capabilities().Rollback {
		t.Skip("the driver does not roll back")
	}
	ctx := checkContext(t)
	d := s.open(ctx, t)
	old := s.served(ctx, t, d)
	chain := s.issue(ctx, t, d)
	installed, err := d.sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := d.sess.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sess, err := s.h.Driver.Open(ctx, d.Target, d.Credentials)
	if err != nil {
		t.Fatalf("Open a second session: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	if err := sess.Rollback(ctx, cloneHandle(installed)); err != nil {
		t.Fatalf("Rollback in a new session: %v", err)
	}
	if served := s.served(ctx, t, d); !sameChain(served, old) {
		t.Errorf("after Rollback in a new session the device serves %s, want the original %s", describeChain(served), describeChain(old))
	}
}

// finalize runs only for sessions that are driver.Finalizers.
func (s *suite) finalize(t *testing.T) {
	ctx := checkContext(t)
	d := s.open(ctx, t)
	f, ok := d.sess.(driver.Finalizer)
	if !ok {
		t.Skip("the driver's sessions have nothing to finalize")
	}
	chain := s.issue(ctx, t, d)
	installed, err := d.sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	for i := 1; i <= 2; i++ {
		if err := f.Finalize(ctx, cloneHandle(installed)); err != nil {
			t.Fatalf("Finalize #%d: %v", i, err)
		}
		if served := s.served(ctx, t, d); !sameChain(served, chain) {
			t.Errorf("after Finalize #%d the device serves %s, want %s", i, describeChain(served), describeChain(chain))
		}
	}
}

// cloneHandle copies a handle as the journal would hand it back.
func cloneHandle(i driver.Installed) driver.Installed {
	out := make(driver.Installed, len(i))
	for k, v := range i {
		out[k] = v
	}
	return out
}

func (s *suite) wrongCredentials(t *testing.T) {
	ctx := checkContext(t)
	d := s.h.NewDevice(t)
	secret := make([]byte, 12)
	_, _ = rand.Read(secret)
	wrong := driver.Credentials{
		Username: d.Credentials.Username,
		Password: "ottr-wrong-" + hex.EncodeToString(secret),
	}
	var err error
	sess, err := s.h.Driver.Open(ctx, d.Target, wrong)
	if err == nil {
		// Drivers that log in lazily fail at the first call instead.
		_, err = sess.CurrentCertificate(ctx)
		_ = sess.Close()
	}
	if err == nil {
		t.Fatal("a session with a wrong password worked")
	}
	msg := err.Error()
	for _, leaked := range []string{wrong.Password, d.Credentials.Password} {
		if leaked != "" && strings.Contains(msg, leaked) {
			t.Errorf("the error carries the password: %v", err)
		}
	}
	if len(d.Credentials.PrivateKey) > 0 && strings.Contains(msg, string(d.Credentials.PrivateKey)) {
		t.Errorf("the error carries the private key")
	}
}

func (s *suite) failedInstall(t *testing.T) {
	ctx := checkContext(t)
	d := s.open(ctx, t)
	if d.FailInstalls == nil {
		t.Skip("the device has no fault knob")
	}
	old := s.served(ctx, t, d)
	chain := s.issue(ctx, t, d)
	d.FailInstalls(true)
	_, err := d.sess.Install(ctx, chain)
	d.FailInstalls(false)
	if err == nil {
		t.Fatal("Install succeeded on a device set to fail")
	}
	if d.FailureMessage != "" && !strings.Contains(err.Error(), d.FailureMessage) {
		t.Errorf("the error does not carry the device's message %q: %v", d.FailureMessage, err)
	}
	if served := s.served(ctx, t, d); !sameChain(served, old) {
		t.Errorf("after a failed Install the device serves %s, want the original %s", describeChain(served), describeChain(old))
	}
	// The key the CSR was made for is still there: the same chain installs
	// once the device works again.
	if _, err := d.sess.Install(ctx, chain); err != nil {
		t.Fatalf("Install of the same chain after the fault cleared: %v", err)
	}
	if served := s.served(ctx, t, d); !sameChain(served, chain) {
		t.Errorf("after the retried Install the device serves %s, want %s", describeChain(served), describeChain(chain))
	}
}

// keyTypeOf names pub in asset key type terms.
func keyTypeOf(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return asset.KeyECDSA256
		case elliptic.P384():
			return asset.KeyECDSA384
		}
		return "ecdsa-" + k.Curve.Params().Name
	default:
		return fmt.Sprintf("%T", pub)
	}
}

func sameChain(a, b []*x509.Certificate) bool {
	return slices.EqualFunc(a, b, func(x, y *x509.Certificate) bool { return bytes.Equal(x.Raw, y.Raw) })
}

func describe(c *x509.Certificate) string {
	return fmt.Sprintf("%q (serial %x, issuer %q)", c.Subject.CommonName, c.SerialNumber, c.Issuer.CommonName)
}

func describeChain(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return "nothing"
	}
	parts := make([]string, len(chain))
	for i, c := range chain {
		parts[i] = describe(c)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
