package dnsserver

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// update sends an UPDATE for zone, signed with key/secret/algorithm when key
// is not empty, and returns the reply's rcode.
func update(t *testing.T, addr, zone string, build func(m *dns.Msg), key, secret, algorithm string) int {
	t.Helper()
	m := new(dns.Msg).SetUpdate(zone)
	build(m)
	c := &dns.Client{Net: "udp", Timeout: 10 * time.Second}
	if key != "" {
		m.SetTsig(key, algorithm, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{key: secret}
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("update %s: %v", zone, err)
	}
	return r.Rcode
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func txtAt(t *testing.T, s *Server, name string) []string {
	t.Helper()
	var out []string
	for _, rr := range query(t, s.Addr(), "tcp", name, dns.TypeTXT).Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, txt.Txt...)
		}
	}
	slices.Sort(out)
	return out
}

func TestUpdates(t *testing.T) {
	s := startLab(t)
	const name = "_acme-challenge.dev9.acme.ottr.test."
	signed := func(build func(m *dns.Msg)) int {
		return update(t, s.Addr(), delegateZone, build, tsigKey, tsigSecret, dns.HmacSHA256)
	}
	txt := func(v string) []dns.RR { return []dns.RR{mustRR(t, fmt.Sprintf("%s 120 IN TXT %q", name, v))} }

	t.Run("a signed add is answered afterwards", func(t *testing.T) {
		if rcode := signed(func(m *dns.Msg) { m.Insert(txt("one")); m.Insert(txt("two")) }); rcode != dns.RcodeSuccess {
			t.Fatalf("rcode = %s", dns.RcodeToString[rcode])
		}
		if got, want := txtAt(t, s, name), []string{"one", "two"}; !slices.Equal(got, want) {
			t.Errorf("TXT = %q, want %q", got, want)
		}
	})
	t.Run("deleting one record keeps the others", func(t *testing.T) {
		if rcode := signed(func(m *dns.Msg) { m.Remove(txt("one")) }); rcode != dns.RcodeSuccess {
			t.Fatalf("rcode = %s", dns.RcodeToString[rcode])
		}
		if got, want := txtAt(t, s, name), []string{"two"}; !slices.Equal(got, want) {
			t.Errorf("TXT = %q, want %q", got, want)
		}
	})
	t.Run("deleting the RRset and adding in one update is what lego sends", func(t *testing.T) {
		if rcode := signed(func(m *dns.Msg) { m.RemoveRRset(txt("")); m.Insert(txt("three")) }); rcode != dns.RcodeSuccess {
			t.Fatalf("rcode = %s", dns.RcodeToString[rcode])
		}
		if got, want := txtAt(t, s, name), []string{"three"}; !slices.Equal(got, want) {
			t.Errorf("TXT = %q, want %q", got, want)
		}
	})
	t.Run("a failed prerequisite changes nothing", func(t *testing.T) {
		rcode := signed(func(m *dns.Msg) { m.NameNotUsed(txt("")); m.Insert(txt("four")) })
		if rcode != dns.RcodeYXDomain {
			t.Errorf("rcode = %s, want YXDOMAIN", dns.RcodeToString[rcode])
		}
		if got, want := txtAt(t, s, name), []string{"three"}; !slices.Equal(got, want) {
			t.Errorf("TXT = %q, want %q", got, want)
		}
	})
	t.Run("a met prerequisite lets the update through", func(t *testing.T) {
		rcode := signed(func(m *dns.Msg) { m.Used(txt("three")); m.RemoveName(txt("")) })
		if rcode != dns.RcodeSuccess {
			t.Errorf("rcode = %s, want NOERROR", dns.RcodeToString[rcode])
		}
		if got := txtAt(t, s, name); len(got) != 0 {
			t.Errorf("TXT = %q, want none", got)
		}
	})
	t.Run("the apex SOA and NS cannot be deleted", func(t *testing.T) {
		apex := []dns.RR{mustRR(t, delegateZone+" 60 IN NS ns."+delegateZone)}
		if rcode := signed(func(m *dns.Msg) { m.RemoveName(apex) }); rcode != dns.RcodeSuccess {
			t.Fatalf("rcode = %s", dns.RcodeToString[rcode])
		}
		if got := s.Records(delegateZone, dns.TypeANY); len(got) != 2 {
			t.Errorf("apex records = %v, want SOA and NS", got)
		}
	})
}

