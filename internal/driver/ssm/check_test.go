package ssm

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
)

// writingCalls are the calls that change an instance: the driver's file
// utilities, openssl req (it writes the key), the reload and the hooks.
var writingCalls = []string{
	"ssm:CancelCommand",
	"AWS-RunShellScript: cp", "AWS-RunShellScript: mv", "AWS-RunShellScript: rm", "AWS-RunShellScript: mkdir",
	"AWS-RunShellScript: chmod", "AWS-RunShellScript: chown", "AWS-RunShellScript: openssl req",
	"AWS-RunShellScript: reload_command", `AWS-RunShellScript: "$hook"`,
}

func TestCheckLooksAtTheInstanceWithoutChangingIt(t *testing.T) {
	f := newFixture(t)
	// A hook that would leave a trace if the check ran it.
	writeHook(t, f, "pre", "10-stop-proxy.sh", "touch pre-hook-ran", 0o755)
	device := newConformanceDeviceOf(f)
	report := drivertest.RunCheck(t, newTestDriver(), device, func(t *testing.T) string {
		return drivertest.DirState(t, f.inst.LocalPath(ssmlab.DefaultPathPrefix+"/"))
	})
	for _, want := range []string{"OpenSSL ", " on Linux ", "Ubuntu 22.04, SSM agent "} {
		if !strings.Contains(report.Software, want) {
			t.Errorf("software %q does not name %q", report.Software, want)
		}
	}
	if !strings.Contains(report.Binding, ssmlab.DefaultPathPrefix+"/"+ssmlab.DefaultCertPath) {
		t.Errorf("binding %q does not name cert_path", report.Binding)
	}
	served := f.inst.Served()
	for _, c := range report.Checks {
		if c.Status != driver.CheckOK {
			t.Errorf("%s: %s (%s), want ok on an instance set up for rotation", c.Capability, c.Status, c.Detail)
		}
		switch c.Capability {
		case driver.CapabilityLogin:
			if !strings.Contains(c.Detail, f.inst.ID()+" is Online") || !strings.Contains(c.Detail, "root (uid 0) by the SSM agent") {
				t.Errorf("login detail %q does not say the agent is online and who runs the commands", c.Detail)
			}
		case driver.CapabilityKeyGeneration:
			if !strings.Contains(c.Detail, "not run by the check: 10-stop-proxy.sh") {
				t.Errorf("key generation detail %q does not name the pre hook", c.Detail)
			}
		case driver.CapabilityBinding:
			if !strings.Contains(c.Detail, served.SerialNumber.Text(16)) {
				t.Errorf("binding detail %q does not name the served certificate's serial %x", c.Detail, served.SerialNumber)
			}
		}
	}
	calls := f.svc.Calls()
	if !slices.Contains(calls, "ssm:DescribeInstanceInformation") {
		t.Errorf("Check did not ask SSM for the agent: %q", calls)
	}
	for _, call := range calls {
		if slices.Contains(writingCalls, call) {
			t.Errorf("Check sent %q, which writes", call)
		}
	}
}

func TestCheckSaysWhatARotationWouldFailAtAndTheFix(t *testing.T) {
	for _, tc := range []struct {
		name       string
		prepare    func(t *testing.T, f *fixture)
		capability string
		want       []string
	}{
		{
			name:       "a reload program the instance lacks fails the commit",
			prepare:    func(t *testing.T, f *fixture) { f.target.Options["reload_command"] = "ottr_no_such_reloader reload" },
			capability: driver.CapabilityCommit,
			want:       []string{"ottr_no_such_reloader is not found", "give its full path in reload_command"},
		},
		{
			name: "a stopped instance fails the login",
			prepare: func(t *testing.T, f *fixture) {
				if err := f.inst.SetState(ssmlab.StateStopped); err != nil {
					t.Fatal(err)
				}
				f.findByID(f.inst.ID())
			},
			capability: driver.CapabilityLogin,
			want:       []string{"SSM lists no running managed node", "start the instance"},
		},
		{
			name:       "an instance SSM does not know fails the login",
			prepare:    func(t *testing.T, f *fixture) { f.findByID("i-0123456789abcdef0") },
			capability: driver.CapabilityLogin,
			want:       []string{"SSM does not manage instance i-0123456789abcdef0", "AmazonSSMManagedInstanceCore"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.prepare(t, f)
			before := drivertest.DirState(t, f.inst.LocalPath(ssmlab.DefaultPathPrefix+"/"))
			report, err := f.open(t, newTestDriver()).(driver.Checker).Check(context.Background())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			drivertest.RequireCheck(t, report, tc.capability, driver.CheckFailed, tc.want...)
			if after := drivertest.DirState(t, f.inst.LocalPath(ssmlab.DefaultPathPrefix+"/")); after != before {
				t.Errorf("Check changed the instance:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// findByID has the route take the instance ID from the asset's label
// instead of looking the Name tag up.
func (f *fixture) findByID(id string) {
	f.target.Options["instance_id_from"] = "asset-field"
	f.target.Asset.Labels = map[string]string{"instance_id": id}
}
