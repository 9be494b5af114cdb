package rotation_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/sqlite"
	"github.com/ottr-go/ottr/internal/verify"
)

// fakeDevice is an in-memory device: it keeps its keys to itself and
// remembers what is installed.
type fakeDevice struct {
	mu         sync.Mutex
	key        crypto.Signer
	installed  []*x509.Certificate
	previous   []*x509.Certificate
	dropSAN    bool
	installErr error
	rollbacks  int
	csrs       int
}

type fakeDriver struct{ dev *fakeDevice }

func (d fakeDriver) Name() string { return "fake" }
func (d fakeDriver) Capabilities() driver.Capabilities {
	return driver.Capabilities{OnDeviceKey: true, Rollback: true, SANs: true, KeyTypes: []string{asset.KeyECDSA256}}
}
func (d fakeDriver) ValidateOptions(map[string]any) error { return nil }
func (d fakeDriver) Schema() driver.Schema                { return nil }
func (d fakeDriver) Open(context.Context, driver.Target, driver.Credentials) (driver.Session, error) {
	return d.dev, nil
}

func (f *fakeDevice) CurrentCertificate(context.Context) ([]*x509.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.installed, nil
}

func (f *fakeDevice) GenerateCSR(_ context.Context, r driver.CSRRequest) (*x509.CertificateRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.csrs++
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	f.key = key
	names := r.DNSNames
	if f.dropSAN {
		names = names[:1]
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: r.CommonName}, DNSNames: names}, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificateRequest(der)
}

func (f *fakeDevice) Install(_ context.Context, chain []*x509.Certificate) (driver.Installed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.installErr != nil {
		return nil, f.installErr
	}
	f.previous, f.installed = f.installed, chain
	return driver.Installed{"had_previous": "yes"}, nil
}

func (f *fakeDevice) Rollback(context.Context, driver.Installed) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollbacks++
	f.installed = f.previous
	return nil
}

func (f *fakeDevice) Close() error { return nil }

// finalizingDriver opens sessions that must be finalized after
// verification, as a device with commit confirmed does.
type finalizingDriver struct {
	fakeDriver
	finalizeErr error
	finalized   *[]driver.Installed
}

type finalizingSession struct {
	*fakeDevice
	d finalizingDriver
}

func (d finalizingDriver) Open(context.Context, driver.Target, driver.Credentials) (driver.Session, error) {
	return finalizingSession{d.dev, d}, nil
}

func (s finalizingSession) Finalize(_ context.Context, i driver.Installed) error {
	if s.d.finalizeErr != nil {
		return s.d.finalizeErr
	}
	*s.d.finalized = append(*s.d.finalized, i)
	return nil
}

// fakeCA signs CSRs directly and counts orders.
type fakeCA struct {
	key    *ecdsa.PrivateKey
	cert   *x509.Certificate
	orders atomic.Int32
	now    func() time.Time

	mu sync.Mutex
	// placed are the options of every order, refused ones included.
	placed []issuer.IssueOptions
	// ari, when set, is the CA's renewal information for every
	// certificate; nil: the CA has no ARI.
	ari *issuer.RenewalInfo
	// refuseReplaces answers an order naming a certificate in replaces
	// as Let's Encrypt does once that certificate was replaced.
	refuseReplaces bool
}

func newFakeCA(t *testing.T, now func() time.Time) *fakeCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Fake Root", Organization: []string{"Fake CA"}},
		NotBefore: now().Add(-time.Hour), NotAfter: now().Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &fakeCA{key: key, cert: cert, now: now}
}

func (c *fakeCA) Issue(_ context.Context, csr *x509.CertificateRequest, o issuer.IssueOptions) ([]*x509.Certificate, error) {
	c.mu.Lock()
	c.placed = append(c.placed, o)
	refuse := c.refuseReplaces && o.Replaces != ""
	c.mu.Unlock()
	if refuse {
		return nil, &issuer.RefusedError{CA: "test", Problem: issuer.Problem{Type: issuer.ProblemAlreadyReplaced, Status: 409,
			Detail: "certificate already has a replacement order"}}
	}
	n := c.orders.Add(1)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + n)), Subject: csr.Subject, DNSNames: csr.DNSNames,
		NotBefore: c.now().Add(-time.Minute), NotAfter: c.now().Add(90 * 24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{leaf, c.cert}, nil
}

