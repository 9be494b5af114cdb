package lighthouse

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/lighthouse/lighthouselab"
)

const (
	applianceName = "lh1.example.test"
	adminUser     = "admin"
	adminPassword = "Lighthouse-Pa55word"
)

// fixture is one emulated appliance whose certificate the test CA signed,
// and everything needed to open a session on it.
type fixture struct {
	dev    *lighthouselab.Device
	ca     *drivertest.TestCA
	target driver.Target
	creds  driver.Credentials
}

func newCA(t testing.TB) *drivertest.TestCA {
	t.Helper()
	ca, err := drivertest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// newFixture starts an appliance serving a certificate of ca and writes
// ca's root to the route's ca_file.
func newFixture(t testing.TB, ca *drivertest.TestCA, cfg lighthouselab.Config) *fixture {
	t.Helper()
	ctx := context.Background()
	initial, err := ca.Certificate(ctx, applianceName)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = applianceName
	cfg.Username, cfg.Password = adminUser, adminPassword
	cfg.InitialCertificate = initial
	dev, err := lighthouselab.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })

	caFile := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	options := dev.RouteOptions()
	options["ca_file"] = caFile
	return &fixture{
		dev: dev,
		ca:  ca,
		target: driver.Target{
			Asset: asset.Asset{
				SystemName:             applianceName,
				CommonName:             applianceName,
				SubjectAlternativeName: []string{applianceName, "console.example.test"},
				IPAddress:              "127.0.0.1",
				Port:                   dev.APIPort(),
			},
			Options: options,
		},
		creds: driver.Credentials{Username: adminUser, Password: adminPassword},
	}
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

