package dnsserver

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	deviceZone   = "lab.ottr.test."
	delegateZone = "acme.ottr.test."
	tsigKey      = "ottr-lab."
	// tsigSecret is a throwaway lab key (base64 of 32 bytes).
	tsigSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg=="
)

// startLab starts a server shaped like the lab's: a device zone whose
// _acme-challenge names are CNAMEs into an updatable delegate zone.
func startLab(t *testing.T) *Server {
	t.Helper()
	s, err := Start(context.Background(), Config{
		Zones:          []string{deviceZone, delegateZone},
		UpdatableZones: []string{delegateZone},
		TSIG:           map[string]string{tsigKey: tsigSecret},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	for _, rr := range []string{
		"dev1.lab.ottr.test. 60 IN A 192.0.2.10",
		"_acme-challenge.dev1.lab.ottr.test. 60 IN CNAME _acme-challenge.dev1.acme.ottr.test.",
		"_acme-challenge.dev1.acme.ottr.test. 60 IN TXT \"token-1\"",
		"_acme-challenge.dev2.lab.ottr.test. 60 IN CNAME _acme-challenge.dev2.acme.ottr.test.",
		"_acme-challenge.ext.lab.ottr.test. 60 IN CNAME _acme-challenge.example.net.",
		"deep.sub.lab.ottr.test. 60 IN TXT \"below an empty non-terminal\"",
	} {
		if err := s.AddRecord(rr); err != nil {
			t.Fatalf("AddRecord(%q): %v", rr, err)
		}
	}
	return s
}

func query(t *testing.T, addr, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(name, qtype)
	// The server answers at once, but a loaded machine can hold a UDP
	// reply back past the client's default two seconds.
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// rrStrings renders records without TTLs so expectations stay readable.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Ttl = 0
		out = append(out, strings.ReplaceAll(c.String(), "\t", " "))
	}
	slices.Sort(out)
	return out
}

func TestQueries(t *testing.T) {
	s := startLab(t)
	tests := []struct {
		name          string
		qname         string
		qtype         uint16
		wantRcode     int
		wantAnswer    []string
		wantSOAInAuth bool
		wantAA        bool
	}{
		{
			name: "answers an address record", qname: "dev1.lab.ottr.test.", qtype: dns.TypeA,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAnswer: []string{"dev1.lab.ottr.test. 0 IN A 192.0.2.10"},
		},
		{
			name: "answers a TXT query on a CNAME with the CNAME and the target's TXT", qname: "_acme-challenge.dev1.lab.ottr.test.", qtype: dns.TypeTXT,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAnswer: []string{
				"_acme-challenge.dev1.acme.ottr.test. 0 IN TXT \"token-1\"",
				"_acme-challenge.dev1.lab.ottr.test. 0 IN CNAME _acme-challenge.dev1.acme.ottr.test.",
			},
		},
		{
			name: "answers a CNAME query with the CNAME only", qname: "_acme-challenge.dev1.lab.ottr.test.", qtype: dns.TypeCNAME,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAnswer: []string{"_acme-challenge.dev1.lab.ottr.test. 0 IN CNAME _acme-challenge.dev1.acme.ottr.test."},
		},
		{
			name: "says NXDOMAIN with the CNAME when the target in a served zone is missing", qname: "_acme-challenge.dev2.lab.ottr.test.", qtype: dns.TypeTXT,
			wantRcode: dns.RcodeNameError, wantAA: true, wantSOAInAuth: true,
			wantAnswer: []string{"_acme-challenge.dev2.lab.ottr.test. 0 IN CNAME _acme-challenge.dev2.acme.ottr.test."},
		},
		{
			name: "hands a CNAME to a foreign zone back for the resolver to follow", qname: "_acme-challenge.ext.lab.ottr.test.", qtype: dns.TypeTXT,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAnswer: []string{"_acme-challenge.ext.lab.ottr.test. 0 IN CNAME _acme-challenge.example.net."},
		},
		{
			name: "answers the SOA at the apex", qname: "acme.ottr.test.", qtype: dns.TypeSOA,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAnswer: []string{"acme.ottr.test. 0 IN SOA ns.acme.ottr.test. hostmaster.acme.ottr.test. 2 3600 600 86400 60"},
		},
		{
			name: "answers the NS at the apex", qname: "lab.ottr.test.", qtype: dns.TypeNS,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAnswer: []string{"lab.ottr.test. 0 IN NS ns.lab.ottr.test."},
		},
		{
			name: "says NXDOMAIN with the SOA for a missing name", qname: "nothing.lab.ottr.test.", qtype: dns.TypeA,
			wantRcode: dns.RcodeNameError, wantAA: true, wantSOAInAuth: true,
		},
		{
			name: "says NOERROR without answers for a missing type", qname: "dev1.lab.ottr.test.", qtype: dns.TypeTXT,
			wantRcode: dns.RcodeSuccess, wantAA: true, wantSOAInAuth: true,
		},
		{
			name: "says NOERROR for an empty non-terminal", qname: "sub.lab.ottr.test.", qtype: dns.TypeTXT,
			wantRcode: dns.RcodeSuccess, wantAA: true, wantSOAInAuth: true,
		},
		{
			name: "matches names case-insensitively", qname: "DEV1.Lab.Ottr.Test.", qtype: dns.TypeA,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAnswer: []string{"dev1.lab.ottr.test. 0 IN A 192.0.2.10"},
		},
		{
			name: "refuses names outside the served zones", qname: "example.com.", qtype: dns.TypeA,
			wantRcode: dns.RcodeRefused,
		},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+": "+tt.name, func(t *testing.T) {
				r := query(t, s.Addr(), network, tt.qname, tt.qtype)
				if r.Rcode != tt.wantRcode {
					t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				if r.Authoritative != tt.wantAA {
					t.Errorf("AA = %t, want %t", r.Authoritative, tt.wantAA)
				}
				if got, want := rrStrings(r.Answer), tt.wantAnswer; !slices.Equal(got, want) {
					t.Errorf("answer =\n%q\nwant\n%q", got, want)
				}
				gotSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
				if gotSOA != tt.wantSOAInAuth {
					t.Errorf("authority = %v, want a SOA: %t", r.Ns, tt.wantSOAInAuth)
				}
			})
		}
	}
}