func (c *fakeCA) RenewalWindow(context.Context, *x509.Certificate, *x509.Certificate) (issuer.RenewalInfo, error) {
	return c.RenewalInfo(context.Background(), "")
}

func (c *fakeCA) RenewalInfo(context.Context, string) (issuer.RenewalInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ari == nil {
		return issuer.RenewalInfo{}, issuer.ErrNoRenewalInfo
	}
	return *c.ari, nil
}

// orderOptions returns the options of every order placed so far.
func (c *fakeCA) orderOptions() []issuer.IssueOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]issuer.IssueOptions(nil), c.placed...)
}

type fixedRoutes struct{ ok bool }

func (f fixedRoutes) Match(asset.Asset) (route.Route, int, bool) {
	return route.Route{Name: "test", Driver: "fake"}, 0, f.ok
}

type harness struct {
	store  store.Store
	dev    *fakeDevice
	ca     *fakeCA
	runner *rotation.Runner
	deps   rotation.Deps
	served func() []*x509.Certificate
}

func newHarness(t *testing.T, mutate func(*rotation.Deps)) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ottr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now
	h := &harness{store: st, dev: &fakeDevice{}, ca: newFakeCA(t, now)}
	h.served = func() []*x509.Certificate {
		h.dev.mu.Lock()
		defer h.dev.mu.Unlock()
		return h.dev.installed
	}
	a := asset.Asset{SystemName: "fw1.example.com", CommonName: "fw1.example.com",
		SubjectAlternativeName: []string{"fw1.example.com", "vpn.example.com"}, CertificateAuthority: "test",
		HostPlatform: "fake", IPAddress: "192.0.2.1", Origin: "API"}
	if err := st.CreateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(h.ca.cert)
	h.deps = rotation.Deps{
		Store:   st,
		Drivers: driver.NewRegistry(fakeDriver{h.dev}),
		Routes:  fixedRoutes{ok: true},
		CAs: func(_ context.Context, name string) (*rotation.CAProfile, error) {
			return &rotation.CAProfile{Name: name, Issuer: h.ca, Roots: roots, MinLifetime: 24 * time.Hour}, nil
		},
		Credentials:    func(asset.Asset, route.Route) (driver.Credentials, error) { return driver.Credentials{}, nil },
		VerifyInterval: time.Millisecond,
		// What the fake device "serves" is what it has installed.
		Verify: func(_ context.Context, e verify.Expectation) (verify.Result, error) {
			served := h.served()
			if len(served) == 0 || served[0].SerialNumber.Cmp(e.Issued[0].SerialNumber) != 0 {
				return verify.Result{}, &verify.MismatchError{Check: "serial", Want: e.Issued[0].SerialNumber.String(), Got: "old"}
			}
			return verify.Result{Leaf: served[0], NotAfter: served[0].NotAfter, Serial: served[0].SerialNumber.Text(16), Issuer: "Fake Root"}, nil
		},
	}
	if mutate != nil {
		mutate(&h.deps)
	}
	if h.runner, err = rotation.NewRunner(h.deps); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRotation(t *testing.T) {
	ctx := context.Background()

	t.Run("a rotation journals every step and records the served certificate", func(t *testing.T) {
		h := newHarness(t, nil)
		rot, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		rot, err = h.runner.Run(ctx, rot.ID)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		if rot.State != store.StateSucceeded {
			t.Fatalf("state = %s, want succeeded (error %q)", rot.State, rot.Error)
		}
		var steps []rotation.Step
		for _, e := range rot.Journal {
			steps = append(steps, rotation.Step(e.Step))
		}
		if want := rotation.Steps(); !slices.Equal(steps, want) {
			t.Errorf("journal steps = %v, want %v", steps, want)
		}
		a, err := h.store.GetAsset(ctx, "fw1.example.com")
		if err != nil {
			t.Fatal(err)
		}
		served := h.served()[0]
		if a.CertificateExpiration == nil || !a.CertificateExpiration.Equal(served.NotAfter.Truncate(time.Second)) {
			t.Errorf("recorded expiry %v, want the served %v", a.CertificateExpiration, served.NotAfter)
		}
		if a.CertificateSerial != served.SerialNumber.Text(16) || !a.CertificateValidation || a.LastRotation == nil {
			t.Errorf("asset not updated from the served certificate: %+v", a)
		}
		if a.RenewalTime == nil || !a.RenewalTime.After(time.Now()) {
			t.Errorf("renewal time %v should be in the future", a.RenewalTime)
		}
	})

	t.Run("a verified install is finalized with its install handle", func(t *testing.T) {
		var finalized []driver.Installed
		h := newHarness(t, nil)
		h.deps.Drivers = driver.NewRegistry(finalizingDriver{fakeDriver: fakeDriver{h.dev}, finalized: &finalized})
		runner, err := rotation.NewRunner(h.deps)
		if err != nil {
			t.Fatal(err)
		}
		rot, _ := runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		rot, err = runner.Run(ctx, rot.ID)
		if err != nil || rot.State != store.StateSucceeded {
			t.Fatalf("run: state %s, err %v", rot.State, err)
		}
		if len(finalized) != 1 || finalized[0]["had_previous"] != "yes" {
			t.Errorf("Finalize calls = %v, want one with the install handle", finalized)
		}
	})

	t.Run("a failed finalize rolls the install back", func(t *testing.T) {
		var finalized []driver.Installed
		h := newHarness(t, nil)
		h.deps.Drivers = driver.NewRegistry(finalizingDriver{fakeDriver: fakeDriver{h.dev}, finalized: &finalized,
			finalizeErr: errors.New("commit confirm failed: configuration database locked")})
		runner, err := rotation.NewRunner(h.deps)
		if err != nil {
			t.Fatal(err)
		}
		rot, _ := runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		rot, err = runner.Run(ctx, rot.ID)
		if rot.State != store.StateRolledBack || h.dev.rollbacks != 1 {
			t.Fatalf("state %s after %d rollbacks (err %v), want rolled_back after 1", rot.State, h.dev.rollbacks, err)
		}
		if !strings.Contains(rot.Error, "configuration database locked") {
			t.Errorf("rotation error %q does not carry the device's message", rot.Error)
		}
	})

	t.Run("a device that does not serve the new certificate is rolled back", func(t *testing.T) {
		h := newHarness(t, func(d *rotation.Deps) {
			d.Verify = func(context.Context, verify.Expectation) (verify.Result, error) {
				return verify.Result{}, &verify.MismatchError{Check: "serial", Want: "new", Got: "old"}
			}
		})
		rot, _ := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		rot, err := h.runner.Run(ctx, rot.ID)
		var failure *rotation.Failure
		if !errors.As(err, &failure) {
			t.Fatalf("want a *rotation.Failure, got %v", err)
		}
		if rot.State != store.StateRolledBack || h.dev.rollbacks != 1 {
			t.Fatalf("state %s after %d rollbacks, want rolled_back after 1", rot.State, h.dev.rollbacks)
		}
		if !strings.Contains(rot.Error, "verify") {
			t.Errorf("error %q should name the verify step", rot.Error)
		}
		a, _ := h.store.GetAsset(ctx, "fw1.example.com")
		if a.FailureCount != 1 || a.NextAttemptAt == nil || !a.NextAttemptAt.After(time.Now()) {
			t.Errorf("failure not recorded for backoff: count %d, next %v", a.FailureCount, a.NextAttemptAt)
		}
	})

	t.Run("a CSR without a requested SAN fails before anything is ordered", func(t *testing.T) {
		h := newHarness(t, nil)
		h.dev.dropSAN = true
		rot, _ := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		rot, err := h.runner.Run(ctx, rot.ID)
		if err == nil || rot.State != store.StateFailed {
			t.Fatalf("want failure, got state %s err %v", rot.State, err)
		}
		if !strings.Contains(rot.Error, "vpn.example.com") {
			t.Errorf("error %q should name the missing SAN", rot.Error)
		}
		if n := h.ca.orders.Load(); n != 0 {
			t.Errorf("%d orders placed for a bad CSR, want 0", n)
		}
	})

	t.Run("a process that dies after issue resumes without ordering again", func(t *testing.T) {
		h := newHarness(t, nil)
		rot, _ := h.runner.Create(ctx, "fw1.example.com", store.TriggerSchedule, false, nil)

		// First process: dies (its context ends) as soon as issue is journaled.
		dying, die := context.WithCancel(ctx)
		deps := h.deps
		deps.Observer = func(e rotation.Event) {
			if e.Step == rotation.StepIssue && e.Phase == rotation.PhaseDone {
				die()
			}
		}
		first, err := rotation.NewRunner(deps)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := first.Run(dying, rot.ID); err == nil {
			t.Fatal("the interrupted run reported success")
		}
		mid, _ := h.store.GetRotation(ctx, rot.ID)
		if mid.State != store.StateRunning {
			t.Fatalf("interrupted rotation is %s, want it left running for resume", mid.State)
		}

		// Second process resumes.
		var skipped []rotation.Step
		deps.Observer = func(e rotation.Event) {
			if e.Phase == rotation.PhaseSkip {
				skipped = append(skipped, e.Step)
			}
		}
		second, _ := rotation.NewRunner(deps)
		done, err := second.Run(ctx, rot.ID)
		if err != nil || done.State != store.StateSucceeded {
			t.Fatalf("resume: state %s, err %v", done.State, err)
		}
		if n := h.ca.orders.Load(); n != 1 {
			t.Errorf("the CA saw %d orders, want 1", n)
		}
		if h.dev.csrs != 1 {
			t.Errorf("the device generated %d CSRs, want 1", h.dev.csrs)
		}
		if want := []rotation.Step{rotation.StepPreflight, rotation.StepCSR, rotation.StepIssue}; !slices.Equal(skipped, want) {
			t.Errorf("resume skipped %v, want %v", skipped, want)
		}
		if done.Attempts != 2 {
			t.Errorf("attempts = %d, want 2", done.Attempts)
		}
	})

	t.Run("a scheduled rotation of a certificate renewed meanwhile orders nothing", func(t *testing.T) {
		h := newHarness(t, nil)
		a, _ := h.store.GetAsset(ctx, "fw1.example.com")
		issued, expires := time.Now().Add(-time.Hour).UTC(), time.Now().Add(90*24*time.Hour).UTC()
		a.CertificateNotBefore, a.CertificateExpiration = &issued, &expires
		if err := h.store.UpdateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
		rot, _ := h.runner.Create(ctx, "fw1.example.com", store.TriggerSchedule, false, nil)
		rot, err := h.runner.Run(ctx, rot.ID)
		if err != nil || rot.State != store.StateSucceeded {
			t.Fatalf("state %s, err %v", rot.State, err)
		}
		if len(rot.Journal) != 0 || h.ca.orders.Load() != 0 || h.dev.csrs != 0 {
			t.Errorf("a stale rotation did work: journal %d steps, %d orders, %d CSRs", len(rot.Journal), h.ca.orders.Load(), h.dev.csrs)
		}
	})

	t.Run("an asset with no route cannot get a rotation", func(t *testing.T) {
		h := newHarness(t, func(d *rotation.Deps) { d.Routes = fixedRoutes{ok: false} })
		_, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		if !errors.Is(err, rotation.ErrNoRoute) {
			t.Fatalf("want ErrNoRoute, got %v", err)
		}
	})

	t.Run("a second rotation for a device with one active is refused", func(t *testing.T) {
		h := newHarness(t, nil)
		if _, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil); err != nil {
			t.Fatal(err)
		}
		_, err := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("want ErrConflict, got %v", err)
		}
	})

	t.Run("an install failure is recorded with the device's message", func(t *testing.T) {
		h := newHarness(t, nil)
		h.dev.installErr = errors.New("nginx: [emerg] cannot load certificate")
		rot, _ := h.runner.Create(ctx, "fw1.example.com", store.TriggerManual, false, nil)
		rot, _ = h.runner.Run(ctx, rot.ID)
		if rot.State != store.StateFailed || !strings.Contains(rot.Error, "cannot load certificate") {
			t.Fatalf("state %s error %q", rot.State, rot.Error)
		}
		full, _ := h.store.GetRotation(ctx, rot.ID)
		if len(full.Log) == 0 {
			t.Error("the rotation log is empty")
		}
	})
}