// issue has the appliance make a CSR and signs it with ca.
func (f *fixture) issue(t testing.TB, sess driver.Session, ca *drivertest.TestCA) []*x509.Certificate {
	t.Helper()
	ctx := context.Background()
	csr, err := sess.GenerateCSR(ctx, driver.CSRRequest{
		CommonName: f.target.Asset.CommonName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyRSA2048,
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

// TestConformance runs the conformance suite, then the driver's Check, and
// fails on any request the devices saw that Requests does not list, and on
// any row of Requests no request matched.
func TestConformance(t *testing.T) {
	ca := newCA(t)
	var calls drivertest.CallLog
	drivertest.Run(t, drivertest.Harness{
		Driver: New(Config{}),
		Sign:   ca.Sign,
		AimAt:  drivertest.AimByAPIPort,
		NewDevice: func(t *testing.T) *drivertest.Device {
			f := newFixture(t, ca, lighthouselab.Config{})
			calls.Add(f.dev.Calls)
			return &drivertest.Device{
				Target:      f.target,
				Credentials: f.creds,
				Served: func(ctx context.Context) ([]*x509.Certificate, error) {
					return drivertest.ServedChain(ctx, f.dev.TLSAddr(), applianceName)
				},
				PrivateKeyExported: f.dev.PrivateKeyExported,
				FailInstalls:       f.dev.FailInstalls,
				FailureMessage:     f.dev.FailureMessage(),
			}
		},
	})
	t.Run("Check reports a device with a pending CSR", func(t *testing.T) {
		f := newFixture(t, ca, lighthouselab.Config{})
		calls.Add(f.dev.Calls)
		sess := f.open(t, New(Config{}))
		f.issue(t, sess, ca)
		if _, err := sess.(driver.Checker).Check(context.Background()); err != nil {
			t.Fatalf("Check: %v", err)
		}
	})
	t.Run("every request the driver sent is in its table", func(t *testing.T) {
		for _, r := range drivertest.RequireListed(t, Requests(), calls.Calls()) {
			t.Errorf("Requests lists %q, which the driver never sent: remove it or cover it", r.Call)
		}
	})
}

// logRecorder is a slog handler that keeps messages.
type logRecorder struct {
	mu       sync.Mutex
	messages []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.messages = append(l.messages, r.Message)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

func (l *logRecorder) count(message string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.messages {
		if m == message {
			n++
		}
	}
	return n
}

func TestInstallWaitsUntilTheRestartedWebServerServesTheNewCertificate(t *testing.T) {
	// Away for many poll intervals, so the driver is seen polling while it
	// is away even when a loaded machine stalls it.
	f := newFixture(t, newCA(t), lighthouselab.Config{RestartMin: 3 * time.Second, RestartMax: 3500 * time.Millisecond})
	logs := &logRecorder{}
	sess := f.open(t, New(Config{Logger: slog.New(logs)}))
	chain := f.issue(t, sess, f.ca)

	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	// No retry here: when Install returns, the web server is back.
	served, err := drivertest.ServedChain(context.Background(), f.dev.TLSAddr(), applianceName)
	if err != nil {
		t.Fatalf("the appliance is not serving right after Install returned: %v", err)
	}
	if !served[0].Equal(chain[0]) {
		t.Errorf("right after Install the appliance serves serial %x, want %x", served[0].SerialNumber, chain[0].SerialNumber)
	}
	if got := f.dev.Restarts(); got != 1 {
		t.Errorf("the web server restarted %d times, want 1", got)
	}
	if polls := logs.count("lighthouse: waiting for the web server"); polls < 2 {
		t.Errorf("the driver polled %d times while the web server was away; a wait by polling needs several", polls)
	}
	// The session survives the restart.
	if _, err := sess.CurrentCertificate(context.Background()); err != nil {
		t.Errorf("CurrentCertificate after the restart: %v", err)
	}
}

func TestInstallGivesUpWhenTheWebServerStaysAwayPastRestartTimeout(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{RestartMin: time.Hour, RestartMax: time.Hour})
	// Long enough for several attempts on a loaded machine, so the error
	// ends with the last one's reason.
	f.target.Options["restart_timeout"] = "2s"
	f.target.Options["restart_settle"] = "100ms"
	sess := f.open(t, New(Config{}))
	chain := f.issue(t, sess, f.ca)

	_, err := sess.Install(context.Background(), chain)
	if err == nil {
		t.Fatal("Install succeeded while the web server was away")
	}
	for _, want := range []string{"lighthouse: install: ", "did not serve the new certificate within 2s (restart_timeout)", "dial tcp"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestInstallHonoursCancellationWhileWaiting(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{RestartMin: time.Hour, RestartMax: time.Hour})
	sess := f.open(t, New(Config{}))
	chain := f.issue(t, sess, f.ca)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logRecorder{}
	sess.(*session).log = slog.New(cancelOnLog{logs, "lighthouse: waiting for the web server", cancel})

	_, err := sess.Install(ctx, chain)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Install error = %v, want context.Canceled", err)
	}
}

// cancelOnLog cancels a context when a given message is logged.
type cancelOnLog struct {
	*logRecorder
	message string
	cancel  context.CancelFunc
}

func (c cancelOnLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == c.message {
		c.cancel()
	}
	return c.logRecorder.Handle(ctx, r)
}

func TestSecretsStayOutOfURLs(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	chain := f.issue(t, sess, f.ca)
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := sess.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	var tokens []string
	for _, r := range f.dev.Requests() {
		if r.Method == "POST" && r.URL == lighthouselab.APIBase+"/sessions" {
			if r.Header.Get("Authorization") != "" {
				t.Error("the login sent an Authorization header")
			}
			continue
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Token ")
		if !ok || token == "" {
			t.Errorf("%s %s carries no \"Authorization: Token\" header", r.Method, r.URL)
			continue
		}
		tokens = append(tokens, token)
	}
	if len(tokens) == 0 {
		t.Fatal("no authenticated request was recorded")
	}
	for _, r := range f.dev.Requests() {
		if strings.Contains(r.URL, adminPassword) {
			t.Errorf("the password is in the URL of %s %s", r.Method, r.URL)
		}
		for _, token := range tokens {
			// The documented logout, DELETE /sessions/{id}, is the one
			// place the API wants the session in a path.
			if strings.Contains(r.URL, token) && !(r.Method == "DELETE" && r.URL == lighthouselab.APIBase+"/sessions/"+token) {
				t.Errorf("the session token is in the URL of %s %s", r.Method, r.URL)
			}
		}
	}
	if f.dev.Sessions() != 0 {
		t.Errorf("%d sessions are still open after Close", f.dev.Sessions())
	}
}

func TestCloseOnAStoppedApplianceKeepsTheTokenOutOfTheError(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	token := sess.(*session).client.token
	_ = f.dev.Close()
	err := sess.Close()
	if err == nil {
		t.Fatal("Close on a stopped appliance succeeded")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the error carries the session token: %v", err)
	}
	if !strings.Contains(err.Error(), "DELETE /sessions/{session}") {
		t.Errorf("error %q does not say which call failed", err)
	}
}

func TestApplianceErrorsReachTheCaller(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  lighthouselab.Config
		run  func(t *testing.T, f *fixture) error
		want []string
	}{
		{
			name: "a wrong password is refused with the appliance's message",
			run: func(t *testing.T, f *fixture) error {
				f.creds.Password = "not-the-password"
				_, err := New(Config{}).Open(context.Background(), f.target, f.creds)
				return err
			},
			want: []string{"lighthouse: open: log in to 127.0.0.1:", `as "admin"`, "Invalid login credentials (code 41) (HTTP 401)"},
		},
		{
			name: "a CSR form without the SAN field names the refused parameter",
			cfg:  lighthouselab.Config{NoSANField: true},
			run: func(t *testing.T, f *fixture) error {
				_, err := f.open(t, New(Config{})).GenerateCSR(context.Background(), driver.CSRRequest{
					CommonName: applianceName, DNSNames: []string{applianceName}, KeyType: asset.KeyRSA2048,
				})
				return err
			},
			want: []string{"lighthouse: csr: ask the appliance for a new key and CSR: PUT /services/https: ",
				"Invalid parameter 'subject_alternative_names' was provided. (code 48) (HTTP 400)",
				"set the route option sans: false"},
		},
		{
			name: "a refused upload carries the appliance's messages",
			run: func(t *testing.T, f *fixture) error {
				sess := f.open(t, New(Config{}))
				chain := f.issue(t, sess, f.ca)
				f.dev.FailInstalls(true)
				_, err := sess.Install(context.Background(), chain)
				return err
			},
			want: []string{"lighthouse: install: upload the certificate: PUT /services/https: ",
				"Unable to apply the HTTPS certificate", "Push command failed (code 33) (HTTP 500)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newCA(t), tc.cfg)
			err := tc.run(t, f)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), adminPassword) {
				t.Error("the error carries the password")
			}
		})
	}
}

func TestSANsFalseServesReleasesWithoutTheSANField(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{NoSANField: true})
	f.target.Options["sans"] = false

	t.Run("an asset named by its CN alone rotates", func(t *testing.T) {
		f.target.Asset.SubjectAlternativeName = []string{applianceName}
		sess := f.open(t, New(Config{}))
		csr, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
			CommonName: applianceName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyRSA2048,
		})
		if err != nil {
			t.Fatalf("GenerateCSR: %v", err)
		}
		if len(csr.DNSNames) != 0 {
			t.Errorf("the CSR has SANs %v", csr.DNSNames)
		}
		// ACME CAs certify the CN as a SAN when the CSR has none.
		csr.DNSNames = []string{csr.Subject.CommonName}
		chain, err := f.ca.Sign(context.Background(), csr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Install(context.Background(), chain); err != nil {
			t.Fatalf("Install: %v", err)
		}
	})
	t.Run("an asset with more names is refused before the appliance is asked", func(t *testing.T) {
		f.target.Asset.SubjectAlternativeName = []string{applianceName, "console.example.test"}
		sess := f.open(t, New(Config{}))
		before := len(f.dev.Requests())
		_, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
			CommonName: applianceName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyRSA2048,
		})
		if err == nil || !strings.Contains(err.Error(), "sans: false") || !strings.Contains(err.Error(), "console.example.test") {
			t.Errorf("GenerateCSR error = %v", err)
		}
		if after := len(f.dev.Requests()); after != before {
			t.Errorf("the driver sent %d requests", after-before)
		}
	})
}

