package dnsdelegate

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeResolver is a tiny recursive-looking DNS server for tests: it answers
// CNAME questions from a table, and can be told to misbehave per name.
type fakeResolver struct {
	cnames   map[string]string // owner -> target
	servfail map[string]bool   // names answered SERVFAIL
	referral map[string]bool   // names answered with a referral, like an authoritative-only server
	truncate map[string]bool   // names whose UDP answer is truncated
	tcp      atomic.Int32      // queries received over TCP
}

func (f *fakeResolver) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	name := strings.ToLower(q.Question[0].Name)
	isTCP := w.RemoteAddr().Network() == "tcp"
	if isTCP {
		f.tcp.Add(1)
	}
	switch {
	case f.servfail[name]:
		m.Rcode = dns.RcodeServerFailure
	case f.referral[name]:
		m.RecursionAvailable = false
		m.Ns = append(m.Ns, &dns.NS{
			Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 300},
			Ns:  "ns1.example.com.",
		})
	case f.truncate[name] && !isTCP:
		m.Truncated = true
	default:
		target, ok := f.cnames[name]
		if !ok {
			m.Rcode = dns.RcodeNameError
			break
		}
		m.Answer = append(m.Answer, &dns.CNAME{
			Hdr:    dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300},
			Target: target,
		})
	}
	_ = w.WriteMsg(m)
}

// startResolver serves h over UDP and TCP on one 127.0.0.1 port and returns
// its address; the servers stop when the test ends.
func startResolver(t *testing.T, h dns.Handler) string {
	t.Helper()
	// The kernel picks a free UDP port; TCP may have that port taken, so
	// try a few.
	var (
		pc   net.PacketConn
		ln   net.Listener
		addr string
	)
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		pc.Close()
		if attempt == 10 {
			t.Fatalf("listen tcp on the UDP port: %v", err)
		}
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = srv.ActivateAndServe()
		}()
		<-started
		t.Cleanup(func() {
			_ = srv.Shutdown()
			<-done
		})
	}
	return addr
}

// downResolver returns a 127.0.0.1 address where nothing listens.
func downResolver(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

var (
	recordX   = Record{Name: "_acme-challenge.x.example.com.", Target: "_acme-challenge.x.example-acme.com."}
	recordY   = Record{Name: "_acme-challenge.y.example.com.", Target: "_acme-challenge.y.example-acme.com."}
	recordZ   = Record{Name: "_acme-challenge.z.example.com.", Target: "_acme-challenge.z.example-acme.com."}
	recordBig = Record{Name: "_acme-challenge.big.example.com.", Target: "_acme-challenge.big.example-acme.com."}
)

func newFakeResolver() *fakeResolver {
	return &fakeResolver{
		cnames: map[string]string{
			recordX.Name:   recordX.Target,
			recordY.Name:   "_acme-challenge.y.somewhere-else.net.",
			recordBig.Name: recordBig.Target,
			// A CNAME written with upper case still matches.
			"_acme-challenge.upper.example.com.": "_ACME-CHALLENGE.Upper.Example-Acme.COM.",
		},
		servfail: map[string]bool{"_acme-challenge.broken.example.com.": true},
		referral: map[string]bool{"_acme-challenge.referral.example.com.": true},
		truncate: map[string]bool{recordBig.Name: true},
	}
}

func TestCheckFindsACorrectCNAME(t *testing.T) {
	addr := startResolver(t, newFakeResolver())
	c := &Checker{Resolvers: []string{addr}, Timeout: 5 * time.Second}
	for _, r := range []Record{
		recordX,
		{Name: "_acme-challenge.upper.example.com.", Target: "_acme-challenge.upper.example-acme.com."},
	} {
		if err := c.Check(context.Background(), r); err != nil {
			t.Errorf("Check(%s): %v", r, err)
		}
	}
}

func TestCheckReportsAMissingCNAMEAsTheLineToAdd(t *testing.T) {
	addr := startResolver(t, newFakeResolver())
	c := &Checker{Resolvers: []string{addr}, Timeout: 5 * time.Second}
	err := c.Check(context.Background(), recordZ)
	var missing *MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("Check = %v, want a *MissingError", err)
	}
	want := "missing DNS record: _acme-challenge.z.example.com. 300 IN CNAME _acme-challenge.z.example-acme.com."
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
}

