package drivertest

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
)

// CallLog gathers the calls of every emulated device a test started, for
// a driver's check of its request table (RequireListed).
type CallLog struct {
	mu      sync.Mutex
	sources []func() []string
}

// Add adds a device's calls, read when Calls is.
func (l *CallLog) Add(calls func() []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sources = append(l.sources, calls)
}

// Calls returns every device's calls, device by device.
func (l *CallLog) Calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var calls []string
	for _, c := range l.sources {
		calls = append(calls, c()...)
	}
	return calls
}

// RequireListed fails the test on every call that no request of requests
// (the driver's Requests) lists, and returns the requests no call matched:
// a test that runs every kind of request fails on those too.
func RequireListed(t *testing.T, requests []driver.Request, calls []string) (unused []driver.Request) {
	t.Helper()
	if len(calls) == 0 {
		t.Fatal("the emulators recorded no call")
	}
	unknown, unused := driver.UnlistedRequests(requests, calls)
	for _, c := range unknown {
		t.Errorf("the driver sent %q, which its Requests do not list", c)
	}
	return unused
}

// RunEveryStep has a session on d do every kind of step, for a driver's
// test of its request table: Check (when the session is a
// driver.Checker), CurrentCertificate, GenerateCSR, Install, the same
// Install again (a resumed rotation), Rollback, and, when d has a fault
// knob, an Install that fails. sign turns the CSRs into chains.
func RunEveryStep(t *testing.T, drv driver.Driver, d *Device, sign func(context.Context, *x509.CertificateRequest) ([]*x509.Certificate, error)) {
	t.Helper()
	ctx := checkContext(t)
	sess, err := drv.Open(ctx, d.Target, d.Credentials)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer sess.Close()
	if checker, ok := sess.(driver.Checker); ok {
		if _, err := checker.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if _, err := sess.CurrentCertificate(ctx); err != nil {
		t.Fatalf("CurrentCertificate: %v", err)
	}
	s := &suite{h: Harness{Driver: drv, Sign: sign}}
	dev := &device{Device: d, sess: sess}
	chain := s.issue(ctx, t, dev)
	installed, err := sess.Install(ctx, chain)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if _, err := sess.Install(ctx, chain); err != nil {
		t.Fatalf("the same Install again: %v", err)
	}
	if err := sess.Rollback(ctx, installed); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if d.FailInstalls == nil {
		return
	}
	next := s.issue(ctx, t, dev)
	d.FailInstalls(true)
	_, err = sess.Install(ctx, next)
	d.FailInstalls(false)
	if err == nil {
		t.Fatal("Install succeeded on a device set to fail")
	}
}
