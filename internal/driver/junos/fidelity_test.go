package junos

import (
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	labjunos "github.com/ottr-go/ottr/internal/lab/devices/junos"
)

// deviceLog keeps the emulated devices a test started, to read the
// requests they saw after they stopped.
type deviceLog struct {
	mu      sync.Mutex
	devices []*labjunos.Device
}

func (l *deviceLog) add(d *labjunos.Device) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.devices = append(l.devices, d)
}

// checkAgainst fails on every call the devices saw that requests does not
// list, and on every request no call matched.
func (l *deviceLog) checkAgainst(t *testing.T, requests []driver.Request) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var calls []string
	for _, d := range l.devices {
		calls = append(calls, d.Calls()...)
	}
	if len(calls) == 0 {
		t.Fatal("the devices saw no request")
	}
	unknown, unused := driver.UnlistedRequests(requests, calls)
	for _, c := range unknown {
		t.Errorf("the driver sent %q, which Requests does not list: add it with its source", c)
	}
	for _, r := range unused {
		t.Errorf("Requests lists %q, which the driver never sent: remove it or cover it", r.Call)
	}
}

func TestEveryRequestRowNamesItsSourceOrHowTheDriverStaysSafe(t *testing.T) {
	for _, r := range Requests() {
		if r.Call == "" || r.Fields == "" {
			t.Errorf("a request without a call or fields: %+v", r)
		}
		if r.Confirmed() == (r.Safety != "") {
			t.Errorf("%s: give either a source or, when none confirms it, what the driver does to stay safe", r.Call)
		}
	}
}
