package panos

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/panos/panoslab"
)

// check opens a session on target and runs Check through the
// driver.Checker interface, as ottr device check does.
func (f *fixture) check(t *testing.T, target driver.Target) driver.DeviceReport {
	t.Helper()
	sess, err := newDriver().Open(context.Background(), target, f.creds)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	checker, ok := sess.(driver.Checker)
	if !ok {
		t.Fatal("the panos session is not a driver.Checker")
	}
	report, err := checker.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return report
}

// status returns the status and detail the report gives a capability.
func status(t *testing.T, r driver.DeviceReport, capability string) (string, string) {
	t.Helper()
	for _, c := range r.Checks {
		if c.Capability == capability {
			return c.Status, c.Detail
		}
	}
	t.Fatalf("the report has no %q check: %+v", capability, r.Checks)
	return "", ""
}

// readOnly reports whether a recorded call only reads.
func readOnly(call string) bool {
	for _, prefix := range []string{"keygen", "config get ", "config show ", "op <show>", "op <check>"} {
		if strings.HasPrefix(call, prefix) {
			return true
		}
	}
	return false
}

var rotationCapabilities = []string{
	driver.CapabilityLogin, driver.CapabilityKeyGeneration, driver.CapabilityCSRExport, driver.CapabilityImport,
	driver.CapabilityBinding, driver.CapabilityCommit, driver.CapabilityRollback,
}

func TestCheckReportsTheDeviceAndChangesNothing(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	before, _ := f.dev.Running("/config")
	report := f.check(t, f.target)

	if report.Software != "PAN-OS "+panoslab.SoftwareVersion+" (PA-VM)" {
		t.Errorf("Software = %q, want the version and model show system info reports", report.Software)
	}
	served := f.served(t)[0]
	for _, want := range []string{
		`the management interface -> SSL/TLS service profile "` + panoslab.InitialCertificateName + `" -> certificate "` + panoslab.InitialCertificateName + `"`,
		fmt.Sprintf("CN %s, serial %x", served.Subject.CommonName, served.SerialNumber),
		`ottr's profile "ottr" does not exist yet`,
	} {
		if !strings.Contains(report.Binding, want) {
			t.Errorf("Binding %q does not contain %q", report.Binding, want)
		}
	}
	for i, c := range report.Checks {
		if i >= len(rotationCapabilities) || c.Capability != rotationCapabilities[i] {
			t.Errorf("check %d is %q, want the capabilities in rotation order %v", i, c.Capability, rotationCapabilities)
		}
		if c.Status != driver.CheckOK {
			t.Errorf("%s: %s (%s), want ok for a superuser on a device without locks", c.Capability, c.Status, c.Detail)
		}
	}
	if _, detail := status(t, report, driver.CapabilityLogin); !strings.Contains(detail, "X-PAN-KEY header") {
		t.Errorf("the login detail %q does not say where the key travels", detail)
	}
	if _, detail := status(t, report, driver.CapabilityRollback); !strings.Contains(detail, "pending") {
		t.Errorf("the rollback detail %q does not warn that other administrators' pending changes are committed", detail)
	}

	for _, call := range f.dev.Calls() {
		if !readOnly(call) {
			t.Errorf("Check sent %q, which is not a read", call)
		}
	}
	if after, _ := f.dev.Running("/config"); after != before {
		t.Error("the running configuration changed")
	}
	if candidate, _ := f.dev.Candidate("/config"); candidate != before {
		t.Error("the candidate configuration changed")
	}
	if saved := f.dev.SavedConfigs(); len(saved) != 0 {
		t.Errorf("Check saved configurations %v", saved)
	}
}