func TestRecordEditing(t *testing.T) {
	s := startLab(t)

	t.Run("SetRecord replaces the RRset", func(t *testing.T) {
		rr, _ := dns.NewRR(`dev1.lab.ottr.test. 60 IN A 192.0.2.99`)
		if err := s.SetRecord(rr); err != nil {
			t.Fatalf("SetRecord: %v", err)
		}
		got := rrStrings(query(t, s.Addr(), "udp", "dev1.lab.ottr.test.", dns.TypeA).Answer)
		if want := []string{"dev1.lab.ottr.test. 0 IN A 192.0.2.99"}; !slices.Equal(got, want) {
			t.Errorf("answer = %q, want %q", got, want)
		}
	})
	t.Run("AddRecord adds to the RRset once", func(t *testing.T) {
		for range 2 {
			if err := s.AddRecord(`multi.lab.ottr.test. 60 IN TXT "a"`); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddRecord(`multi.lab.ottr.test. 60 IN TXT "b"`); err != nil {
			t.Fatal(err)
		}
		if got := len(s.Records("multi.lab.ottr.test.", dns.TypeTXT)); got != 2 {
			t.Errorf("got %d TXT records, want 2", got)
		}
	})
	t.Run("RemoveRecords deletes the RRset but not the apex", func(t *testing.T) {
		s.RemoveRecords("multi.lab.ottr.test.", dns.TypeTXT)
		s.RemoveRecords("lab.ottr.test.", dns.TypeANY)
		if got := s.Records("multi.lab.ottr.test.", dns.TypeANY); len(got) != 0 {
			t.Errorf("records left: %v", got)
		}
		if r := query(t, s.Addr(), "udp", "lab.ottr.test.", dns.TypeSOA); len(r.Answer) != 1 {
			t.Errorf("the apex SOA went: %v", r)
		}
	})
	t.Run("records outside the served zones are rejected", func(t *testing.T) {
		if err := s.AddRecord(`www.example.com. 60 IN A 192.0.2.1`); err == nil {
			t.Error("AddRecord accepted a name outside the served zones")
		}
		rr, _ := dns.NewRR(`www.example.com. 60 IN A 192.0.2.1`)
		if err := s.SetRecord(rr); err == nil {
			t.Error("SetRecord accepted a name outside the served zones")
		}
	})
	t.Run("malformed records are rejected", func(t *testing.T) {
		if err := s.AddRecord(`dev3.lab.ottr.test. 60 IN A not-an-ip`); err == nil {
			t.Error("AddRecord accepted a malformed record")
		}
	})
}

func TestStartRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no zones", Config{}},
		{"an updatable zone that is not served", Config{Zones: []string{deviceZone}, UpdatableZones: []string{delegateZone}}},
		{"a TSIG secret that is not base64", Config{Zones: []string{deviceZone}, TSIG: map[string]string{"k.": "not base64!"}}},
		{"an address that cannot be parsed", Config{Addr: "nope", Zones: []string{deviceZone}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(context.Background(), tt.cfg)
			if err == nil {
				_ = s.Close()
				t.Fatal("Start succeeded")
			}
			if strings.Contains(err.Error(), "not base64!") {
				t.Errorf("error %q reveals the secret", err)
			}
		})
	}
}
