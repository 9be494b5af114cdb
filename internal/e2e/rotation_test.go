package e2e_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// pebbleLifetime is what Pebble's "default" profile issues for.
const pebbleLifetime = 90 * 24 * time.Hour

// A rotation over real OpenSSH ends with the real server serving the
// chain the CA issued: the device made the key, lego wrote the DNS-01
// challenge into BIND's delegate zone with the TSIG key, Pebble found it
// through the device zone's CNAME, the Linux driver installed the chain
// and ran the server's reload, and a TLS client trusting only the CA's
// roots accepts what the server serves.
func TestRotationInstallsTheIssuedChainOnARealServer(t *testing.T) {
	e := need(t)
	www, _ := e.nginx.Site(nginxHost)
	tests := []struct {
		name  string
		host  string
		addr  string
		port  int
		route linuxRoute
	}{
		{
			name: "nginx reloads the chain and key written over OpenSSH",
			host: nginxHost, addr: www.Addr, port: www.Port,
			route: linuxRoute{certPath: www.CertPath, keyPath: www.KeyPath, reloadCommand: e.nginx.ReloadCommand()},
		},
		{
			// HAProxy takes "crt <cert_path>" and finds the key in
			// <cert_path>.key, so the driver's two separate files suit it
			// as they are: no step joins them into one PEM.
			name: "HAProxy reloads the chain and key written over OpenSSH",
			host: haproxyHost, addr: e.haproxy.Addr, port: e.haproxy.Port,
			route: linuxRoute{certPath: e.haproxy.CertPath, keyPath: e.haproxy.KeyPath, reloadCommand: e.haproxy.ReloadCommand()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			// The site's self-signed certificate on the first run; the
			// previous run's on a repeated one (-count).
			before, err := verify.Fetch(ctx, tt.addr, tt.host, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			ap := e.newApp(t, e.sshd.KnownHostsFile, tt.route, tt.host, tt.port)
			orders := e.ca.Orders()

			rot, err := rotate(ap, tt.host)
			if err != nil || rot.State != store.StateSucceeded {
				t.Fatalf("rotation %s: %v\n%s\nsshd:\n%s", rot.State, err, logOf(rot), e.sshd.Log())
			}
			if got := e.ca.Orders() - orders; got != 1 {
				t.Errorf("the CA saw %d orders, want 1", got)
			}

			a, err := ap.Store.GetAsset(ctx, tt.host)
			if err != nil {
				t.Fatal(err)
			}
			chain, body := servedChain(t, tt.addr, tt.host, e.roots, before[0])
			leaf := chain[0]
			if body != tt.host+"\n" {
				t.Errorf("the server answered %q over the new certificate, want its page %q", body, tt.host+"\n")
			}
			if got := verify.SerialHex(leaf); got != a.CertificateSerial || got == verify.SerialHex(before[0]) {
				t.Errorf("the server serves serial %s; ottr recorded %s, the old one was %s", got, a.CertificateSerial, verify.SerialHex(before[0]))
			}
			if a.CertificateExpiration == nil || !a.CertificateExpiration.Equal(leaf.NotAfter.UTC().Truncate(time.Second)) {
				t.Errorf("recorded expiry %v, served %v", a.CertificateExpiration, leaf.NotAfter)
			}
			if life := leaf.NotAfter.Sub(leaf.NotBefore); life < pebbleLifetime-time.Hour {
				t.Errorf("served lifetime %s, want the CA's %s", life, pebbleLifetime)
			}
			if !strings.Contains(a.CertificateIssuer, "Pebble") {
				t.Errorf("recorded issuer %q, want Pebble's intermediate", a.CertificateIssuer)
			}

			// On the host: the key is the dedicated user's alone, and no
			// staged copy is left beside it.
			keyInfo := e.onHost(t, "stat -c '%U %a' "+tt.route.keyPath)
			if want := e.user.Name + " 600"; keyInfo != want {
				t.Errorf("the installed key is %q (owner, mode), want %q", keyInfo, want)
			}
			if left := e.onHost(t, "ls -a "+filepath.Dir(tt.route.keyPath)); strings.Contains(left, ".ottr-new") {
				t.Errorf("a staged key was left on the host: %s", left)
			}
			// The challenge record is gone from the delegate zone.
			if txt := e.txt(t, "_acme-challenge."+strings.TrimSuffix(tt.host, "."+deviceZone)+"."+delegateZone+"."); len(txt) > 0 {
				t.Errorf("the DNS-01 challenge was left in the delegate zone: %v", txt)
			}
		})
	}
}

// A reload that fails leaves the server on its old certificate, and the
// files on disk are the old ones again, so the next reload (say, at boot)
// does not pick up a certificate that was never served.
func TestFailingReloadLeavesNginxServingTheOldCertificate(t *testing.T) {
	e := need(t)
	site, _ := e.nginx.Site(rollbackHost)
	// The reload stands in for a site's own pre-reload policy check: it
	// refuses a certificate that expires within 100 days. The CA's 90-day
	// certificate fails it; the site's one-year certificate, put back by
	// the driver, passes it and is reloaded.
	reload := "openssl x509 -noout -checkend 8640000 -in " + site.CertPath + " >&2 && " + e.nginx.ReloadCommand()
	ap := e.newApp(t, e.sshd.KnownHostsFile, linuxRoute{certPath: site.CertPath, keyPath: site.KeyPath, reloadCommand: reload}, rollbackHost, site.Port)

	rot, err := rotate(ap, rollbackHost)
	if err == nil || rot.State != store.StateFailed {
		t.Fatalf("state %s, err %v: want the rotation to fail at install\n%s", rot.State, err, logOf(rot))
	}
	for _, want := range []string{"install", "Certificate will expire", "restored and reloaded"} {
		if !strings.Contains(rot.Error, want) {
			t.Errorf("error %q should mention %q", rot.Error, want)
		}
	}
	if _, ok := rot.Step(string(rotation.StepVerify)); ok {
		t.Error("a rotation whose install failed went on to verify")
	}
	if chain, _ := servedChain(t, site.Addr, rollbackHost, poolOf(site.Initial), nil); !chain[0].Equal(site.Initial) {
		t.Errorf("nginx serves serial %s after the failed reload, want the old %s", verify.SerialHex(chain[0]), verify.SerialHex(site.Initial))
	}

	// The files on the host are the old pair: a plain reload now keeps
	// serving the old certificate.
	onDisk := e.onHost(t, "cat "+site.CertPath)
	block, _ := pem.Decode([]byte(onDisk))
	if block == nil {
		t.Fatalf("%s holds no certificate: %q", site.CertPath, onDisk)
	}
	if cert, err := x509.ParseCertificate(block.Bytes); err != nil || !cert.Equal(site.Initial) {
		t.Fatalf("%s does not hold the old certificate again (%v)", site.CertPath, err)
	}
	e.onHost(t, e.nginx.ReloadCommand())
	if chain, _ := servedChain(t, site.Addr, rollbackHost, poolOf(site.Initial), nil); !chain[0].Equal(site.Initial) {
		t.Errorf("after another reload nginx serves serial %s, want the old %s", verify.SerialHex(chain[0]), verify.SerialHex(site.Initial))
	}
	a, err := ap.Store.GetAsset(context.Background(), rollbackHost)
	if err != nil {
		t.Fatal(err)
	}
	if a.FailureCount != 1 || a.NextAttemptAt == nil {
		t.Errorf("failure count %d, next attempt %v: want the failure and a backoff recorded", a.FailureCount, a.NextAttemptAt)
	}
}

// A host whose key is not the one known_hosts pins is never logged in to:
// no CSR, no order, nothing changed on the server.
func TestHostKeyNotInKnownHostsIsRefused(t *testing.T) {
	e := need(t)
	site, _ := e.nginx.Site(pinnedHost)
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(other)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(e.sshd.Addr)}, signer.PublicKey())
	if err := os.WriteFile(knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ap := e.newApp(t, knownHosts, linuxRoute{certPath: site.CertPath, keyPath: site.KeyPath, reloadCommand: e.nginx.ReloadCommand()}, pinnedHost, site.Port)
	orders := e.ca.Orders()

	rot, err := rotate(ap, pinnedHost)
	if err == nil || rot.State != store.StateFailed {
		t.Fatalf("state %s, err %v: want the connection refused", rot.State, err)
	}
	if !strings.Contains(rot.Error, "does not match known_hosts") || !strings.Contains(rot.Error, e.sshd.Addr) {
		t.Errorf("error %q should say the host key of %s did not match", rot.Error, e.sshd.Addr)
	}
	if _, ok := rot.Step(string(rotation.StepCSR)); ok {
		t.Error("a CSR was generated over a connection whose host key did not match")
	}
	if e.ca.Orders() != orders {
		t.Error("an order was placed for a host that was never reached")
	}
	if chain, _ := servedChain(t, site.Addr, pinnedHost, poolOf(site.Initial), nil); !chain[0].Equal(site.Initial) {
		t.Errorf("the server's certificate changed to serial %s", verify.SerialHex(chain[0]))
	}
}

