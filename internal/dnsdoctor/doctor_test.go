package dnsdoctor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/providers/dns/dnsupdate"
	"github.com/miekg/dns"

	"github.com/ottr-go/ottr/internal/dnsdelegate"
	"github.com/ottr-go/ottr/internal/lab/dnsserver"
)

// The lab: a managed zone delegated to an updatable delegate zone, and a
// third zone that wrong records point into.
const (
	managedZone  = "lab.ottr.test."
	delegateZone = "acme.ottr.test."
	otherZone    = "elsewhere.ottr.test."
	tsigKey      = "ottr-acme."
)

var (
	// Throwaway lab secrets, random per run.
	tsigSecret  = randomSecret()
	wrongSecret = randomSecret()

	testDNS *dnsserver.Server
)

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// labTimeout bounds each query and update the tests send to the lab. The
// lab answers at once, but a loaded machine can hold a UDP reply back for
// seconds, and a reply that comes late fails the query; no test waits one
// out.
const labTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runWithLab(m))
}

func runWithLab(m *testing.M) int {
	var err error
	testDNS, err = dnsserver.Start(context.Background(), dnsserver.Config{
		Zones: []string{managedZone, delegateZone, otherZone},
		// The managed zone is updatable too, for Apply.
		UpdatableZones: []string{managedZone, delegateZone},
		TSIG:           map[string]string{tsigKey: tsigSecret},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testDNS.Close()
	// lego follows _acme-challenge CNAMEs through its process-wide client
	// before it writes; point it at the lab instead of the system.
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{
		RecursiveNameservers: []string{testDNS.Addr()},
		Timeout:              labTimeout,
	}))
	return m.Run()
}