func TestOpenVerifiesTheAppliancesCertificate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(options map[string]any)
		want   string
	}{
		{"refuses an appliance whose CA is not in ca_file", func(o map[string]any) { delete(o, "ca_file") }, "certificate signed by unknown authority"},
		{"refuses a certificate without tls_server_name", func(o map[string]any) { o["tls_server_name"] = "other.example.test" }, "not other.example.test"},
		{"names a ca_file that cannot be read", func(o map[string]any) { o["ca_file"] = "/nonexistent/roots.pem" }, "read ca_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newCA(t), lighthouselab.Config{})
			tc.change(f.target.Options)
			_, err := New(Config{}).Open(context.Background(), f.target, f.creds)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error = %v, want one containing %q", err, tc.want)
			}
			if f.dev.Sessions() != 0 {
				t.Error("a session was opened")
			}
		})
	}
}

func TestInstallRefusesAChainTheDriverCouldNotTrustAfterwards(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	before := f.dev.Served()
	chain := f.issue(t, sess, newCA(t)) // a CA that is not in ca_file

	_, err := sess.Install(context.Background(), chain)
	if err == nil || !strings.Contains(err.Error(), "refusing to upload") || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("Install error = %v", err)
	}
	if !f.dev.Served()[0].Equal(before[0]) || f.dev.Restarts() != 0 {
		t.Error("the appliance's certificate changed")
	}
	if !f.dev.HasPendingCSR() {
		t.Error("the pending CSR is gone")
	}
}

