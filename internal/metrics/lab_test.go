package metrics_test

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/lab"
)

// One lab per test binary, started by the first test that needs it:
// Pebble cannot be started twice in a process.
var theLab struct {
	once sync.Once
	lab  *lab.Lab
	err  error
}

// Hosts of the lab, one test each.
const (
	hostACME   = 0 // rotated by the ACME round tripper's test
	hostWave   = 1 // rotated by the wave Prometheus watches
	hostBroken = 2 // fails in that wave
	labDevices = 3
)

func startLab(t *testing.T) *lab.Lab {
	t.Helper()
	theLab.once.Do(func() {
		if _, err := exec.LookPath("openssl"); err != nil {
			theLab.err = fmt.Errorf("the lab needs openssl on PATH (Debian package openssl; 'make test' installs it as root)")
			return
		}
		theLab.lab, theLab.err = lab.Start(context.Background(), lab.Options{Devices: labDevices})
	})
	if theLab.err != nil {
		t.Fatalf("start the lab: %v", theLab.err)
	}
	return theLab.lab
}

func closeLab() {
	if theLab.lab != nil {
		theLab.lab.Close()
	}
}