func delegations(t *testing.T) *dnsdelegate.Delegations {
	t.Helper()
	d, err := dnsdelegate.New(map[string]string{managedZone: delegateZone})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// writer is lego's RFC 2136 provider as ottr configures it, signing with secret.
func writer(t *testing.T, secret string) challenge.Provider {
	t.Helper()
	p, err := dnsupdate.NewDNSProviderConfig(&dnsupdate.Config{
		Nameserver:    testDNS.Addr(),
		DNSTimeout:    labTimeout,
		Zones:         []string{delegateZone},
		TSIGAlgorithm: dns.HmacSHA256,
		TSIGKey:       tsigKey,
		TSIGSecret:    secret,
		TTL:           60,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func doctor(t *testing.T, w challenge.Provider) *Doctor {
	t.Helper()
	return &Doctor{
		Delegations:        delegations(t),
		Resolvers:          []string{testDNS.Addr()},
		Timeout:            labTimeout,
		Writer:             w,
		KeyName:            tsigKey,
		Secrets:            []string{tsigSecret, wrongSecret},
		PropagationTimeout: 3 * labTimeout, // room for late replies: the lab serves a record once written
		PollingInterval:    20 * time.Millisecond,
	}
}

func addRecords(t *testing.T, records ...string) {
	t.Helper()
	for _, r := range records {
		if err := testDNS.AddRecord(r); err != nil {
			t.Fatal(err)
		}
	}
}

// findingFor returns the delegation finding of a certificate name.
func findingFor(t *testing.T, r Report, name string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Check == CheckDelegation && f.Name == name {
			return f
		}
	}
	t.Fatalf("no finding for %s in %+v", name, r.Findings)
	return Finding{}
}

func want(label string) string { return "_acme-challenge." + label + "." + delegateZone }

func TestDoctorDelegations(t *testing.T) {
	addRecords(t,
		"_acme-challenge.good.lab.ottr.test. 60 IN CNAME "+want("good"),
		"_acme-challenge.manual.lab.ottr.test. 60 IN TXT \"left-over-challenge\"",
		"_acme-challenge.wrongzone.lab.ottr.test. 60 IN CNAME _acme-challenge.wrongzone.elsewhere.ottr.test.",
		"_acme-challenge.wrongname.lab.ottr.test. 60 IN CNAME "+want("somebody-else"),
		"_acme-challenge.hop.lab.ottr.test. 60 IN CNAME hop.elsewhere.ottr.test.",
		"hop.elsewhere.ottr.test. 60 IN CNAME "+want("hop"),
		"_acme-challenge.loop.lab.ottr.test. 60 IN CNAME loop.elsewhere.ottr.test.",
		"loop.elsewhere.ottr.test. 60 IN CNAME _acme-challenge.loop.lab.ottr.test.",
		"_acme-challenge.deep.lab.ottr.test. 60 IN CNAME "+want("deep"),
		want("deep")+" 60 IN CNAME _acme-challenge.deep.elsewhere.ottr.test.",
	)
	names := []string{
		"good.lab.ottr.test", "*.good.lab.ottr.test", "missing.lab.ottr.test", "manual.lab.ottr.test",
		"wrongzone.lab.ottr.test", "wrongname.lab.ottr.test", "hop.lab.ottr.test", "loop.lab.ottr.test",
		"deep.lab.ottr.test", "www.example.org",
	}
	report, err := doctor(t, nil).Run(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string // certificate name
		status     Status
		problem    []string // substrings of Problem
		remove     string   // substring of Remove; "" means none
		fix        string   // exact Fix; "" means none
		chain      int
		applicable bool // among Report.Missing()
	}{
		{name: "good.lab.ottr.test", status: StatusOK, chain: 1},
		{name: "missing.lab.ottr.test", status: StatusMissing,
			problem: []string{"no CNAME at _acme-challenge.missing.lab.ottr.test."},
			fix:     "_acme-challenge.missing.lab.ottr.test. 300 IN CNAME " + want("missing"), applicable: true},
		{name: "manual.lab.ottr.test", status: StatusMissing,
			problem: []string{"1 TXT record"}, remove: `_acme-challenge.manual.lab.ottr.test. IN TXT "left-over-challenge"`,
			fix: "_acme-challenge.manual.lab.ottr.test. 300 IN CNAME " + want("manual")},
		{name: "wrongzone.lab.ottr.test", status: StatusWrongTarget,
			problem: []string{"CNAME to _acme-challenge.wrongzone.elsewhere.ottr.test.", "outside the delegate zone acme.ottr.test."},
			remove:  "_acme-challenge.wrongzone.lab.ottr.test. IN CNAME _acme-challenge.wrongzone.elsewhere.ottr.test.",
			fix:     "_acme-challenge.wrongzone.lab.ottr.test. 300 IN CNAME " + want("wrongzone"), chain: 1},
		{name: "wrongname.lab.ottr.test", status: StatusWrongTarget,
			problem: []string{"in the delegate zone acme.ottr.test. but at the wrong name", "want " + want("wrongname")},
			remove:  "IN CNAME " + want("somebody-else"),
			fix:     "_acme-challenge.wrongname.lab.ottr.test. 300 IN CNAME " + want("wrongname"), chain: 1},
		{name: "hop.lab.ottr.test", status: StatusExtraHop,
			problem: []string{"only through another CNAME", "hop.elsewhere.ottr.test."},
			remove:  "_acme-challenge.hop.lab.ottr.test. IN CNAME hop.elsewhere.ottr.test.",
			fix:     "_acme-challenge.hop.lab.ottr.test. 300 IN CNAME " + want("hop"), chain: 2},
		{name: "loop.lab.ottr.test", status: StatusLoop,
			problem: []string{"loops", "loop.elsewhere.ottr.test. -> _acme-challenge.loop.lab.ottr.test."},
			remove:  "_acme-challenge.loop.lab.ottr.test. IN CNAME loop.elsewhere.ottr.test.",
			fix:     "_acme-challenge.loop.lab.ottr.test. 300 IN CNAME " + want("loop"), chain: 2},
		{name: "deep.lab.ottr.test", status: StatusExtraHop,
			problem: []string{"is itself a CNAME"},
			remove:  want("deep") + " IN CNAME _acme-challenge.deep.elsewhere.ottr.test.", chain: 2},
		{name: "www.example.org", status: StatusUnmanaged, problem: []string{"none of the managed zones"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is "+string(tt.status), func(t *testing.T) {
			f := findingFor(t, report, tt.name)
			if f.Status != tt.status {
				t.Fatalf("status = %s, want %s (problem: %s)", f.Status, tt.status, f.Problem)
			}
			for _, p := range tt.problem {
				if !strings.Contains(f.Problem, p) {
					t.Errorf("problem %q does not say %q", f.Problem, p)
				}
			}
			if (tt.remove == "") != (f.Remove == "") || !strings.Contains(f.Remove, tt.remove) {
				t.Errorf("remove = %q, want it to hold %q", f.Remove, tt.remove)
			}
			if f.Fix != tt.fix {
				t.Errorf("fix = %q, want %q", f.Fix, tt.fix)
			}
			if len(f.Chain) != tt.chain {
				t.Errorf("chain = %q, want %d hops", f.Chain, tt.chain)
			}
			applicable := false
			for _, r := range report.Missing() {
				applicable = applicable || r.Name == f.Record
			}
			if applicable != tt.applicable {
				t.Errorf("among the records Apply may create: %v, want %v", applicable, tt.applicable)
			}
		})
	}

	t.Run("a name and its wildcard are checked once", func(t *testing.T) {
		n := 0
		for _, f := range report.Findings {
			if f.Record == "_acme-challenge.good.lab.ottr.test." {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d findings for _acme-challenge.good.lab.ottr.test., want 1", n)
		}
	})
	t.Run("without a provider the write check is skipped, not failed", func(t *testing.T) {
		last := report.Findings[len(report.Findings)-1]
		if last.Check != CheckWrite || last.Status != StatusSkipped || last.Name != delegateZone {
			t.Errorf("last finding = %+v, want a skipped write check of %s", last, delegateZone)
		}
	})
	t.Run("the report is not OK", func(t *testing.T) {
		if report.OK() {
			t.Errorf("a report with missing and wrong records says OK")
		}
	})
}

func TestDoctorLookupFailure(t *testing.T) {
	d := doctor(t, nil)
	// A resolver that refuses everything: the lab server asked about a
	// zone it does not serve answers REFUSED.
	d.Delegations, _ = dnsdelegate.New(map[string]string{"not-served.test": delegateZone})
	report, err := d.Run(context.Background(), []string{"a.not-served.test"})
	if err != nil {
		t.Fatal(err)
	}
	f := findingFor(t, report, "a.not-served.test")
	if f.Status != StatusLookupFailed || !strings.Contains(f.Problem, "REFUSED") {
		t.Errorf("finding = %+v, want lookup-failed saying REFUSED", f)
	}
	if len(report.Missing()) != 0 {
		t.Errorf("an unknown record is offered for creation: %v", report.Missing())
	}
}

func TestDoctorWriteAccess(t *testing.T) {
	addRecords(t, "_acme-challenge.writer.lab.ottr.test. 60 IN CNAME "+want("writer"))
	tests := []struct {
		name    string
		secret  string
		status  Status
		problem string
		fix     string
	}{
		{name: "the configured key can write and delete in the delegate zone",
			secret: tsigSecret, status: StatusOK},
		{name: "a wrong TSIG secret is refused and the finding says so without the secret",
			secret: wrongSecret, status: StatusWriteFailed, problem: "NOTAUTH", fix: "tsig_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			report, err := doctor(t, writer(t, tt.secret)).Run(context.Background(), []string{"writer.lab.ottr.test"})
			if err != nil {
				t.Fatal(err)
			}
			if f := findingFor(t, report, "writer.lab.ottr.test"); f.Status != StatusOK {
				t.Fatalf("delegation = %+v, want ok", f)
			}
			w := report.Findings[len(report.Findings)-1]
			if w.Check != CheckWrite || w.Name != delegateZone {
				t.Fatalf("last finding = %+v, want the write check of %s", w, delegateZone)
			}
			if w.Status != tt.status {
				t.Fatalf("write status = %s, want %s (problem: %s)", w.Status, tt.status, w.Problem)
			}
			if !strings.Contains(w.Problem, tt.problem) || !strings.Contains(w.Fix, tt.fix) {
				t.Errorf("problem %q / fix %q, want them to say %q / %q", w.Problem, w.Fix, tt.problem, tt.fix)
			}
			if !strings.HasPrefix(w.Record, "_acme-challenge."+probeLabel) || !dns.IsSubDomain(delegateZone, w.Record) {
				t.Errorf("test record %q is not a fresh name in the delegate zone", w.Record)
			}
			if left := testDNS.Records(w.Record, dns.TypeANY); len(left) != 0 {
				t.Errorf("the test record was left behind: %v", left)
			}
			var out bytes.Buffer
			raw, _ := json.Marshal(report)
			out.Write(raw)
			if err := WriteText(&out, report); err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{tsigSecret, wrongSecret} {
				if strings.Contains(out.String(), secret) {
					t.Fatalf("a TSIG secret appears in the report:\n%s", out.String())
				}
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	report := Report{Findings: []Finding{
		{Check: CheckDelegation, Name: "a.example.com", Record: "_acme-challenge.a.example.com.",
			Chain: []string{"_acme-challenge.a.example-acme.com."}, Status: StatusOK},
		{Check: CheckDelegation, Name: "b.example.com", Record: "_acme-challenge.b.example.com.", Status: StatusMissing,
			Problem: "there is no CNAME at _acme-challenge.b.example.com.",
			Fix:     "_acme-challenge.b.example.com. 300 IN CNAME _acme-challenge.b.example-acme.com."},
		{Check: CheckDelegation, Name: "c.example.com", Record: "_acme-challenge.c.example.com.", Status: StatusWrongTarget,
			Chain:   []string{"c.example.net."},
			Problem: "wrong", Remove: "_acme-challenge.c.example.com. IN CNAME c.example.net.",
			Fix: "_acme-challenge.c.example.com. 300 IN CNAME _acme-challenge.c.example-acme.com."},
		{Check: CheckWrite, Name: "example-acme.com.", Record: "_acme-challenge.ottr-doctor-1.example-acme.com.", Status: StatusOK},
	}}
	var out bytes.Buffer
	if err := WriteText(&out, report); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"OK                   a.example.com      _acme-challenge.a.example.com. -> _acme-challenge.a.example-acme.com.\n",
		"MISSING              b.example.com      _acme-challenge.b.example.com.\n",
		"    add:     _acme-challenge.b.example.com. 300 IN CNAME _acme-challenge.b.example-acme.com.\n",
		"    remove:  _acme-challenge.c.example.com. IN CNAME c.example.net.\n",
		"WRITE OK             example-acme.com.  wrote, saw and deleted a TXT record at _acme-challenge.ottr-doctor-1.example-acme.com.\n",
		"4 checks: 2 ok, 1 missing, 1 wrong-target\n",
		"; records to add to the managed zones (after removing what is listed under remove:)\n" +
			"_acme-challenge.b.example.com. 300 IN CNAME _acme-challenge.b.example-acme.com.\n" +
			"_acme-challenge.c.example.com. 300 IN CNAME _acme-challenge.c.example-acme.com.\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
