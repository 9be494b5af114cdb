package junos

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/junos/junoslab"
)

// waitFor polls cond with backoff until it holds or the test's patience (a
// minute) runs out; it asserts an outcome, never a duration.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for wait := 5 * time.Millisecond; !cond(); wait = min(2*wait, time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(wait)
	}
}

func TestHostKeyVerification(t *testing.T) {
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ssh.NewSignerFromKey(other)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		knownHosts func(t *testing.T, f *fixture) string
		want       string
	}{
		{
			name: "a device presenting another host key than known_hosts holds is refused",
			knownHosts: func(t *testing.T, f *fixture) string {
				return writeKnownHosts(t, f.dev.Addr(), otherKey.PublicKey())
			},
			want: "does not match known_hosts",
		},
		{
			name: "a device missing from known_hosts is refused",
			knownHosts: func(t *testing.T, f *fixture) string {
				return writeKnownHosts(t, "[127.0.0.2]:22", f.dev.HostKey())
			},
			want: "is unknown",
		},
		{
			name:       "no known_hosts file at all is refused",
			knownHosts: func(t *testing.T, f *fixture) string { return "" },
			want:       "no known_hosts file is configured",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, junoslab.Config{})
			f.knownHosts = tt.knownHosts(t, f)
			_, err := f.driver().Open(context.Background(), f.target, f.creds)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), f.creds.Password) {
				t.Errorf("the error carries the password: %v", err)
			}
			if n := f.dev.AuthAttempts(); n != 0 {
				t.Errorf("the driver sent credentials to an unverified device (%d attempts)", n)
			}
		})
	}
}

func TestKeyAuthentication(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil, junoslab.Config{AuthorizedKey: signer.PublicKey()})
	f.creds = driver.Credentials{Username: "ottr", PrivateKey: pem.EncodeToMemory(block)}
	sess := f.open(t, f.driver())
	current, err := sess.CurrentCertificate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(current) != 1 || !current[0].Equal(f.served(t)[0]) {
		t.Errorf("CurrentCertificate = %v, want the system-generated certificate J-Web serves", current)
	}
}

func TestUnconfirmedCommitRollsBackByItself(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{})
	d := f.driver()

	// A first rotation, confirmed, leaves the CA profiles committed, so
	// the second Install is a single commit confirmed.
	sess := f.open(t, d)
	first := f.issue(t, sess, ca)
	installed, err := sess.Install(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.(driver.Finalizer).Finalize(context.Background(), installed); err != nil {
		t.Fatal(err)
	}

	sess = f.open(t, d)
	installed, err = sess.Install(context.Background(), f.issue(t, sess, ca))
	if err != nil {
		t.Fatal(err)
	}
	// The confirm time runs out before Finalize confirms.
	f.dev.ExpireConfirm()
	if f.dev.Reverts() != 1 {
		t.Fatalf("the device rolled back %d unconfirmed commits, want 1", f.dev.Reverts())
	}
	if served := f.served(t); !served[0].Equal(first[0]) {
		t.Errorf("after the confirm timeout the device serves serial %x, want the first rotation's %x", served[0].SerialNumber, first[0].SerialNumber)
	}
	err = sess.(driver.Finalizer).Finalize(context.Background(), installed)
	if err == nil || !strings.Contains(err.Error(), "rolled the unconfirmed commit back") {
		t.Errorf("Finalize after the device rolled back = %v, want an error saying so", err)
	}
}

func TestFinalizeConfirmsTheCommit(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{})
	f.target.Options["confirm_minutes"] = 7
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, ca)
	installed, err := sess.Install(context.Background(), chain)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.dev.LastConfirmTimeout(); got != 7 {
		t.Errorf("the device was asked for commit confirmed %d, want 7 (confirm_minutes)", got)
	}
	if !f.dev.PendingConfirm() {
		t.Fatal("after Install no commit confirmed is pending: the device would not roll back by itself")
	}
	// Finalize from a new session, as a resumed rotation would.
	if err := f.open(t, f.driver()).(driver.Finalizer).Finalize(context.Background(), installed); err != nil {
		t.Fatal(err)
	}
	if f.dev.PendingConfirm() {
		t.Error("after Finalize the commit is still unconfirmed")
	}
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Errorf("after Finalize the device serves serial %x, want %x", served[0].SerialNumber, chain[0].SerialNumber)
	}
}

func TestDeviceErrorsPropagate(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{})
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, ca)
	old := f.served(t)

	release := f.dev.HoldLock("netadmin")
	_, err := sess.Install(context.Background(), chain)
	release()
	var de *deviceError
	if !errors.As(err, &de) {
		t.Fatalf("Install while another administrator holds the lock = %v, want the device's rpc-error", err)
	}
	for _, want := range []string{"configuration database locked by", "netadmin", "<lock>"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Error("the refused install changed what the device serves")
	}

	_, err = sess.GenerateCSR(context.Background(), driver.CSRRequest{CommonName: "bad name", KeyType: "ecdsa256"})
	if err == nil || !strings.Contains(err.Error(), `"bad name" is not a DNS name`) {
		t.Errorf("GenerateCSR with a bad name = %v, want it refused before reaching the device", err)
	}
}