func TestInstallRefusesACertificateForAnotherKeyThanThePendingCSR(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	stale := f.issue(t, sess, f.ca)
	f.issue(t, sess, f.ca) // a newer CSR replaces the one stale was issued for

	_, err := sess.Install(context.Background(), stale)
	if err == nil || !strings.Contains(err.Error(), "another key than the appliance's pending CSR") {
		t.Fatalf("Install error = %v", err)
	}
	if f.dev.Restarts() != 0 {
		t.Error("the appliance restarted its web server")
	}
}

func TestRollbackSaysWhyItCannotAndWhatWasReplaced(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	old := f.dev.Served()[0]
	chain := f.issue(t, sess, f.ca)
	installed, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}

	err = sess.Rollback(context.Background(), installed)
	if !errors.Is(err, ErrRollbackUnsupported) {
		t.Fatalf("Rollback error = %v, want ErrRollbackUnsupported", err)
	}
	if serial := old.SerialNumber.Text(16); !strings.Contains(err.Error(), "serial "+serial) {
		t.Errorf("error %q does not name the replaced certificate's serial %s", err, serial)
	}
	if New(Config{}).Capabilities().Rollback {
		t.Error("Capabilities claims rollback")
	}
}

func TestRollbackOfAnInstallThatDidNotTakeEffectSucceeds(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	previous := f.dev.Served()[0]
	handle := driver.Installed{handlePrevious: fingerprint(previous)}
	if err := sess.Rollback(context.Background(), handle); err != nil {
		t.Errorf("Rollback with the appliance unchanged: %v", err)
	}
}

func TestAnExpiredSessionIsRenewed(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	f.dev.ExpireSessions()
	chain, err := sess.CurrentCertificate(context.Background())
	if err != nil {
		t.Fatalf("CurrentCertificate after the session expired: %v", err)
	}
	if len(chain) != 2 || !chain[0].Equal(f.dev.Served()[0]) {
		t.Errorf("CurrentCertificate returned %d certificates, want the served chain of 2", len(chain))
	}
}

func TestGenerateCSRRefusesBadRequestsBeforeAskingTheAppliance(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	before := len(f.dev.Requests())
	for _, tc := range []struct {
		name string
		req  driver.CSRRequest
		want string
	}{
		{"an ECDSA key, which the appliance cannot make", driver.CSRRequest{CommonName: applianceName, KeyType: asset.KeyECDSA256}, "RSA keys only"},
		{"a name that is not a DNS name", driver.CSRRequest{CommonName: applianceName, DNSNames: []string{"a b"}, KeyType: asset.KeyRSA2048}, "not a DNS name"},
		{"no common name", driver.CSRRequest{KeyType: asset.KeyRSA2048}, "no common name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sess.GenerateCSR(context.Background(), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("GenerateCSR error = %v, want %q", err, tc.want)
			}
		})
	}
	if after := len(f.dev.Requests()); after != before {
		t.Errorf("the driver sent %d requests", after-before)
	}
}
