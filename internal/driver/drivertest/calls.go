package drivertest

import (
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