// The TSIG key ottr holds can write challenges into the delegate zone and
// nothing else: a leaked key cannot repoint the devices' own names.
func TestTSIGKeyUpdatesOnlyTheDelegateZone(t *testing.T) {
	e := need(t)
	// The pinned host is never issued for, so its challenge name is free.
	challenge := "_acme-challenge." + strings.TrimSuffix(pinnedHost, "."+deviceZone) + "." + delegateZone + "."
	tests := []struct {
		name   string
		zone   string
		rr     string
		signed bool
		want   []int
	}{
		{"the key writes a challenge TXT into the delegate zone", delegateZone, challenge + ` 60 IN TXT "token"`, true, []int{dns.RcodeSuccess}},
		{"the key cannot add a TXT to the device zone", deviceZone, "_acme-challenge.evil." + deviceZone + `. 60 IN TXT "x"`, true, []int{dns.RcodeRefused, dns.RcodeNotAuth}},
		{"the key cannot repoint a device's name", deviceZone, nginxHost + ". 60 IN A 127.0.0.66", true, []int{dns.RcodeRefused, dns.RcodeNotAuth}},
		{"the key cannot add an address to the delegate zone", delegateZone, "evil." + delegateZone + ". 60 IN A 127.0.0.66", true, []int{dns.RcodeRefused}},
		{"an unsigned update to the delegate zone is refused", delegateZone, "_acme-challenge.unsigned." + delegateZone + `. 60 IN TXT "x"`, false, []int{dns.RcodeRefused}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr, err := dns.NewRR(tt.rr)
			if err != nil {
				t.Fatal(err)
			}
			m := new(dns.Msg)
			m.SetUpdate(dns.Fqdn(tt.zone))
			m.Insert([]dns.RR{rr})
			if tt.signed {
				m.SetTsig(tsigKeyName, dns.HmacSHA256, 300, time.Now().Unix())
			}
			in, _, err := e.dnsClient().Exchange(m, e.bind.Addr)
			if err != nil {
				t.Fatal(err)
			}
			ok := false
			for _, w := range tt.want {
				ok = ok || in.Rcode == w
			}
			if !ok {
				t.Errorf("the server answered %s", dns.RcodeToString[in.Rcode])
			}
		})
	}
	// Pebble's view: one TXT query for the device's challenge name is
	// answered with the CNAME and the TXT in the delegate zone.
	if got := e.txt(t, "_acme-challenge."+pinnedHost+"."); len(got) != 1 || got[0] != "token" {
		t.Errorf("the device's challenge name leads to %v, want the TXT written into the delegate zone", got)
	}
	if got := e.txt(t, "_acme-challenge.evil."+deviceZone+"."); len(got) > 0 {
		t.Errorf("the device zone took a record: %v", got)
	}

	rr, _ := dns.NewRR(challenge + " 0 IN TXT \"\"")
	m := new(dns.Msg)
	m.SetUpdate(delegateZone + ".")
	m.RemoveRRset([]dns.RR{rr})
	m.SetTsig(tsigKeyName, dns.HmacSHA256, 300, time.Now().Unix())
	if in, _, err := e.dnsClient().Exchange(m, e.bind.Addr); err != nil || in.Rcode != dns.RcodeSuccess {
		t.Errorf("removing the test's challenge: %v, %v", in, err)
	}
}

func (e *env) dnsClient() *dns.Client {
	return &dns.Client{Net: "tcp", Timeout: 5 * time.Second, TsigSecret: map[string]string{tsigKeyName: e.tsigSecret}}
}

// txt asks BIND for name's TXT records as an ACME validator does: one
// query, any CNAME followed by the server. It returns the texts.
func (e *env) txt(t *testing.T, name string) []string {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeTXT)
	in, _, err := e.dnsClient().Exchange(q, e.bind.Addr)
	if err != nil {
		t.Fatalf("TXT %s: %v", name, err)
	}
	var out []string
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}
