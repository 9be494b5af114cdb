package junoslab

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const testPassword = "lab-Password-1"

func startDevice(t *testing.T, cfg Config) *Device {
	t.Helper()
	cfg.Name = "srx1.example.test"
	cfg.Username = "admin"
	cfg.Password = testPassword
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// rawSession is a bare NETCONF client: hello, then one request at a time.
type rawSession struct {
	t       *testing.T
	client  *ssh.Client
	in      io.Writer
	out     *bufio.Reader
	chunked bool
	id      int
}

// dial opens a NETCONF session; base11 offers chunked framing.
func dial(t *testing.T, d *Device, base11 bool) *rawSession {
	t.Helper()
	client, err := ssh.Dial("tcp", d.Addr(), &ssh.ClientConfig{
		User:            "admin",
		Auth:            []ssh.AuthMethod{ssh.Password(testPassword)},
		HostKeyCallback: ssh.FixedHostKey(d.HostKey()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	in, _ := sess.StdinPipe()
	out, _ := sess.StdoutPipe()
	if err := sess.RequestSubsystem("netconf"); err != nil {
		t.Fatal(err)
	}
	caps := "<capability>" + capBase10 + "</capability>"
	if base11 {
		caps += "<capability>" + capBase11 + "</capability>"
	}
	if _, err := io.WriteString(in, `<hello xmlns="`+netconfNS+`"><capabilities>`+caps+`</capabilities></hello>`+endOfMessage); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	raw, err := readEndOfMessage(r)
	if err != nil {
		t.Fatal(err)
	}
	hello, err := parseNode(raw)
	if err != nil {
		t.Fatal(err)
	}
	var server11 bool
	for _, c := range hello.child("capabilities").all("capability") {
		server11 = server11 || c.value() == capBase11
	}
	return &rawSession{t: t, client: client, in: in, out: r, chunked: base11 && server11}
}

// rpc sends op and returns the rpc-reply.
func (s *rawSession) rpc(op string) *node {
	s.t.Helper()
	s.id++
	msg := fmt.Sprintf(`<rpc message-id="%d" xmlns="%s">%s</rpc>`, s.id, netconfNS, op)
	var raw []byte
	var err error
	if s.chunked {
		if err = writeChunked(s.in, msg); err == nil {
			raw, err = readChunked(s.out)
		}
	} else {
		if _, err = io.WriteString(s.in, msg+endOfMessage); err == nil {
			raw, err = readEndOfMessage(s.out)
		}
	}
	if err != nil {
		s.t.Fatalf("%s: %v", op, err)
	}
	reply, err := parseNode(raw)
	if err != nil {
		s.t.Fatalf("%s: parse %q: %v", op, raw, err)
	}
	if reply.attr("message-id") != fmt.Sprint(s.id) {
		s.t.Fatalf("%s: reply to message %q, want %d", op, reply.attr("message-id"), s.id)
	}
	return reply
}

// ok sends op and fails the test on an rpc-error.
func (s *rawSession) ok(op string) *node {
	s.t.Helper()
	reply := s.rpc(op)
	if msg := errorText(reply); msg != "" {
		s.t.Fatalf("%s: %s", op, msg)
	}
	return reply
}

// errorText joins the messages of the reply's rpc-errors of severity error.
func errorText(reply *node) string {
	var msgs []string
	var walk func(n *node)
	walk = func(n *node) {
		for _, c := range n.Children {
			if c.name() == "rpc-error" && c.childText("error-severity") == "error" {
				msgs = append(msgs, c.childText("error-message"))
			}
			walk(c)
		}
	}
	walk(reply)
	return strings.Join(msgs, "; ")
}

const (
	bindPKI = "system/services/web-management/https/pki-local-certificate"
	bindSys = "system/services/web-management/https/system-generated-certificate"
)

func bindXML(id string) string {
	return `<load-configuration action="merge" format="xml"><configuration><system><services><web-management><https>` +
		`<pki-local-certificate>` + id + `</pki-local-certificate></https></web-management></services></system></configuration></load-configuration>`
}

// hostName sets the host name, a change that needs no certificate.
func hostName(name string) string {
	return `<load-configuration><configuration><system><host-name>` + name + `</host-name></system></configuration></load-configuration>`
}

func TestCommitConfirmed(t *testing.T) {
	tests := []struct {
		name string
		// commits are the commit-configuration bodies sent after each
		// change of host name.
		commits    []string
		wantRevert bool
	}{
		{name: "an unconfirmed commit is rolled back when its timer fires",
			commits: []string{"<confirmed/><confirm-timeout>1</confirm-timeout>"}, wantRevert: true},
		// The first timer is long, the second short: the second commit
		// resets the countdown, and the revert goes to before the first.
		{name: "two unconfirmed commits roll back to before the first",
			commits: []string{"<confirmed/><confirm-timeout>60000</confirm-timeout>", "<confirmed/><confirm-timeout>1</confirm-timeout>"}, wantRevert: true},
		{name: "a plain commit confirms a pending commit confirmed",
			commits: []string{"<confirmed/><confirm-timeout>60000</confirm-timeout>", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A "minute" of a millisecond: confirm-timeout 1 fires at
			// once, 60000 not within the test.
			d := startDevice(t, Config{ConfirmUnit: time.Millisecond})
			s := dial(t, d, true)
			for i, commit := range tt.commits {
				s.ok(hostName(fmt.Sprintf("changed-%d", i)))
				s.ok("<commit-configuration>" + commit + "</commit-configuration>")
			}
			if !tt.wantRevert {
				if d.PendingConfirm() {
					t.Fatal("the plain commit left the commit confirmed pending")
				}
				if got, _ := d.Committed("system/host-name"); got != fmt.Sprintf("changed-%d", len(tt.commits)-1) {
					t.Errorf("host-name = %q after confirming", got)
				}
				return
			}
			waitFor(t, "the device reverts", func() bool { return d.Reverts() == 1 })
			if got, _ := d.Committed("system/host-name"); got != "srx1" {
				t.Errorf("after the revert host-name = %q, want the original srx1", got)
			}
			// The reverted commit is still in the history, as rollback 1.
			cfg := s.ok(`<get-rollback-information><rollback>1</rollback></get-rollback-information>`)
			if got := cfg.child("rollback-information").child("configuration").child("system").childText("host-name"); !strings.HasPrefix(got, "changed-") {
				t.Errorf("rollback 1 host-name = %q, want the unconfirmed change", got)
			}
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for wait := 5 * time.Millisecond; !cond(); wait = min(2*wait, time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(wait)
	}
}

func TestLocking(t *testing.T) {
	d := startDevice(t, Config{})
	a, b := dial(t, d, true), dial(t, d, false)

	a.ok(hostName("uncommitted"))
	if msg := errorText(b.rpc("<lock><target><candidate/></target></lock>")); msg != "configuration database modified" {
		t.Errorf("lock over another session's uncommitted change: %q, want \"configuration database modified\"", msg)
	}
	b.ok("<discard-changes/>")
	b.ok("<lock><target><candidate/></target></lock>")
	if msg := errorText(a.rpc(hostName("again"))); !strings.Contains(msg, "configuration database locked by") {
		t.Errorf("load while another session holds the lock: %q", msg)
	}
	b.ok(hostName("by-lock-holder"))
	// Leaving without commit discards the change, as `configure
	// exclusive` does.
	_ = b.client.Close()
	waitFor(t, "the lock is released", func() bool {
		return errorText(a.rpc("<lock><target><candidate/></target></lock>")) == ""
	})
	cfg := a.ok(`<get-configuration><configuration><system><host-name/></system></configuration></get-configuration>`)
	if got := cfg.child("configuration").child("system").childText("host-name"); got != "srx1" {
		t.Errorf("candidate host-name = %q after the lock holder left, want srx1", got)
	}
}

func TestConfiguration(t *testing.T) {
	d := startDevice(t, Config{})
	s := dial(t, d, true)

	s.ok(bindXML("missing"))
	cfg := s.ok(`<get-configuration><configuration><system><services><web-management><https/></web-management></services></system></configuration></get-configuration>`)
	if https := cfg.child("configuration").lookup(webHTTPSPath); https.child("system-generated-certificate") != nil {
		t.Error("setting pki-local-certificate kept system-generated-certificate: they are one choice")
	}
	msg := errorText(s.rpc("<commit-configuration/>"))
	if !strings.Contains(msg, "Local certificate missing does not exist") || !strings.Contains(msg, "configuration check-out failed") {
		t.Errorf("commit of a binding to a missing certificate: %q", msg)
	}
	if _, ok := d.Committed(bindSys); !ok {
		t.Error("the refused commit changed the committed configuration")
	}

	reply := s.rpc(`<load-configuration><configuration><system><ntp delete="delete"/></system></configuration></load-configuration>`)
	if errorText(reply) != "" || !strings.Contains(reply.marshal(), "statement not found") {
		t.Errorf("deleting a missing statement should be a warning only: %s", reply.marshal())
	}

	filtered := s.ok(`<get-configuration database="committed"><configuration><system><host-name/></system></configuration></get-configuration>`).child("configuration")
	if len(filtered.Children) != 1 || len(filtered.Children[0].Children) != 1 || filtered.Children[0].Children[0].name() != "host-name" {
		t.Errorf("a subtree filter for host-name returned %s", filtered.marshal())
	}

	if msg := errorText(s.rpc("<get-chassis-inventory/>")); msg != "syntax error" {
		t.Errorf("an RPC the device does not know: %q, want syntax error", msg)
	}
}

func TestPKI(t *testing.T) {
	for _, base11 := range []bool{true, false} {
		t.Run(fmt.Sprintf("base:1.1 %v", base11), func(t *testing.T) {
			d := startDevice(t, Config{})
			s := dial(t, d, base11)
			s.ok(`<generate-pki-key-pair><certificate-id>web</certificate-id><type>ecdsa</type><size>256</size></generate-pki-key-pair>`)
			if msg := errorText(s.rpc(`<generate-pki-key-pair><certificate-id>web</certificate-id></generate-pki-key-pair>`)); !strings.Contains(msg, "already exists") {
				t.Errorf("generating over an existing key pair: %q", msg)
			}
			if msg := errorText(s.rpc(`<generate-pki-certificate-request><certificate-id>web</certificate-id><subject>CN=srx1.example.test</subject>` +
				`<domain-name>srx1.example.test</domain-name><domain-name>vpn.example.test</domain-name></generate-pki-certificate-request>`)); !strings.Contains(msg, "domain-name is given 2 times") {
				t.Errorf("two domain-names, where the schema has one leaf: %q", msg)
			}
			reply := s.ok(`<generate-pki-certificate-request><certificate-id>web</certificate-id><subject>CN=srx1.example.test,O=Example</subject>` +
				`<domain-name>srx1.example.test</domain-name><digest>sha-384</digest><filename>/var/tmp/web.csr</filename></generate-pki-certificate-request>`)
			block, _ := pem.Decode([]byte(reply.childText("output")[strings.Index(reply.childText("output"), "-----BEGIN"):]))
			csr, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(csr.DNSNames, []string{"srx1.example.test"}) || csr.Subject.CommonName != "srx1.example.test" || csr.SignatureAlgorithm != x509.ECDSAWithSHA384 {
				t.Errorf("CSR: CN %q, SANs %v, signed %s", csr.Subject.CommonName, csr.DNSNames, csr.SignatureAlgorithm)
			}
			saved := s.ok(`<file-show><filename>/var/tmp/web.csr</filename></file-show>`).childText("file-content")
			if !strings.Contains(saved, "BEGIN CERTIFICATE REQUEST") {
				t.Errorf("the CSR file holds %q", saved)
			}

			// A certificate for another key is refused; one for the key
			// pair loads, is served once bound, and exports without key.
			other := selfSignedPEM(t, nil)
			s.ok(`<file-put><filename>/var/tmp/other.pem</filename><encoding>base64</encoding><file-contents>` + base64.StdEncoding.EncodeToString(other) + `</file-contents></file-put>`)
			if msg := errorText(s.rpc(`<load-pki-local-certificate><certificate-id>web</certificate-id><filename>/var/tmp/other.pem</filename></load-pki-local-certificate>`)); !strings.Contains(msg, "does not match key pair web") {
				t.Errorf("loading a certificate for another key: %q", msg)
			}
			own := selfSignedPEM(t, csr)
			s.ok(`<file-put><filename>/var/tmp/web.pem</filename><encoding>base64</encoding><file-contents>` + base64.StdEncoding.EncodeToString(own) + `</file-contents></file-put>`)
			s.ok(`<load-pki-local-certificate><certificate-id>web</certificate-id><filename>/var/tmp/web.pem</filename></load-pki-local-certificate>`)
			s.ok(bindXML("web"))
			s.ok(`<commit-configuration/>`)
			served, err := d.servedCertificate()
			if err != nil || !served.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(csr.PublicKey) {
				t.Errorf("J-Web does not serve the bound certificate (%v)", err)
			}
			s.ok(`<request-security-local-certificate-export><certificate-id>web</certificate-id><filename>/var/tmp/out.pem</filename></request-security-local-certificate-export>`)
			exported := s.ok(`<file-show><filename>/var/tmp/out.pem</filename></file-show>`).childText("file-content")
			if strings.TrimSpace(exported) != strings.TrimSpace(string(own)) {
				t.Errorf("export = %q, want the loaded certificate", exported)
			}
			info := s.ok(`<get-pki-local-certificate><certificate-id>web</certificate-id><detail/></get-pki-local-certificate>`).
				child("x509-pki-certificate-info-list").child("pkid-x509-certificate-information")
			if info.childText("identifier") != "web" || info.child("serial-number-list").childText("serial-number-x509") != "00000001" ||
				info.child("fingerprint") == nil {
				t.Errorf("the local certificate's details: %s", info.marshal())
			}
			if d.PrivateKeyExported() {
				t.Error("a reply held a private key")
			}
		})
	}
}

func TestTheDigestAndKeySizeFollowJunossSchema(t *testing.T) {
	d := startDevice(t, Config{})
	s := dial(t, d, true)
	s.ok(`<generate-pki-key-pair><certificate-id>r</certificate-id><type>rsa</type><size>2048</size></generate-pki-key-pair>`)
	if msg := errorText(s.rpc(`<generate-pki-key-pair><certificate-id>r3</certificate-id><type>rsa</type><size>3072</size></generate-pki-key-pair>`)); !strings.Contains(msg, "invalid value") {
		t.Errorf("an RSA-3072 key, which JunOS does not make: %q", msg)
	}
	if msg := errorText(s.rpc(`<generate-pki-certificate-request><certificate-id>r</certificate-id><subject>CN=a.test</subject><digest>sha-384</digest></generate-pki-certificate-request>`)); !strings.Contains(msg, "invalid value for a rsa key") {
		t.Errorf("sha-384 on an RSA key, which the schema makes ECDSA only: %q", msg)
	}
	reply := s.ok(`<generate-pki-certificate-request><certificate-id>r</certificate-id><subject>CN=a.test</subject></generate-pki-certificate-request>`)
	block, _ := pem.Decode([]byte(reply.childText("output")[strings.Index(reply.childText("output"), "-----BEGIN"):]))
	if csr, err := x509.ParseCertificateRequest(block.Bytes); err != nil || csr.SignatureAlgorithm != x509.SHA1WithRSA {
		t.Errorf("without a digest an RSA CSR is signed %v (%v), want SHA-1, JunOS's default", csr.SignatureAlgorithm, err)
	}
}

func TestPKIFailuresAsOutputTextAndSilentlyDroppedLoads(t *testing.T) {
	d := startDevice(t, Config{PKIErrorsAsOutput: true})
	s := dial(t, d, true)
	s.ok(`<generate-pki-key-pair><certificate-id>web</certificate-id><type>ecdsa</type><size>256</size></generate-pki-key-pair>`)
	reply := s.rpc(`<generate-pki-key-pair><certificate-id>web</certificate-id><type>ecdsa</type><size>256</size></generate-pki-key-pair>`)
	if errorText(reply) != "" || reply.childText("output") != "error: Key pair for certificate-id web already exists" {
		t.Errorf("a failure reported as output: %s", reply.marshal())
	}

	d.DropCertificateLoads(true)
	csrReply := s.ok(`<generate-pki-certificate-request><certificate-id>web</certificate-id><subject>CN=srx1.example.test</subject></generate-pki-certificate-request>`)
	block, _ := pem.Decode([]byte(csrReply.childText("output")[strings.Index(csrReply.childText("output"), "-----BEGIN"):]))
	csr, _ := x509.ParseCertificateRequest(block.Bytes)
	s.ok(`<file-put><filename>/var/tmp/web.pem</filename><encoding>base64</encoding><file-contents>` + base64.StdEncoding.EncodeToString(selfSignedPEM(t, csr)) + `</file-contents></file-put>`)
	if out := s.ok(`<load-pki-local-certificate><certificate-id>web</certificate-id><filename>/var/tmp/web.pem</filename></load-pki-local-certificate>`).childText("output"); !strings.Contains(out, "loaded successfully") {
		t.Errorf("a dropped load answers %q, want success", out)
	}
	if out := s.rpc(`<get-pki-local-certificate><certificate-id>web</certificate-id></get-pki-local-certificate>`).childText("output"); !strings.Contains(out, "does not exist") {
		t.Errorf("after a dropped load the certificate shows as %q", out)
	}
}

func TestSoftwareInformationAndFileList(t *testing.T) {
	d := startDevice(t, Config{Model: "srx1500", Version: "21.2R3.8"})
	s := dial(t, d, true)
	sw := s.ok(`<get-software-information/>`).child("software-information")
	if sw.childText("junos-version") != "21.2R3.8" || sw.childText("product-model") != "srx1500" || sw.childText("host-name") != "srx1" {
		t.Errorf("software information: %s", sw.marshal())
	}
	s.ok(`<file-put><filename>/var/tmp/a.txt</filename><encoding>ascii</encoding><file-contents>a</file-contents></file-put>`)
	list := s.ok(`<file-list><path>/var/tmp</path></file-list>`).child("directory-list")
	if list == nil || list.child("directory").child("file-information").childText("file-name") != "a.txt" {
		t.Errorf("file list of /var/tmp: %s", list.marshal())
	}
	if out := s.ok(`<file-list><path>/var/nowhere</path></file-list>`).childText("output"); !strings.Contains(out, "No such file or directory") {
		t.Errorf("file list of a missing directory: %q", out)
	}
	if got := d.Calls(); !slices.Contains(got, "rpc <get-software-information>") || !slices.Contains(got, "rpc <file-list>") {
		t.Errorf("Calls() = %q", got)
	}
}

// selfSignedPEM makes a certificate for csr's key, or for a new key when csr
// is nil.
func selfSignedPEM(t *testing.T, csr *x509.CertificateRequest) []byte {
	t.Helper()
	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var pub any = &signer.PublicKey
	if csr != nil {
		pub = csr.PublicKey
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "srx1.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
