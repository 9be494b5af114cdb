package bigip

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip/bigiplab"
)

// capabilityOrder is what a BIG-IP report lists, in a rotation's order.
var capabilityOrder = []string{
	driver.CapabilityLogin, driver.CapabilityKeyGeneration, driver.CapabilityCSRExport, driver.CapabilityImport,
	driver.CapabilityBinding, driver.CapabilityCommit, driver.CapabilityRollback,
}

func check(t *testing.T, sess driver.Session) driver.DeviceReport {
	t.Helper()
	checker, ok := sess.(driver.Checker)
	if !ok {
		t.Fatal("the session does not implement driver.Checker")
	}
	report, err := checker.Check(context.Background())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return report
}

func checkOf(report driver.DeviceReport, capability string) driver.CapabilityCheck {
	for _, c := range report.Checks {
		if c.Capability == capability {
			return c
		}
	}
	return driver.CapabilityCheck{}
}

// readOnly reports whether a recorded request only reads: a GET, or util
// bash printing a certificate or a CSR.
func readOnly(r bigiplab.Request) bool {
	call := r.Call()
	return r.Method == http.MethodGet ||
		strings.HasPrefix(call, "POST /mgmt/tm/util/bash cat ") ||
		strings.HasPrefix(call, "POST /mgmt/tm/util/bash tmsh list ")
}

func TestCheckReportsTheDeviceWithoutChangingIt(t *testing.T) {
	for _, tc := range []struct {
		target  string
		binding []string
	}{
		{bigiplab.TargetClientSSL, []string{"client-ssl profile /Common/ottr-lab_clientssl", "certKeyChain entry default", "/Common/default.crt", "/Common/default.key"}},
		{bigiplab.TargetHTTPD, []string{"sys httpd", "/etc/httpd/conf/ssl.crt/server.crt"}},
	} {
		t.Run(tc.target, func(t *testing.T) {
			f := newFixture(t, nil, bigiplab.Config{Target: tc.target, Version: "16.1.3"})
			sess := f.open(t, New(Config{}))
			seen, generation := len(f.dev.Requests()), f.dev.Generation()

			report := check(t, sess)

			if report.Software != "BIG-IP 16.1.3" {
				t.Errorf("Software is %q, want BIG-IP 16.1.3", report.Software)
			}
			for _, want := range tc.binding {
				if !strings.Contains(report.Binding, want) {
					t.Errorf("Binding %q does not name %q", report.Binding, want)
				}
			}
			if len(report.Checks) != len(capabilityOrder) {
				t.Fatalf("the report has %d checks, want %v", len(report.Checks), capabilityOrder)
			}
			for i, c := range report.Checks {
				if c.Capability != capabilityOrder[i] || c.Status != driver.CheckOK || c.Detail == "" {
					t.Errorf("check %d is %+v, want %s ok with what was looked at", i+1, c, capabilityOrder[i])
				}
			}
			for _, r := range f.dev.Requests()[seen:] {
				if !readOnly(r) {
					t.Errorf("Check sent %s, which is not a read", r.Call())
				}
			}
			if f.dev.Generation() != generation {
				t.Error("the device's configuration changed during Check")
			}
		})
	}
}

func TestCheckNamesWhatARotationWouldFailOn(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cfg        bigiplab.Config
		options    map[string]any
		capability string
		detail     []string
	}{
		{
			name:       "a profile that does not exist",
			options:    map[string]any{"profile": "no_such_profile"},
			capability: driver.CapabilityBinding,
			detail:     []string{"/Common/no_such_profile", "was not found", "profile option"},
		},
		{
			name:       "an account without the Administrator role",
			cfg:        bigiplab.Config{Role: "operator"},
			capability: driver.CapabilityKeyGeneration,
			detail:     []string{"operator", "Administrator role on all partitions"},
		},
		{
			name:       "a partition that does not exist",
			options:    map[string]any{"partition": "Nowhere"},
			capability: driver.CapabilityImport,
			detail:     []string{"partition Nowhere", "does not exist"},
		},
		{
			name:       "an entry whose key has a passphrase",
			cfg:        bigiplab.Config{InitialKeyPassphrase: "Key-Passw0rd"},
			capability: driver.CapabilityBinding,
			detail:     []string{"passphrase", "certKeyChain entry default"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, tc.cfg)
			for k, v := range tc.options {
				f.target.Options[k] = v
			}
			sess := f.open(t, New(Config{}))
			report := check(t, sess)
			c := checkOf(report, tc.capability)
			if c.Status != driver.CheckFailed {
				t.Fatalf("%s is %q (%s), want failed; report: %+v", tc.capability, c.Status, c.Detail, report)
			}
			for _, want := range tc.detail {
				if !strings.Contains(c.Detail, want) {
					t.Errorf("the detail %q does not say %q", c.Detail, want)
				}
			}
			if !report.Failed() {
				t.Error("the report does not count as failed")
			}
			if strings.Contains(c.Detail, testPassword) || strings.Contains(c.Detail, "Key-Passw0rd") {
				t.Errorf("the detail %q carries a secret", c.Detail)
			}
		})
	}
}
