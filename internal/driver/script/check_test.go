package script

import (
	"context"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
)

func (d *testDevice) conformanceDevice(t *testing.T) *drivertest.Device {
	return &drivertest.Device{
		Target:      d.target(t),
		Credentials: driver.Credentials{Username: "operator", Password: devicePassword},
		Served:      d.served,
	}
}

func checkOf(t *testing.T, r driver.DeviceReport, capability string) driver.CapabilityCheck {
	t.Helper()
	for _, c := range r.Checks {
		if c.Capability == capability {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", capability, r.Checks)
	return driver.CapabilityCheck{}
}

func TestCheckRunsOnlyCurrentCertificate(t *testing.T) {
	d := startTestDevice(t)
	report := drivertest.RunCheck(t, New(Config{}), d.conformanceDevice(t), func(t *testing.T) string {
		return drivertest.DirState(t, d.dir)
	})
	served, err := d.served(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if report.Software != "" {
		t.Errorf("software = %q, but no script says what the device runs", report.Software)
	}
	if !strings.Contains(report.Binding, "current_certificate.sh") {
		t.Errorf("binding %q does not name the current_certificate script", report.Binding)
	}
	for capability, want := range map[string]struct{ status, detail string }{
		driver.CapabilityLogin:         {driver.CheckOK, "current_certificate"},
		driver.CapabilityBinding:       {driver.CheckOK, served[0].SerialNumber.Text(16)},
		driver.CapabilityKeyGeneration: {driver.CheckUnknown, "generate_csr.sh) is executable; it is not run in check mode"},
		driver.CapabilityImport:        {driver.CheckUnknown, "install_certificate.sh) is executable; it is not run in check mode"},
		driver.CapabilityRollback:      {driver.CheckUnknown, "rollback.sh) is executable; it is not run in check mode"},
	} {
		c := checkOf(t, report, capability)
		if c.Status != want.status || !strings.Contains(c.Detail, want.detail) {
			t.Errorf("%s = %s (%s), want %s saying %q", capability, c.Status, c.Detail, want.status, want.detail)
		}
	}
}

func TestCheckWithoutTheOptionalScripts(t *testing.T) {
	d := startTestDevice(t)
	target := d.target(t)
	delete(target.Options, "current_certificate")
	delete(target.Options, "rollback")
	sess, err := New(Config{}).Open(context.Background(), target, driver.Credentials{Username: "operator", Password: devicePassword})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	report, err := sess.(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if want := "the chain served at 127.0.0.1:"; !strings.Contains(report.Binding, want) {
		t.Errorf("binding %q does not say %q", report.Binding, want)
	}
	if c := checkOf(t, report, driver.CapabilityBinding); c.Status != driver.CheckOK || !strings.Contains(c.Detail, "the device serves") {
		t.Errorf("binding = %s (%s), want ok from the served chain", c.Status, c.Detail)
	}
	if c := checkOf(t, report, driver.CapabilityRollback); c.Status != driver.CheckUnsupported || !strings.Contains(c.Detail, "names no rollback executable") {
		t.Errorf("rollback = %s (%s), want unsupported", c.Status, c.Detail)
	}
}

func TestCheckReportsAFailingCurrentCertificateWithItsOutput(t *testing.T) {
	d := startTestDevice(t)
	sess, err := New(Config{}).Open(context.Background(), d.target(t), driver.Credentials{Username: "operator", Password: "not-the-password"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	report, err := sess.(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !report.Failed() {
		t.Errorf("no check failed: %+v", report.Checks)
	}
	c := checkOf(t, report, driver.CapabilityBinding)
	if c.Status != driver.CheckFailed || !strings.Contains(c.Detail, "device: login failed for operator") || !strings.Contains(c.Detail, "fix the script") {
		t.Errorf("binding = %s (%s), want failed with the script's message and the fix", c.Status, c.Detail)
	}
	if strings.Contains(c.Detail, "not-the-password") {
		t.Errorf("the detail carries the password: %s", c.Detail)
	}
}
