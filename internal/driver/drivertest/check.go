package drivertest

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
)

// capabilities are the capability names a DeviceReport may use.
var capabilities = []string{
	driver.CapabilityLogin, driver.CapabilityKeyGeneration, driver.CapabilityCSRExport, driver.CapabilityImport,
	driver.CapabilityBinding, driver.CapabilityCommit, driver.CapabilityRollback,
}

var statuses = []string{driver.CheckOK, driver.CheckFailed, driver.CheckUnknown, driver.CheckUnsupported}

// RunCheck checks a driver's Check (driver.Checker) on a device that is
// set up as a rotation needs: every check passes or says why it cannot be
// known, the report names the binding, and the device is
// as it was: state, which renders what the device holds (DirState for
// devices kept in a directory), says the same before and after, and the
// device serves the same certificate. It returns the report for the
// driver's own assertions.
func RunCheck(t *testing.T, drv driver.Driver, d *Device, state func(t *testing.T) string) driver.DeviceReport {
	t.Helper()
	ctx := checkContext(t)
	sess, err := drv.Open(ctx, d.Target, d.Credentials)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	checker, ok := sess.(driver.Checker)
	if !ok {
		t.Fatalf("the %s driver's session does not implement driver.Checker", drv.Name())
	}
	servedBefore, err := d.Served(ctx)
	if err != nil {
		t.Fatalf("reading what the device serves: %v", err)
	}
	before := state(t)

	report, err := checker.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}

	if after := state(t); after != before {
		t.Errorf("Check changed the device:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if servedAfter, err := d.Served(ctx); err != nil || !sameChain(servedAfter, servedBefore) {
		t.Errorf("after Check the device serves %s (%v), want %s as before", describeChain(servedAfter), err, describeChain(servedBefore))
	}
	if d.PrivateKeyExported != nil && d.PrivateKeyExported() {
		t.Error("a private key left the device")
	}
	if report.Binding == "" {
		t.Error("the report names no binding")
	}
	if len(report.Checks) == 0 || report.Checks[0].Capability != driver.CapabilityLogin {
		t.Errorf("the report's checks do not start with %q: %+v", driver.CapabilityLogin, report.Checks)
	}
	var seen []string
	for _, c := range report.Checks {
		switch {
		case !slices.Contains(capabilities, c.Capability):
			t.Errorf("check of an unknown capability %q", c.Capability)
		case slices.Contains(seen, c.Capability):
			t.Errorf("capability %q is checked twice", c.Capability)
		case !slices.Contains(statuses, c.Status):
			t.Errorf("%s: unknown status %q", c.Capability, c.Status)
		case c.Status == driver.CheckFailed:
			t.Errorf("%s failed on a device set up for rotation: %s", c.Capability, c.Detail)
		case c.Detail == "":
			t.Errorf("%s (%s) says nothing of what was looked at", c.Capability, c.Status)
		}
		seen = append(seen, c.Capability)
	}
	return report
}

// DirState renders every file and directory below dir with its mode,
// modification time and content digest, one a line, for RunCheck's state
// of devices whose emulators keep them in a directory.
func DirState(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v %s", rel, info.Mode(), info.ModTime().UTC().Format("2006-01-02T15:04:05.000000000"))
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("reading the device's files: %v", err)
	}
	return strings.Join(lines, "\n")
}

// CheckOf returns the report's check of capability, failing the test when
// there is none.
func CheckOf(t *testing.T, r driver.DeviceReport, capability string) driver.CapabilityCheck {
	t.Helper()
	for _, c := range r.Checks {
		if c.Capability == capability {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", capability, r.Checks)
	return driver.CapabilityCheck{}
}

// RequireCheck fails the test unless the report's check of capability has
// status and a detail saying each of want.
func RequireCheck(t *testing.T, r driver.DeviceReport, capability, status string, want ...string) {
	t.Helper()
	c := CheckOf(t, r, capability)
	if c.Status != status {
		t.Errorf("%s is %s (%s), want %s", capability, c.Status, c.Detail, status)
	}
	for _, w := range want {
		if !strings.Contains(c.Detail, w) {
			t.Errorf("%s detail %q does not say %q", capability, c.Detail, w)
		}
	}
}
