package junos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/junos/junoslab"
)

// readOnlyRPCs are the RPCs that change nothing on a device.
var readOnlyRPCs = []string{
	"get-software-information", "get-configuration", "get-rollback-information", "get-pki-local-certificate",
	"get-pki-ca-certificate", "file-list", "file-show", "close-session",
}

func TestCheckReportsTheDeviceWithoutChangingIt(t *testing.T) {
	ca := newCA(t)
	f := newFixture(t, ca, junoslab.Config{Model: "srx1500", Version: "21.2R3.8"})
	served := f.served(t)[0]
	before := f.dev.CommittedXML()

	report, err := f.open(t, f.driver()).(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, rpc := range f.dev.RPCs() {
		if !slices.Contains(readOnlyRPCs, rpc) {
			t.Errorf("Check sent <%s>, which changes the device", rpc)
		}
	}
	if f.dev.CommittedXML() != before {
		t.Error("the committed configuration changed")
	}
	if report.Software != "JunOS 21.2R3.8 (srx1500, host srx1)" {
		t.Errorf("Software = %q", report.Software)
	}
	want := fmt.Sprintf("%s = %s (serial %x", DefaultBindPath, junoslab.InitialID, served.SerialNumber)
	if !strings.Contains(report.Binding, want) {
		t.Errorf("Binding = %q, want it to contain %q", report.Binding, want)
	}
	if report.Failed() {
		t.Errorf("a check failed: %+v", report.Checks)
	}
	var got []string
	for _, c := range report.Checks {
		got = append(got, c.Capability+"="+c.Status)
	}
	wantChecks := []string{"login=ok", "key generation=unknown", "CSR export=unknown", "import=ok", "binding=ok", "commit=ok", "rollback=ok"}
	if !slices.Equal(got, wantChecks) {
		t.Errorf("checks %v, want %v", got, wantChecks)
	}
	if d := drivertest.CheckOf(t, report, driver.CapabilityKeyGeneration).Detail; !strings.Contains(d, "one DNS name") {
		t.Errorf("the key generation detail does not say the CSR carries one DNS name: %q", d)
	}
}

func TestCheckOfTheSystemGeneratedCertificate(t *testing.T) {
	f := newFixture(t, nil, junoslab.Config{})
	report, err := f.open(t, f.driver()).(driver.Checker).Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !strings.Contains(report.Binding, "system-generated-certificate") || !strings.Contains(report.Binding, "CN=srx1.example.test") {
		t.Errorf("Binding = %q", report.Binding)
	}
	if c := drivertest.CheckOf(t, report, driver.CapabilityBinding); c.Status != driver.CheckOK {
		t.Errorf("binding = %+v", c)
	}
}

func TestCheckFailsWhatARotationCouldNotDo(t *testing.T) {
	for _, tc := range []struct {
		name       string
		options    map[string]any
		capability string
		want       []string
	}{
		{
			name:       "a bind path into a profile the device does not have",
			options:    map[string]any{"bind_path": "services/ssl/termination/profile[name='web']/server-certificate"},
			capability: driver.CapabilityBinding,
			want:       []string{"has no services/ssl/termination/profile[name='web']", "configure it first"},
		},
		{
			name:       "an upload_dir the device does not have",
			options:    map[string]any{"upload_dir": "/var/nowhere"},
			capability: driver.CapabilityImport,
			want:       []string{"upload_dir /var/nowhere cannot be listed", "No such file or directory", "create it on the device or set upload_dir"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newCA(t), junoslab.Config{})
			for k, v := range tc.options {
				f.target.Options[k] = v
			}
			report, err := f.open(t, f.driver()).(driver.Checker).Check(context.Background())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			c := drivertest.CheckOf(t, report, tc.capability)
			if c.Status != driver.CheckFailed {
				t.Fatalf("%s = %+v, want failed", tc.capability, c)
			}
			for _, want := range tc.want {
				if !strings.Contains(c.Detail, want) {
					t.Errorf("detail %q does not say %q", c.Detail, want)
				}
			}
			for _, rpc := range f.dev.RPCs() {
				if !slices.Contains(readOnlyRPCs, rpc) {
					t.Errorf("Check sent <%s>, which changes the device", rpc)
				}
			}
		})
	}
}
