package lighthouse

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver/drivertest"
)

// steadyServer is a TLS server that presents one certificate and never
// restarts: an appliance whose restart was too quick to be seen.
func steadyServer(t *testing.T, ca *drivertest.TestCA) (addr string, leaf *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: applianceName}, DNSNames: []string{applianceName},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(der)
	chain, err := ca.Sign(context.Background(), csr)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{
		Certificate: [][]byte{chain[0].Raw, chain[1].Raw}, PrivateKey: key,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	return ln.Addr().String(), chain[0]
}

func waitingSession(ca *drivertest.TestCA, addr string, logs *logRecorder, timeout, settle time.Duration) *session {
	return &session{
		drv:       New(Config{}),
		opts:      &options{RestartTimeout: timeout, RestartSettle: settle},
		addr:      addr,
		tlsConfig: &tls.Config{RootCAs: ca.Roots(), ServerName: applianceName, MinVersion: tls.VersionTLS12},
		log:       slog.New(logs),
	}
}

func TestAnUnseenRestartCountsOnceTheNewCertificateHasBeenServedForRestartSettle(t *testing.T) {
	ca := newCA(t)
	addr, leaf := steadyServer(t, ca)
	logs := &logRecorder{}
	// A settle time many poll intervals long: a second look fits in it
	// even when a loaded machine stalls the first ones.
	s := waitingSession(ca, addr, logs, time.Minute, 3*time.Second)

	if err := s.awaitWebServer(context.Background(), []*x509.Certificate{leaf}, true); err != nil {
		t.Fatalf("awaitWebServer: %v", err)
	}
	if logs.count("lighthouse: the web server serves the new certificate; no restart was seen") != 1 {
		t.Errorf("the wait did not end on restart_settle; log: %v", logs.messages)
	}
	if polls := logs.count("lighthouse: waiting for the web server"); polls < 2 {
		t.Errorf("the driver looked %d times in the settle time, want several", polls)
	}
}

func TestAWebServerServingTheOldCertificateEndsInATimeoutNamingBoth(t *testing.T) {
	ca := newCA(t)
	addr, _ := steadyServer(t, ca)
	_, other := steadyServer(t, ca)
	// Long enough for a handshake to complete before the timeout on a
	// loaded machine, so the error ends with what was served rather than a
	// dial cut short.
	s := waitingSession(ca, addr, &logRecorder{}, 3*time.Second, 100*time.Millisecond)

	err := s.awaitWebServer(context.Background(), []*x509.Certificate{other}, true)
	if err == nil {
		t.Fatal("the wait ended while the old certificate was served")
	}
	for _, want := range []string{"within 3s (restart_timeout)", "not the new " + other.SerialNumber.Text(16)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("the timeout is reported as the caller's deadline")
	}
}

func TestARestartedWebServerThatIsNotTrustedIsNotTakenForDone(t *testing.T) {
	addr, leaf := steadyServer(t, newCA(t))
	// The session trusts another CA, as if ca_file had the wrong root. The
	// timeout leaves a loaded machine time to complete a handshake, so the
	// error is its verification failure rather than a dial cut short.
	s := waitingSession(newCA(t), addr, &logRecorder{}, 3*time.Second, 100*time.Millisecond)
	err := s.awaitWebServer(context.Background(), []*x509.Certificate{leaf}, false)
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("awaitWebServer error = %v, want a verification failure", err)
	}
}

func TestServedChainDialsTheAPIAddress(t *testing.T) {
	ca := newCA(t)
	addr, leaf := steadyServer(t, ca)
	s := waitingSession(ca, addr, &logRecorder{}, time.Second, 100*time.Millisecond)
	got, err := s.servedChain(context.Background())
	if err != nil || !got[0].Equal(leaf) {
		t.Fatalf("servedChain = %v, %v", got, err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s.addr = ln.Addr().String()
	_ = ln.Close()
	if _, err := s.servedChain(context.Background()); err == nil {
		t.Error("servedChain of a closed port succeeded")
	}
}