func TestCheckReportsWhatWouldStopARotation(t *testing.T) {
	const certsRole = `<entry name="certs"><role><device><xmlapi><config>enable</config><op>enable</op><export>enable</export>` +
		`<import>enable</import><commit>disable</commit></xmlapi></device></role></entry>`
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, dev *panoslab.Device)
		options map[string]any
		status  map[string]string
		detail  map[string][]string
	}{
		{
			name: "a role profile without commits fails commit and rollback",
			setup: func(t *testing.T, dev *panoslab.Device) {
				if err := dev.SetRunning("/config/shared/admin-role", certsRole); err != nil {
					t.Fatal(err)
				}
				if err := dev.SetPermissions(testUser, "<custom><profile>certs</profile></custom>"); err != nil {
					t.Fatal(err)
				}
			},
			status: map[string]string{
				driver.CapabilityKeyGeneration: driver.CheckOK, driver.CapabilityImport: driver.CheckOK, driver.CapabilityBinding: driver.CheckOK,
				driver.CapabilityCommit: driver.CheckFailed, driver.CapabilityRollback: driver.CheckFailed,
			},
			detail: map[string][]string{driver.CapabilityCommit: {`admin role profile "certs" does not allow`, "enable the XML API request types"}},
		},
		{
			name: "a read-only administrator can only export",
			setup: func(t *testing.T, dev *panoslab.Device) {
				if err := dev.SetPermissions(testUser, "<superreader>yes</superreader>"); err != nil {
					t.Fatal(err)
				}
			},
			status: map[string]string{
				driver.CapabilityKeyGeneration: driver.CheckFailed, driver.CapabilityCSRExport: driver.CheckOK, driver.CapabilityImport: driver.CheckFailed,
				driver.CapabilityBinding: driver.CheckFailed, driver.CapabilityCommit: driver.CheckFailed, driver.CapabilityRollback: driver.CheckFailed,
			},
			detail: map[string][]string{driver.CapabilityBinding: {`role "superreader" (read-only) does not allow`}},
		},
		{
			name:    "a GlobalProtect portal the device does not have fails the binding",
			options: map[string]any{"bind": "globalprotect-portal", "globalprotect_name": "No-Such-Portal"},
			status:  map[string]string{driver.CapabilityBinding: driver.CheckFailed, driver.CapabilityCommit: driver.CheckOK},
			detail:  map[string][]string{driver.CapabilityBinding: {`GlobalProtect portal "No-Such-Portal" (vsys1) does not exist`, "globalprotect_name"}},
		},
		{
			name: "another administrator's locks fail the binding and the commit",
			setup: func(t *testing.T, dev *panoslab.Device) {
				dev.LockConfig("alice", "change window")
				dev.LockCommits("bob", "")
			},
			status: map[string]string{
				driver.CapabilityBinding: driver.CheckFailed, driver.CapabilityCommit: driver.CheckFailed, driver.CapabilityRollback: driver.CheckFailed,
			},
			detail: map[string][]string{
				driver.CapabilityBinding: {`configuration lock is held by "alice"`},
				driver.CapabilityCommit:  {`commit lock is held by "bob"`},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newCA(t), panoslab.Config{})
			if tc.setup != nil {
				tc.setup(t, f.dev)
			}
			report := f.check(t, f.withOptions(tc.options))
			for capability, want := range tc.status {
				if got, detail := status(t, report, capability); got != want {
					t.Errorf("%s: %s (%s), want %s", capability, got, detail, want)
				}
			}
			for capability, wants := range tc.detail {
				_, detail := status(t, report, capability)
				for _, want := range wants {
					if !strings.Contains(detail, want) {
						t.Errorf("%s detail %q does not contain %q", capability, detail, want)
					}
				}
			}
			for _, call := range f.dev.Calls() {
				if !readOnly(call) {
					t.Errorf("Check sent %q, which is not a read", call)
				}
			}
		})
	}
}

func TestCheckSaysWhereTheKeyTravels(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{IgnoreKeyHeader: true})
	report := f.check(t, f.target)
	if _, detail := status(t, report, driver.CapabilityLogin); !strings.Contains(detail, "POST body") {
		t.Errorf("the login detail %q does not say the key travels in the POST body", detail)
	}
	if report.Software == "" {
		t.Error("Check read no software version from a device that takes the key in the body")
	}
}

func TestARequestTheRoleRefusesSaysWhatToCheck(t *testing.T) {
	f := newFixture(t, newCA(t), panoslab.Config{})
	if err := f.dev.SetRunning("/config/shared/admin-role", `<entry name="no-export"><role><device><xmlapi><config>enable</config>`+
		`<op>enable</op><export>disable</export></xmlapi></device></role></entry>`); err != nil {
		t.Fatal(err)
	}
	if err := f.dev.SetPermissions(testUser, "<custom><profile>no-export</profile></custom>"); err != nil {
		t.Fatal(err)
	}
	sess := f.open(t, newDriver(), f.target)
	_, err := sess.GenerateCSR(context.Background(), driver.CSRRequest{CommonName: deviceName, KeyType: asset.KeyECDSA256})
	for _, want := range []string{"export the CSR", "Invalid Credential", "does not allow XML API export requests", "ottr device check"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("GenerateCSR = %v, want an error containing %q", err, want)
		}
	}
}