func TestRollbackRestoresTheSystemGeneratedCertificate(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, nil, junoslab.Config{})
	sess := f.open(t, f.driver())
	old := f.served(t)
	installed, err := sess.Install(context.Background(), f.issue(t, sess, ca))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.dev.Committed("system/services/web-management/https/system-generated-certificate"); ok {
		t.Error("after Install the configuration still names the system-generated certificate beside the new one")
	}
	if err := sess.Rollback(context.Background(), installed); err != nil {
		t.Fatal(err)
	}
	if served := f.served(t); !served[0].Equal(old[0]) {
		t.Errorf("after Rollback the device serves %q, want the system-generated certificate", served[0].Subject.CommonName)
	}
	if _, ok := f.dev.Committed("system/services/web-management/https/system-generated-certificate"); !ok {
		t.Error("after Rollback system-generated-certificate is not configured again")
	}
	if f.dev.PendingConfirm() {
		t.Error("after Rollback a commit confirmed is still pending")
	}
}

func TestSecondRotationKeepsTheFirstCertificateForRollback(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{})
	d := f.driver()
	sess := f.open(t, d)
	first := f.issue(t, sess, ca)
	installed, err := sess.Install(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.(driver.Finalizer).Finalize(context.Background(), installed); err != nil {
		t.Fatal(err)
	}
	second := f.issue(t, sess, ca)
	installed2, err := sess.Install(context.Background(), second)
	if err != nil {
		t.Fatal(err)
	}
	if installed2[handleCertificateID] == installed[handleCertificateID] {
		t.Fatalf("both rotations used certificate-id %s: the second key replaced the one in service", installed[handleCertificateID])
	}
	if served := f.served(t); !served[0].Equal(second[0]) {
		t.Fatal("the second install is not served")
	}
	if err := sess.Rollback(context.Background(), installed2); err != nil {
		t.Fatal(err)
	}
	if served := f.served(t); !served[0].Equal(first[0]) {
		t.Errorf("rolling back the second rotation serves serial %x, want the first rotation's %x", served[0].SerialNumber, first[0].SerialNumber)
	}
}

func TestBindPathBindsAnotherService(t *testing.T) {
	const bindPath = "services/ssl/termination/profile[name='portal']/server-certificate"
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{})
	f.target.Options["bind_path"] = bindPath
	sess := f.open(t, f.driver())
	web := f.served(t)
	if current, err := sess.CurrentCertificate(context.Background()); err != nil || current != nil {
		t.Errorf("CurrentCertificate of an unbound service = %v, %v; want nothing", current, err)
	}
	installed, err := sess.Install(context.Background(), f.issue(t, sess, ca))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.dev.Committed(bindPath); got != installed[handleCertificateID] {
		t.Errorf("the committed %s is %q, want %q", bindPath, got, installed[handleCertificateID])
	}
	if served := f.served(t); !served[0].Equal(web[0]) {
		t.Error("binding another service changed J-Web's certificate")
	}
	if err := sess.Rollback(context.Background(), installed); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.dev.Committed(bindPath); ok {
		t.Errorf("after Rollback %s is still %q, want it gone as before", bindPath, got)
	}
}

func TestEndOfMessageFraming(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{Base10Only: true})
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, ca)
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatal(err)
	}
	if served := f.served(t); !served[0].Equal(chain[0]) {
		t.Error("a device speaking only base:1.0 does not serve the installed certificate")
	}
}

func TestInstallRefusesACertificateForAnotherKey(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{})
	sess := f.open(t, f.driver())
	f.issue(t, sess, ca)
	// A certificate for a key the device never generated.
	foreign := initialCertificate(t, ca)
	leaf, err := x509.ParseCertificate(foreign.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = sess.Install(context.Background(), []*x509.Certificate{leaf})
	if err == nil || !strings.Contains(err.Error(), "no key pair ottr generated on the device matches") {
		t.Errorf("Install of a certificate for a foreign key = %v, want it refused", err)
	}
}

func TestRPCsFollowTheJunosSequence(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{})
	sess := f.open(t, f.driver())
	chain := f.issue(t, sess, ca)
	if _, err := sess.Install(context.Background(), chain); err != nil {
		t.Fatal(err)
	}
	rpcs := f.dev.RPCs()
	// Each write is followed by the read that proves it took.
	for _, tc := range []struct{ before, after string }{
		{"generate-pki-key-pair", "generate-pki-certificate-request"},
		{"load-pki-local-certificate", "request-security-local-certificate-export"},
		{"load-pki-ca-certificate", "get-pki-ca-certificate"},
	} {
		i, j := slices.Index(rpcs, tc.before), slices.Index(rpcs, tc.after)
		if i < 0 || j < i {
			t.Errorf("<%s> is not followed by <%s> (sent %v)", tc.before, tc.after, rpcs)
		}
	}
	last := rpcs[len(rpcs)-4:]
	if want := []string{"load-configuration", "commit-configuration", "unlock", "get-configuration"}; !slices.Equal(last, want) {
		t.Errorf("the install ends with %v, want the binding committed and read back: %v", last, want)
	}
}

func TestCanceledContextStopsTheSession(t *testing.T) {
	f := newFixture(t, nil, junoslab.Config{})
	sess := f.open(t, f.driver())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sess.CurrentCertificate(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("CurrentCertificate with a canceled context = %v, want context.Canceled", err)
	}
}

func TestClosingTwiceIsHarmless(t *testing.T) {
	f := newFixture(t, nil, junoslab.Config{})
	sess, err := f.driver().Open(context.Background(), f.target, f.creds)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if err := sess.Close(); err != nil {
			t.Errorf("Close #%d: %v", i, err)
		}
	}
	if _, err := sess.CurrentCertificate(context.Background()); err == nil {
		t.Error("a closed session still answers")
	}
}
