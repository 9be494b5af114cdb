package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testNow is the clock every test uses; certificates are dated around it.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testCA is a throwaway root and intermediate.
type testCA struct {
	root, intermediate *x509.Certificate
	intermediateKey    crypto.Signer
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func createCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newCA(t *testing.T, org string) *testCA {
	t.Helper()
	rootKey, interKey := newKey(t), newKey(t)
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{org}, CommonName: org + " Root"},
		NotBefore:             testNow.AddDate(-1, 0, 0),
		NotAfter:              testNow.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	root := createCert(t, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	interTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{Organization: []string{org}, CommonName: org + " Issuing CA"},
		NotBefore:             testNow.AddDate(-1, 0, 0),
		NotAfter:              testNow.AddDate(5, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	inter := createCert(t, interTmpl, root, interKey.Public(), rootKey)
	return &testCA{root: root, intermediate: inter, intermediateKey: interKey}
}

func (ca *testCA) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.root)
	return p
}

// leafSpec describes a leaf to issue; zero fields take the defaults of a
// fresh 90-day certificate for fw1.example.com.
type leafSpec struct {
	serial    int64
	names     []string
	ips       []net.IP
	notBefore time.Time
	lifetime  time.Duration
	key       *ecdsa.PrivateKey
}

// testLeaf is an issued leaf, its key and the chain the CA returned.
type testLeaf struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	chain []*x509.Certificate
}

