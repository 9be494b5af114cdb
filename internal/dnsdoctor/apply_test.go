package dnsdoctor

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
)

// applier writes the lab's managed zone with secret.
func applier(secret string, zones ...string) *RFC2136 {
	return &RFC2136{
		Nameserver: testDNS.Addr(),
		Zones:      zones,
		TSIGKey:    tsigKey,
		TSIGSecret: secret,
		Timeout:    labTimeout,
	}
}

func record(label string) dnsdelegate.Record {
	return dnsdelegate.Record{Name: "_acme-challenge." + label + "." + managedZone, Target: want(label)}
}

// liveCNAME returns the CNAME target the lab serves at name, or "".
func liveCNAME(t *testing.T, name string) string {
	t.Helper()
	for _, rr := range testDNS.Records(name, dns.TypeCNAME) {
		return rr.(*dns.CNAME).Target
	}
	return ""
}

// removeAfter deletes the CNAME a test creates at name when it ends, so
// the lab's zone is as every test found it.
func removeAfter(t *testing.T, name string) {
	t.Cleanup(func() { testDNS.RemoveRecords(dns.Fqdn(name), dns.TypeCNAME) })
}

func TestApplyCreatesMissingRecordsThenDoctorSaysOK(t *testing.T) {
	names := []string{"apply1.lab.ottr.test", "apply2.lab.ottr.test"}
	d := doctor(t, nil)
	before, err := d.Run(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	missing := before.Missing()
	if len(missing) != 2 {
		t.Fatalf("missing = %v, want both names", missing)
	}
	results := Apply(context.Background(), applier(tsigSecret, managedZone), missing, ApplyOptions{})
	for _, r := range results {
		removeAfter(t, r.Record.Name)
		if r.Action != ActionCreated {
			t.Errorf("%s: %s (%s), want created", r.Record.Name, r.Action, r.Problem)
		}
		if got := liveCNAME(t, r.Record.Name); got != r.Record.Target {
			t.Errorf("%s is a CNAME to %q, want %q", r.Record.Name, got, r.Record.Target)
		}
	}
	after, err := d.Run(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if f := findingFor(t, after, n); f.Status != StatusOK {
			t.Errorf("after apply, %s is %s: %s", n, f.Status, f.Problem)
		}
	}
}

func TestApply(t *testing.T) {
	addRecords(t,
		"_acme-challenge.taken.lab.ottr.test. 60 IN CNAME _acme-challenge.taken.elsewhere.ottr.test.",
		"_acme-challenge.done.lab.ottr.test. 60 IN CNAME "+want("done"),
		"_acme-challenge.txt.lab.ottr.test. 60 IN TXT \"manual\"",
	)
	tests := []struct {
		name      string
		applier   Applier
		label     string
		opts      ApplyOptions
		action    Action
		problem   []string
		wantCNAME string // what the lab serves afterwards
	}{
		{
			name:    "an existing CNAME to elsewhere is not overwritten",
			applier: applier(tsigSecret, managedZone), label: "taken",
			action:    ActionConflict,
			problem:   []string{"already exists as a CNAME to _acme-challenge.taken.elsewhere.ottr.test.", "by hand"},
			wantCNAME: "_acme-challenge.taken.elsewhere.ottr.test.",
		},
		{
			name:    "a name holding a TXT record is not overwritten",
			applier: applier(tsigSecret, managedZone), label: "txt",
			action:  ActionConflict,
			problem: []string{"already exists", "TXT"},
		},
		{
			name:    "the wanted CNAME already there is reported present",
			applier: applier(tsigSecret, managedZone), label: "done",
			action: ActionPresent, wantCNAME: want("done"),
		},
		{
			name:    "a dry run creates nothing",
			applier: applier(tsigSecret, managedZone), label: "dry", opts: ApplyOptions{DryRun: true},
			action: ActionWouldCreate,
		},
		{
			name:    "without configured zones the zone is found from the server's SOA",
			applier: applier(tsigSecret), label: "found",
			action: ActionCreated, wantCNAME: want("found"),
		},
		{
			name:    "a wrong TSIG secret fails without showing the secret",
			applier: applier(wrongSecret, managedZone), label: "badkey",
			action:  ActionFailed,
			problem: []string{"NOTAUTH", "TSIG key"},
		},
		{
			name:    "a name outside the configured zones fails before any update",
			applier: applier(tsigSecret, "other.test"), label: "outside",
			action:  ActionFailed,
			problem: []string{"not in any of the zones"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := record(tt.label)
			if tt.action == ActionCreated {
				removeAfter(t, r.Name)
			}
			results := Apply(context.Background(), tt.applier, []dnsdelegate.Record{r}, tt.opts)
			if len(results) != 1 {
				t.Fatalf("%d results for one record", len(results))
			}
			got := results[0]
			if got.Action != tt.action {
				t.Fatalf("action = %s (%s), want %s", got.Action, got.Problem, tt.action)
			}
			for _, p := range tt.problem {
				if !strings.Contains(got.Problem, p) {
					t.Errorf("problem %q does not say %q", got.Problem, p)
				}
			}
			for _, secret := range []string{tsigSecret, wrongSecret} {
				if strings.Contains(got.Problem, secret) {
					t.Fatalf("a TSIG secret appears in %q", got.Problem)
				}
			}
			if live := liveCNAME(t, r.Name); live != tt.wantCNAME {
				t.Errorf("afterwards %s is a CNAME to %q, want %q", r.Name, live, tt.wantCNAME)
			}
		})
	}
}

func TestWriteApplyTextOfADryRun(t *testing.T) {
	records := []dnsdelegate.Record{record("a"), record("b")}
	results := Apply(context.Background(), nil, records, ApplyOptions{DryRun: true})
	var out bytes.Buffer
	if err := WriteApplyText(&out, results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"WOULD-CREATE  _acme-challenge.a.lab.ottr.test. 300 IN CNAME _acme-challenge.a.acme.ottr.test.\n",
		"WOULD-CREATE  _acme-challenge.b.lab.ottr.test. 300 IN CNAME _acme-challenge.b.acme.ottr.test.\n",
		"2 records: 2 would-create\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