func TestUpdatesRefused(t *testing.T) {
	s := startLab(t)
	add := func(name string) func(m *dns.Msg) {
		return func(m *dns.Msg) { m.Insert([]dns.RR{mustRR(t, name+` 120 IN TXT "x"`)}) }
	}
	const wrongSecret = "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc="
	tests := []struct {
		name      string
		zone      string
		build     func(m *dns.Msg)
		key       string
		secret    string
		algorithm string
		wantRcode int
		checkName string
	}{
		{
			name: "an unsigned update is refused", zone: delegateZone, build: add("_acme-challenge.a.acme.ottr.test."),
			wantRcode: dns.RcodeRefused, checkName: "_acme-challenge.a.acme.ottr.test.",
		},
		{
			name: "an update signed with the wrong secret is not authorized", zone: delegateZone, build: add("_acme-challenge.b.acme.ottr.test."),
			key: tsigKey, secret: wrongSecret, algorithm: dns.HmacSHA256,
			wantRcode: dns.RcodeNotAuth, checkName: "_acme-challenge.b.acme.ottr.test.",
		},
		{
			name: "an update signed with an unknown key is not authorized", zone: delegateZone, build: add("_acme-challenge.c.acme.ottr.test."),
			key: "someone-else.", secret: tsigSecret, algorithm: dns.HmacSHA256,
			wantRcode: dns.RcodeNotAuth, checkName: "_acme-challenge.c.acme.ottr.test.",
		},
		{
			name: "an update signed with HMAC-SHA1 is not authorized", zone: delegateZone, build: add("_acme-challenge.d.acme.ottr.test."),
			key: tsigKey, secret: tsigSecret, algorithm: dns.HmacSHA1,
			wantRcode: dns.RcodeNotAuth, checkName: "_acme-challenge.d.acme.ottr.test.",
		},
		{
			name: "a signed update to the device zone is refused", zone: deviceZone, build: add("_acme-challenge.e.lab.ottr.test."),
			key: tsigKey, secret: tsigSecret, algorithm: dns.HmacSHA256,
			wantRcode: dns.RcodeRefused, checkName: "_acme-challenge.e.lab.ottr.test.",
		},
		{
			name: "a signed update to a zone not served here is refused", zone: "example.net.", build: add("x.example.net."),
			key: tsigKey, secret: tsigSecret, algorithm: dns.HmacSHA256,
			wantRcode: dns.RcodeRefused,
		},
		{
			name: "a record outside the updated zone is not in zone", zone: delegateZone, build: add("_acme-challenge.f.lab.ottr.test."),
			key: tsigKey, secret: tsigSecret, algorithm: dns.HmacSHA256,
			wantRcode: dns.RcodeNotZone, checkName: "_acme-challenge.f.lab.ottr.test.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcode := update(t, s.Addr(), tt.zone, tt.build, tt.key, tt.secret, tt.algorithm)
			if rcode != tt.wantRcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[rcode], dns.RcodeToString[tt.wantRcode])
			}
			if tt.checkName != "" {
				if got := s.Records(tt.checkName, dns.TypeTXT); len(got) != 0 {
					t.Errorf("the refused update was applied: %v", got)
				}
			}
		})
	}
}

func TestConcurrentUpdatesAndQueries(t *testing.T) {
	s := startLab(t)
	const workers = 16
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("_acme-challenge.worker%d.acme.ottr.test.", i)
			rr := []dns.RR{mustRR(t, fmt.Sprintf("%s 120 IN TXT \"v%d\"", name, i))}
			if rcode := update(t, s.Addr(), delegateZone, func(m *dns.Msg) { m.Insert(rr) }, tsigKey, tsigSecret, dns.HmacSHA256); rcode != dns.RcodeSuccess {
				t.Errorf("add %s: %s", name, dns.RcodeToString[rcode])
			}
			if got := txtAt(t, s, name); !slices.Equal(got, []string{fmt.Sprintf("v%d", i)}) {
				t.Errorf("TXT at %s = %q", name, got)
			}
			if rcode := update(t, s.Addr(), delegateZone, func(m *dns.Msg) { m.Remove(rr) }, tsigKey, tsigSecret, dns.HmacSHA256); rcode != dns.RcodeSuccess {
				t.Errorf("remove %s: %s", name, dns.RcodeToString[rcode])
			}
		}()
	}
	wg.Wait()
	for i := range workers {
		if got := s.Records(fmt.Sprintf("_acme-challenge.worker%d.acme.ottr.test.", i), dns.TypeANY); len(got) != 0 {
			t.Errorf("worker%d: records left: %v", i, got)
		}
	}
}