func (ca *testCA) issue(t *testing.T, s leafSpec) testLeaf {
	t.Helper()
	if s.serial == 0 {
		s.serial = 0x0a1b2c3d
	}
	if s.names == nil {
		s.names = []string{"fw1.example.com", "fw1-mgmt.example.com"}
	}
	if s.notBefore.IsZero() {
		s.notBefore = testNow.Add(-time.Hour)
	}
	if s.lifetime == 0 {
		s.lifetime = 90 * 24 * time.Hour
	}
	if s.key == nil {
		s.key = newKey(t)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(s.serial),
		Subject:      pkix.Name{CommonName: s.names[0]},
		DNSNames:     s.names,
		IPAddresses:  s.ips,
		NotBefore:    s.notBefore,
		NotAfter:     s.notBefore.Add(s.lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	cert := createCert(t, tmpl, ca.intermediate, s.key.Public(), ca.intermediateKey)
	return testLeaf{cert: cert, key: s.key, chain: []*x509.Certificate{cert, ca.intermediate}}
}

// serveTLS serves the given chain (leaf first) on network ("tcp4" or
// "tcp6") loopback until the test ends, and returns its address.
func serveTLS(t *testing.T, network string, key crypto.Signer, chain ...*x509.Certificate) string {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "tcp6" {
		addr = "[::1]:0"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{PrivateKey: key}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	tlsLn := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := tlsLn.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				// A deadline only so a stuck client cannot hang the test's cleanup.
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				_ = conn.(*tls.Conn).Handshake()
			})
		}
	})
	t.Cleanup(func() {
		tlsLn.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// closedAddress returns a loopback address that refuses connections. A TCP
// socket stays bound there without listening until the test ends: the
// kernel refuses connections to it, and no other process can take the
// port, as one could a port merely closed and then serve on it.
func closedAddress(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(bound.(*syscall.SockaddrInet4).Port))
}

// expectation returns what a device serving leaf's chain should satisfy.
func expectation(addr string, ca *testCA, leaf testLeaf) Expectation {
	return Expectation{
		Address:         addr,
		ServerName:      "fw1.example.com",
		Names:           []string{"fw1.example.com", "fw1-mgmt.example.com"},
		Issued:          leaf.chain,
		Roots:           ca.roots(),
		ExpectedIssuers: []string{"ottr test ca"},
		MinLifetime:     24 * time.Hour,
		Now:             func() time.Time { return testNow },
		Timeout:         10 * time.Second,
	}
}

func TestCheckAcceptsTheIssuedCertificateAndReportsWhatWasServed(t *testing.T) {
	ca := newCA(t, "Ottr Test CA")
	leaf := ca.issue(t, leafSpec{serial: 0x0a1b2c3d})
	addr := serveTLS(t, "tcp4", leaf.key, leaf.chain...)

	res, err := Check(context.Background(), expectation(addr, ca, leaf))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if res.Serial != "a1b2c3d" {
		t.Errorf("Serial = %q, want a1b2c3d", res.Serial)
	}
	if !res.NotAfter.Equal(leaf.cert.NotAfter) {
		t.Errorf("NotAfter = %v, want %v", res.NotAfter, leaf.cert.NotAfter)
	}
	if !strings.Contains(res.Issuer, "Ottr Test CA Issuing CA") {
		t.Errorf("Issuer = %q, want the intermediate's name", res.Issuer)
	}
	if len(res.Chain) != 2 || !res.Leaf.Equal(leaf.cert) {
		t.Errorf("served chain = %d certificates, leaf %v; want the issued chain", len(res.Chain), res.Leaf.Subject)
	}
}

func TestCheckReportsEachMismatch(t *testing.T) {
	ca := newCA(t, "Ottr Test CA")
	issued := ca.issue(t, leafSpec{serial: 0x2000})
	otherCA := newCA(t, "Someone Else CA")

	tests := []struct {
		name string
		// serve returns the address of a server for this case.
		serve func(t *testing.T) string
		// change adjusts the expectation for this case.
		change    func(e *Expectation)
		wantCheck string
		wantGot   string // a part of MismatchError.Got
	}{
		{
			name: "the device still serves the old certificate",
			serve: func(t *testing.T) string {
				old := ca.issue(t, leafSpec{serial: 0x1000, notBefore: testNow.AddDate(0, -2, 0)})
				return serveTLS(t, "tcp4", old.key, old.chain...)
			},
			wantCheck: CheckSerial,
			wantGot:   "1000",
		},
		{
			name: "the served certificate has the issued serial but another key",
			serve: func(t *testing.T) string {
				forged := ca.issue(t, leafSpec{serial: 0x2000})
				return serveTLS(t, "tcp4", forged.key, forged.chain...)
			},
			wantCheck: CheckPublicKey,
			wantGot:   "sha256:",
		},
		{
			name: "the chain leads to a root the CA profile does not trust",
			serve: func(t *testing.T) string {
				return serveTLS(t, "tcp4", issued.key, issued.chain...)
			},
			change:    func(e *Expectation) { e.Roots = otherCA.roots() },
			wantCheck: CheckChain,
			wantGot:   "unknown authority",
		},
		{
			name: "the device serves the leaf without its intermediate",
			serve: func(t *testing.T) string {
				return serveTLS(t, "tcp4", issued.key, issued.cert)
			},
			wantCheck: CheckChain,
			wantGot:   "1 certificate that lacks the intermediates",
		},
		{
			name: "a name of the asset is not covered",
			serve: func(t *testing.T) string {
				return serveTLS(t, "tcp4", issued.key, issued.chain...)
			},
			change: func(e *Expectation) {
				e.Names = append(e.Names, "fw1-backup.example.com", "*.example.com")
			},
			wantCheck: CheckNames,
			wantGot:   "fw1.example.com, fw1-mgmt.example.com",
		},
		{
			name: "the issuer is not the expected CA",
			serve: func(t *testing.T) string {
				return serveTLS(t, "tcp4", issued.key, issued.chain...)
			},
			change:    func(e *Expectation) { e.ExpectedIssuers = []string{"Let's Encrypt", "DigiCert Inc"} },
			wantCheck: CheckIssuer,
			wantGot:   "O=Ottr Test CA",
		},
		{
			name: "the lifetime is shorter than the minimum",
			serve: func(t *testing.T) string {
				return serveTLS(t, "tcp4", issued.key, issued.chain...)
			},
			change:    func(e *Expectation) { e.MinLifetime = 397 * 24 * time.Hour },
			wantCheck: CheckLifetime,
			wantGot:   "90 days",
		},
		{
			name: "the certificate has expired by the injected clock",
			serve: func(t *testing.T) string {
				return serveTLS(t, "tcp4", issued.key, issued.chain...)
			},
			change: func(e *Expectation) {
				e.Now = func() time.Time { return testNow.AddDate(0, 4, 0) }
			},
			wantCheck: CheckValidity,
			wantGot:   "expired at",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := expectation(tt.serve(t), ca, issued)
			if tt.change != nil {
				tt.change(&e)
			}
			res, err := Check(context.Background(), e)
			var m *MismatchError
			if !errors.As(err, &m) {
				t.Fatalf("Check = %v, want a *MismatchError", err)
			}
			if m.Check != tt.wantCheck {
				t.Errorf("Check = %q (%v), want %q", m.Check, err, tt.wantCheck)
			}
			if !strings.Contains(m.Got, tt.wantGot) {
				t.Errorf("Got = %q, want it to mention %q", m.Got, tt.wantGot)
			}
			if m.Want == "" || !strings.Contains(err.Error(), m.Want) || !strings.Contains(err.Error(), m.Got) {
				t.Errorf("error %q does not state both what was wanted and what was served", err)
			}
			if res.Leaf == nil || res.Serial == "" {
				t.Error("the Result does not describe what was served")
			}
		})
	}
}

