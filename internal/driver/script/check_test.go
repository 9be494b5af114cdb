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

// check opens a session on target with creds and checks the device.
func check(t *testing.T, target driver.Target, creds driver.Credentials) driver.DeviceReport {
	t.Helper()
	sess, err := New(Config{}).Open(context.Background(), target, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	report, err := sess.(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return report
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
		drivertest.RequireCheck(t, report, capability, want.status, want.detail)
	}
}

func TestCheckWithoutTheOptionalScripts(t *testing.T) {
	d := startTestDevice(t)
	target := d.target(t)
	delete(target.Options, "current_certificate")
	delete(target.Options, "rollback")
	report := check(t, target, driver.Credentials{Username: "operator", Password: devicePassword})
	if want := "the chain served at 127.0.0.1:"; !strings.Contains(report.Binding, want) {
		t.Errorf("binding %q does not say %q", report.Binding, want)
	}
	drivertest.RequireCheck(t, report, driver.CapabilityBinding, driver.CheckOK, "the device serves")
	drivertest.RequireCheck(t, report, driver.CapabilityRollback, driver.CheckUnsupported, "names no rollback executable")
}

func TestCheckReportsAFailingCurrentCertificateWithItsOutput(t *testing.T) {
	d := startTestDevice(t)
	report := check(t, d.target(t), driver.Credentials{Username: "operator", Password: "not-the-password"})
	if !report.Failed() {
		t.Errorf("no check failed: %+v", report.Checks)
	}
	drivertest.RequireCheck(t, report, driver.CapabilityBinding, driver.CheckFailed, "device: login failed for operator", "fix the script")
	if c := drivertest.CheckOf(t, report, driver.CapabilityBinding); strings.Contains(c.Detail, "not-the-password") {
		t.Errorf("the detail carries the password: %s", c.Detail)
	}
}
