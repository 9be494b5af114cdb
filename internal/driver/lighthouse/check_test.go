package lighthouse

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/lighthouse/lighthouselab"
)

// writesAfterLogin returns the calls after the login that are not GETs
// (the logout aside).
func writesAfterLogin(calls []string) []string {
	var writes []string
	for i, c := range calls {
		if i == 0 && c == "POST "+lighthouselab.APIBase+"/sessions" {
			continue
		}
		if !strings.HasPrefix(c, "GET ") && !strings.HasPrefix(c, "DELETE "+lighthouselab.APIBase+"/sessions/") {
			writes = append(writes, c)
		}
	}
	return writes
}

func TestCheckReportsTheApplianceWithoutChangingIt(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{Firmware: "22.Q1.0"})
	sess := f.open(t, New(Config{}))
	served := f.dev.Served()[0]

	report, err := sess.(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if writes := writesAfterLogin(f.dev.Calls()); len(writes) > 0 {
		t.Errorf("Check changed the appliance: %q", writes)
	}
	if f.dev.HasPendingCSR() || f.dev.Restarts() != 0 {
		t.Error("Check left a CSR or restarted the web server")
	}
	if report.Software != "Opengear Lighthouse 22.Q1.0 (REST API v3.7)" {
		t.Errorf("Software = %q", report.Software)
	}
	if want := fmt.Sprintf("serial %x", served.SerialNumber); !strings.Contains(report.Binding, want) || !strings.Contains(report.Binding, "services/https") {
		t.Errorf("Binding = %q, want it to name services/https and %s", report.Binding, want)
	}
	if report.Failed() {
		t.Errorf("a check failed: %+v", report.Checks)
	}
	var got []string
	for _, c := range report.Checks {
		got = append(got, c.Capability+"="+c.Status)
	}
	want := []string{"login=ok", "key generation=unknown", "CSR export=unknown", "import=unknown", "binding=ok", "rollback=unsupported"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("checks %v, want %v", got, want)
	}
	if d := drivertest.CheckOf(t, report, driver.CapabilityRollback).Detail; !strings.Contains(d, "cannot go back to its previous certificate") {
		t.Errorf("the rollback detail does not say why: %q", d)
	}
}

func TestCheckTriesTheDownloadOfAPendingCSR(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{})
	sess := f.open(t, New(Config{}))
	if _, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{
		CommonName: applianceName, DNSNames: f.target.Asset.Names(), KeyType: asset.KeyRSA2048,
	}); err != nil {
		t.Fatal(err)
	}
	before := len(f.dev.Calls())
	report, err := sess.(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if writes := writesAfterLogin(f.dev.Calls()[before:]); len(writes) > 0 {
		t.Errorf("Check changed the appliance: %q", writes)
	}
	if c := drivertest.CheckOf(t, report, driver.CapabilityCSRExport); c.Status != driver.CheckOK || !strings.Contains(c.Detail, "console.example.test") {
		t.Errorf("CSR export = %+v", c)
	}
	if !strings.Contains(report.Binding, "a CSR is pending") {
		t.Errorf("Binding = %q does not mention the pending CSR", report.Binding)
	}
	if !f.dev.HasPendingCSR() {
		t.Error("the pending CSR is gone")
	}
}

func TestCheckFailsWhatAnAccountWithoutTheHTTPSRightCannotDo(t *testing.T) {
	f := newFixture(t, newCA(t), lighthouselab.Config{DenyHTTPS: true})
	sess := f.open(t, New(Config{}))
	report, err := sess.(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !report.Failed() {
		t.Fatal("the report shows no failure")
	}
	for _, capability := range []string{driver.CapabilityKeyGeneration, driver.CapabilityCSRExport, driver.CapabilityImport, driver.CapabilityBinding} {
		c := drivertest.CheckOf(t, report, capability)
		if c.Status != driver.CheckFailed {
			t.Errorf("%s = %s, want failed", capability, c.Status)
		}
		for _, want := range []string{`the account "admin" may not use the HTTPS certificate settings`, "Permission denied (code 47)", "such as an administrator"} {
			if !strings.Contains(c.Detail, want) {
				t.Errorf("%s detail %q does not say %q", capability, c.Detail, want)
			}
		}
	}
	if c := drivertest.CheckOf(t, report, driver.CapabilityLogin); c.Status != driver.CheckOK {
		t.Errorf("login = %+v", c)
	}
	if report.Software == "" {
		t.Error("the version, which needs no HTTPS right, is missing")
	}
}
