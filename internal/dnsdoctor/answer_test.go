package dnsdoctor

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/lab/dnsserver"
)

// An authoritative-only server for the managed zone answers a TXT
// question with the CNAME alone; ottr's hop-by-hop checks pass through
// it, and the answer check warns, naming it.
func TestDoctorWarnsOfAResolverThatDoesNotFollowTheCNAME(t *testing.T) {
	authOnly, err := dnsserver.Start(context.Background(), dnsserver.Config{Zones: []string{managedZone}})
	if err != nil {
		t.Fatal(err)
	}
	defer authOnly.Close()
	if err := authOnly.AddRecord("_acme-challenge.solo.lab.ottr.test. 60 IN CNAME " + want("solo")); err != nil {
		t.Fatal(err)
	}
	addRecords(t, "_acme-challenge.solo.lab.ottr.test. 60 IN CNAME "+want("solo"))

	tests := []struct {
		name      string
		resolvers []string
		warned    bool
	}{
		{"warns when the first resolver serves the managed zone alone", []string{authOnly.Addr(), testDNS.Addr()}, true},
		{"is quiet when the resolver answers from the delegate zone too", []string{testDNS.Addr()}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := doctor(t, nil)
			d.Resolvers = tt.resolvers
			report, err := d.Run(context.Background(), []string{"solo.lab.ottr.test"})
			if err != nil {
				t.Fatal(err)
			}
			if f := findingFor(t, report, "solo.lab.ottr.test"); f.Status != StatusOK {
				t.Fatalf("delegation = %+v, want ok: ottr follows the chain itself", f)
			}
			var warning *Finding
			for i, f := range report.Findings {
				if f.Check == CheckAnswer {
					warning = &report.Findings[i]
				}
			}
			if !tt.warned {
				if warning != nil {
					t.Fatalf("warned %+v of a resolver that answers from the delegate zone", *warning)
				}
				return
			}
			if warning == nil {
				t.Fatalf("no answer warning in %+v", report.Findings)
			}
			if warning.Name != authOnly.Addr() || warning.Status != StatusCNAMENotFollowed || !report.OK() {
				t.Errorf("warning %+v: want it to name %s, as a warning that fails nothing", *warning, authOnly.Addr())
			}
			for _, want := range []string{"_acme-challenge.solo.lab.ottr.test.", "No TXT records found", "authoritative-only"} {
				if !strings.Contains(warning.Problem, want) {
					t.Errorf("problem %q does not say %q", warning.Problem, want)
				}
			}
			if !strings.Contains(warning.Fix, "recursive resolver") {
				t.Errorf("fix %q does not name a recursive resolver", warning.Fix)
			}
			var out bytes.Buffer
			if err := WriteText(&out, report); err != nil {
				t.Fatal(err)
			}
			if text := out.String(); !strings.Contains(text, "WARNING              "+authOnly.Addr()) || strings.Contains(text, "records to add") {
				t.Errorf("the text does not show the warning, or offers its fix as a record:\n%s", text)
			}
		})
	}
}

func TestDoctorSaysWhenTheWriteCheckWasSkipped(t *testing.T) {
	addRecords(t, "_acme-challenge.skipped.lab.ottr.test. 60 IN CNAME "+want("skipped"))
	report, err := doctor(t, nil).Run(context.Background(), []string{"skipped.lab.ottr.test"})
	if err != nil {
		t.Fatal(err)
	}
	w := report.Findings[len(report.Findings)-1]
	if w.Check != CheckWrite || w.Status != StatusSkipped {
		t.Fatalf("last finding = %+v, want the skipped write check", w)
	}
	if !strings.Contains(w.Problem, "skipped (--no-write)") || strings.Contains(w.Problem, "no DNS provider") {
		t.Errorf("problem %q, want it to say the check was skipped", w.Problem)
	}
}

// A write the server never receives is a reachability problem: the fix
// says so, and sends nobody to change an update-policy.
func TestDoctorNamesReachabilityWhenTheWriteCannotReachTheServer(t *testing.T) {
	addRecords(t, "_acme-challenge.unreached.lab.ottr.test. 60 IN CNAME "+want("unreached"))
	// A UDP port nothing listens on: loopback answers with "connection
	// refused" at once.
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := conn.LocalAddr().String()
	conn.Close()
	p, err := dnsupdate.NewDNSProviderConfig(&dnsupdate.Config{
		Nameserver: closed, DNSTimeout: labTimeout, Zones: []string{delegateZone},
		TSIGAlgorithm: dns.HmacSHA256, TSIGKey: tsigKey, TSIGSecret: tsigSecret, TTL: 60,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := doctor(t, p)
	d.PropagationTimeout = 5 * time.Second
	report, err := d.Run(context.Background(), []string{"unreached.lab.ottr.test"})
	if err != nil {
		t.Fatal(err)
	}
	w := report.Findings[len(report.Findings)-1]
	if w.Check != CheckWrite || w.Status != StatusWriteFailed {
		t.Fatalf("last finding = %+v, want a failed write", w)
	}
	if !strings.Contains(w.Fix, "could not be reached") || !strings.Contains(w.Fix, "dns.rfc2136.nameserver") || strings.Contains(w.Fix, "update-policy") {
		t.Errorf("fix %q, want reachability and the nameserver setting, not an update-policy", w.Fix)
	}
}