func TestCheckNamesTheExactMismatch(t *testing.T) {
	ca := newCA(t, "Ottr Test CA")
	issued := ca.issue(t, leafSpec{serial: 0xbeef})
	old := ca.issue(t, leafSpec{serial: 0xcafe})
	addr := serveTLS(t, "tcp4", old.key, old.chain...)

	_, err := Check(context.Background(), expectation(addr, ca, issued))
	var m *MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("Check = %v, want a *MismatchError", err)
	}
	if m.Check != CheckSerial || m.Want != "beef" || m.Got != "cafe" {
		t.Errorf("mismatch = %+v, want serial beef vs cafe", *m)
	}
}

func TestCheckCoversWildcardsAndIPAddresses(t *testing.T) {
	ca := newCA(t, "Ottr Test CA")
	leaf := ca.issue(t, leafSpec{
		names: []string{"lb.example.com", "*.apps.example.com"},
		ips:   []net.IP{net.ParseIP("192.0.2.10")},
	})
	addr := serveTLS(t, "tcp4", leaf.key, leaf.chain...)
	tests := []struct {
		name    string
		names   []string
		covered bool
	}{
		{"a wildcard SAN covers the same wildcard", []string{"*.apps.example.com"}, true},
		{"a wildcard SAN covers one label under it", []string{"shop.apps.example.com"}, true},
		{"a wildcard SAN does not cover two labels under it", []string{"a.shop.apps.example.com"}, false},
		{"a name is matched without regard to case", []string{"LB.Example.com"}, true},
		{"an IP SAN covers its address", []string{"192.0.2.10"}, true},
		{"an IP SAN does not cover another address", []string{"192.0.2.11"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := expectation(addr, ca, leaf)
			e.Names = tt.names
			_, err := Check(context.Background(), e)
			if tt.covered && err != nil {
				t.Fatalf("Check: %v", err)
			}
			var m *MismatchError
			if !tt.covered && (!errors.As(err, &m) || m.Check != CheckNames) {
				t.Fatalf("Check = %v, want a names mismatch", err)
			}
		})
	}
}

func TestCheckReportsAnUnreachableDeviceAsAConnectionError(t *testing.T) {
	ca := newCA(t, "Ottr Test CA")
	leaf := ca.issue(t, leafSpec{})
	addr := closedAddress(t)

	res, err := Check(context.Background(), expectation(addr, ca, leaf))
	if err == nil {
		t.Fatal("Check succeeded against a closed port")
	}
	var m *MismatchError
	if errors.As(err, &m) {
		t.Errorf("a connection failure is reported as a mismatch: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "verify: connect to "+addr+": ") {
		t.Errorf("error %q does not name the address it connected to", err)
	}
	if res.Leaf != nil {
		t.Error("Result describes a certificate although none was served")
	}
}

func TestCheckWorksOverIPv6(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("this machine has no IPv6 loopback: %v", err)
	}
	probe.Close()

	ca := newCA(t, "Ottr Test CA")
	leaf := ca.issue(t, leafSpec{})
	addr := serveTLS(t, "tcp6", leaf.key, leaf.chain...)
	if !strings.HasPrefix(addr, "[::1]:") {
		t.Fatalf("server address %q is not a bracketed IPv6 address", addr)
	}
	if _, err := Check(context.Background(), expectation(addr, ca, leaf)); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestCheckRefusesAnUnbracketedIPv6Address(t *testing.T) {
	ca := newCA(t, "Ottr Test CA")
	leaf := ca.issue(t, leafSpec{})
	_, err := Check(context.Background(), expectation("::1:443", ca, leaf))
	if err == nil || !strings.Contains(err.Error(), "brackets") {
		t.Fatalf("Check = %v, want an error about brackets", err)
	}
}

func TestCheckNeedsTheIssuedChain(t *testing.T) {
	_, err := Check(context.Background(), Expectation{Address: "127.0.0.1:443"})
	if err == nil || !strings.Contains(err.Error(), "no issued certificate") {
		t.Fatalf("Check = %v, want an error about the missing issued chain", err)
	}
}

func TestFetchReturnsTheServedChain(t *testing.T) {
	ca := newCA(t, "Ottr Test CA")
	leaf := ca.issue(t, leafSpec{})
	addr := serveTLS(t, "tcp4", leaf.key, leaf.chain...)

	got, err := Fetch(context.Background(), addr, "fw1.example.com", 10*time.Second)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if len(got) != 2 || !got[0].Equal(leaf.cert) || !got[1].Equal(ca.intermediate) {
		t.Errorf("Fetch returned %d certificates, want the leaf and the intermediate", len(got))
	}
}

func TestFormatDurationSpeaksInDays(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour:      "1 day",
		90 * 24 * time.Hour: "90 days",
		90*24*time.Hour - 1: "90.0 days",
		36 * time.Hour:      "1.5 days",
		time.Hour:           "1h0m0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