func TestCheckReportsACNAMEPointingElsewhere(t *testing.T) {
	addr := startResolver(t, newFakeResolver())
	c := &Checker{Resolvers: []string{addr}, Timeout: 5 * time.Second}
	err := c.Check(context.Background(), recordY)
	var wrong *WrongTargetError
	if !errors.As(err, &wrong) {
		t.Fatalf("Check = %v, want a *WrongTargetError", err)
	}
	if wrong.Got != "_acme-challenge.y.somewhere-else.net." {
		t.Errorf("Got = %q, want the CNAME's current target", wrong.Got)
	}
	for _, want := range []string{recordY.Name, "_acme-challenge.y.somewhere-else.net.", recordY.ZoneLine()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestCheckRetriesOverTCPWhenTheUDPAnswerIsTruncated(t *testing.T) {
	fake := newFakeResolver()
	addr := startResolver(t, fake)
	c := &Checker{Resolvers: []string{addr}, Timeout: 5 * time.Second}
	if err := c.Check(context.Background(), recordBig); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if fake.tcp.Load() == 0 {
		t.Error("the truncated answer was not retried over TCP")
	}
}

func TestCheckTellsAnUnansweredLookupApartFromAMissingRecord(t *testing.T) {
	addr := startResolver(t, newFakeResolver())
	tests := []struct {
		name      string
		resolvers []string
		record    Record
		wantErr   string
	}{
		{"a resolver that is down", []string{downResolver(t)}, recordX, "resolver 127.0.0.1:"},
		{"a resolver answering SERVFAIL", []string{addr},
			Record{Name: "_acme-challenge.broken.example.com.", Target: "_acme-challenge.broken.example-acme.com."}, "SERVFAIL"},
		{"a server that does not recurse", []string{addr},
			Record{Name: "_acme-challenge.referral.example.com.", Target: "_acme-challenge.referral.example-acme.com."}, "referral"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Checker{Resolvers: tt.resolvers, Timeout: 5 * time.Second}
			err := c.Check(context.Background(), tt.record)
			var lookup *LookupError
			if !errors.As(err, &lookup) {
				t.Fatalf("Check = %v, want a *LookupError", err)
			}
			var missing *MissingError
			if errors.As(err, &missing) {
				t.Errorf("an unanswered lookup is reported as missing: %v", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.record.Name) {
				t.Errorf("error %q does not mention %q and the record", err, tt.wantErr)
			}
		})
	}
}

func TestCheckFallsBackToTheNextResolver(t *testing.T) {
	addr := startResolver(t, newFakeResolver())
	c := &Checker{Resolvers: []string{downResolver(t), addr}, Timeout: 5 * time.Second}
	if err := c.Check(context.Background(), recordX); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestCheckAllReturnsTheFailuresInRecordOrder(t *testing.T) {
	addr := startResolver(t, newFakeResolver())
	c := &Checker{Resolvers: []string{addr}, Timeout: 5 * time.Second}
	records := []Record{recordZ, recordX, recordY, recordBig}
	errs := c.CheckAll(context.Background(), records)
	if len(errs) != 2 {
		t.Fatalf("CheckAll = %v, want 2 failures", errs)
	}
	var missing *MissingError
	if !errors.As(errs[0], &missing) || missing.Record != recordZ {
		t.Errorf("first failure = %v, want the missing %s", errs[0], recordZ.Name)
	}
	var wrong *WrongTargetError
	if !errors.As(errs[1], &wrong) || wrong.Record != recordY {
		t.Errorf("second failure = %v, want the wrong target of %s", errs[1], recordY.Name)
	}
	if errs := c.CheckAll(context.Background(), []Record{recordX, recordBig}); len(errs) != 0 {
		t.Errorf("CheckAll of correct records = %v, want none", errs)
	}
}

func TestResolversWithoutAPortUsePort53(t *testing.T) {
	c := &Checker{Resolvers: []string{"192.0.2.53", "2001:db8::53", "[2001:db8::54]", "192.0.2.1:5353"}}
	got, err := c.resolvers()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "[2001:db8::53]:53", "[2001:db8::54]:53", "192.0.2.1:5353"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("resolvers = %q, want %q", got, want)
	}
}

func TestSystemResolversReadsAResolvConf(t *testing.T) {
	path := t.TempDir() + "/resolv.conf"
	if err := os.WriteFile(path, []byte("search example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := SystemResolvers(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "192.0.2.53:53 [2001:db8::53]:53"; strings.Join(got, " ") != want {
		t.Errorf("SystemResolvers = %q, want %q", got, want)
	}
}
