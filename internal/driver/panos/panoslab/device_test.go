package panoslab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	testName     = "fw-lab.example.test"
	testUser     = "admin"
	testPassword = "lab-Password-1"
	profilesPath = "/config/shared/ssl-tls-service-profile"
)

// testDevice is a started device and an HTTPS client that trusts it.
type testDevice struct {
	*Device
	http *http.Client
	key  string
}

func startDevice(t *testing.T, cfg Config) *testDevice {
	t.Helper()
	cfg.Name, cfg.Username, cfg.Password = testName, testUser, testPassword
	d, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	td := &testDevice{Device: d, http: &http.Client{Transport: &http.Transport{
		// The tests change the device's certificate; what it serves is
		// checked separately.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test client of a lab device.
		DisableKeepAlives: true,
	}}}
	status, body := td.post(t, url.Values{"type": {"keygen"}, "user": {testUser}, "password": {testPassword}})
	m := regexp.MustCompile(`<key>([^<]+)</key>`).FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("keygen: HTTP %d %s", status, body)
	}
	td.key = m[1]
	return td
}

// post sends a form with the API key in X-PAN-KEY.
func (td *testDevice) post(t *testing.T, form url.Values) (int, string) {
	t.Helper()
	return td.send(t, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

func (td *testDevice) send(t *testing.T, body io.Reader, contentType string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+td.Addr()+"/api/", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if td.key != "" {
		req.Header.Set("X-PAN-KEY", td.key)
	}
	resp, err := td.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// ok posts a form and fails unless the answer is a success.
func (td *testDevice) ok(t *testing.T, form url.Values) string {
	t.Helper()
	status, body := td.post(t, form)
	if status != http.StatusOK || strings.Contains(body, `status="error"`) {
		t.Fatalf("%v: HTTP %d %s", form, status, body)
	}
	return body
}

func (td *testDevice) op(t *testing.T, cmd string) string {
	t.Helper()
	return td.ok(t, url.Values{"type": {"op"}, "cmd": {cmd}})
}

func (td *testDevice) commit(t *testing.T, cmd string) string {
	t.Helper()
	return td.ok(t, url.Values{"type": {"commit"}, "cmd": {cmd}})
}

// finishJob polls a commit job until FIN and returns the final answer.
func (td *testDevice) finishJob(t *testing.T, commitAnswer string) string {
	t.Helper()
	m := regexp.MustCompile(`<job>(\d+)</job>`).FindStringSubmatch(commitAnswer)
	if m == nil {
		t.Fatalf("no job in %s", commitAnswer)
	}
	for range 10 {
		answer := td.op(t, "<show><jobs><id>"+m[1]+"</id></jobs></show>")
		if strings.Contains(answer, "<status>FIN</status>") {
			return answer
		}
	}
	t.Fatal("the job never finished")
	return ""
}

// newCertificate generates a key and CSR on the device, signs it with a
// throwaway CA and imports the chain: a certificate ready to bind.
func (td *testDevice) newCertificate(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	td.op(t, "<request><certificate><generate><certificate-name>"+name+"</certificate-name><name>"+testName+
		"</name><algorithm><ECDSA><ecdsa-nbits>256</ecdsa-nbits></ECDSA></algorithm><digest>sha256</digest>"+
		"<hostname><member>"+testName+"</member></hostname><signed-by>external</signed-by></generate></certificate></request>")
	_, csrPEM := td.post(t, url.Values{"type": {"export"}, "category": {"certificate"}, "certificate-name": {name},
		"format": {"pkcs10"}, "include-key": {"no"}})
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil {
		t.Fatalf("export returned no PEM: %s", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	chain := signCSR(t, csr)
	var bundle []byte
	for _, c := range chain {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if answer := td.importPEM(t, name, bundle); !strings.Contains(answer, "Successfully imported "+name) {
		t.Fatalf("import: %s", answer)
	}
	return chain[0]
}

func (td *testDevice) importPEM(t *testing.T, name string, bundle []byte) string {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range map[string]string{"type": "import", "category": "certificate", "certificate-name": name, "format": "pem"} {
		_ = w.WriteField(k, v)
	}
	part, _ := w.CreateFormFile("file", name+".pem")
	_, _ = part.Write(bundle)
	_ = w.Close()
	_, answer := td.send(t, &body, w.FormDataContentType())
	return answer
}

// signCSR returns leaf and root for a CSR, from a new root.
func signCSR(t *testing.T, csr *x509.CertificateRequest) []*x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: csr.Subject, DNSNames: csr.DNSNames, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, root, csr.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	return []*x509.Certificate{leaf, root}
}

// bindToManagement points a new profile at cert and binds it, in the
// candidate.
func (td *testDevice) bindToManagement(t *testing.T, profile, cert string) {
	t.Helper()
	td.ok(t, url.Values{"type": {"config"}, "action": {"set"}, "xpath": {profilesPath + "/entry[@name='" + profile + "']"},
		"element": {"<certificate>" + cert + "</certificate><protocol-settings><min-version>tls1-2</min-version></protocol-settings>"}})
	td.ok(t, url.Values{"type": {"config"}, "action": {"edit"}, "xpath": {managementBinding()},
		"element": {"<ssl-tls-service-profile>" + profile + "</ssl-tls-service-profile>"}})
}

func TestKeygenAndKeys(t *testing.T) {
	td := startDevice(t, Config{})
	for _, tc := range []struct {
		name string
		form url.Values
		key  string
	}{
		{"a wrong password gets 403 Invalid Credential", url.Values{"type": {"keygen"}, "user": {testUser}, "password": {"wrong"}}, ""},
		{"an unknown user gets 403 Invalid Credential", url.Values{"type": {"keygen"}, "user": {"eve"}, "password": {testPassword}}, ""},
		{"a request without a key gets 403 Invalid Credential", url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}}, ""},
		{"a request with a wrong key gets 403 Invalid Credential", url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}}, "LUFRPTwrong"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			anon := &testDevice{Device: td.Device, http: td.http, key: tc.key}
			status, body := anon.post(t, tc.form)
			if status != http.StatusForbidden || !strings.Contains(body, "status = 'error'") || !strings.Contains(body, "<msg>Invalid Credential</msg>") {
				t.Errorf("HTTP %d %s", status, body)
			}
		})
	}
	t.Run("the same login gets the same key", func(t *testing.T) {
		again := &testDevice{Device: td.Device, http: td.http}
		_, body := again.post(t, url.Values{"type": {"keygen"}, "user": {testUser}, "password": {testPassword}})
		if !strings.Contains(body, "<key>"+td.key+"</key>") {
			t.Errorf("a second keygen answered %s", body)
		}
	})
	t.Run("the key in a query parameter works too, as on PAN-OS", func(t *testing.T) {
		anon := &testDevice{Device: td.Device, http: td.http}
		status, body := anon.post(t, url.Values{"type": {"op"}, "key": {td.key}, "cmd": {"<show><system><info/></system></show>"}})
		if status != http.StatusOK || !strings.Contains(body, "<sw-version>"+SoftwareVersion+"</sw-version>") {
			t.Errorf("HTTP %d %s", status, body)
		}
	})
}

func TestBadRequestsGetPANOSErrors(t *testing.T) {
	td := startDevice(t, Config{})
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"an xpath the schema does not know", url.Values{"type": {"config"}, "action": {"set"}, "xpath": {"/config/shared/ssl-tls-service-profle"}, "element": {"<x/>"}},
			[]string{`code="6"`, "Could not get schema node for xpath /config/shared/ssl-tls-service-profle"}},
		{"an element the schema does not know", url.Values{"type": {"config"}, "action": {"set"}, "xpath": {profilesPath + "/entry[@name='p']"}, "element": {"<certficate>c</certficate>"}},
			[]string{`code="12"`, "certficate unexpected here"}},
		{"a malformed xpath", url.Values{"type": {"config"}, "action": {"get"}, "xpath": {"/config/shared/certificate/entry[@name='x"}},
			[]string{`code="6"`, "Bad Xpath"}},
		{"an edit whose element is not the xpath's node", url.Values{"type": {"config"}, "action": {"edit"}, "xpath": {managementBinding()}, "element": {"<hostname>x</hostname>"}},
			[]string{`code="12"`, "edit breaks config validity"}},
		{"an unknown operational command", url.Values{"type": {"op"}, "cmd": {"<show><bogus/></show>"}},
			[]string{`code="17"`, "bogus is unexpected"}},
		{"a show of a missing node", url.Values{"type": {"config"}, "action": {"show"}, "xpath": {"/config/shared/certificate/entry[@name='nope']"}},
			[]string{`code="7"`, "No such node"}},
		{"loading a snapshot that does not exist", url.Values{"type": {"op"}, "cmd": {"<load><config><from>nope.xml</from></config></load>"}},
			[]string{`code="7"`, "nope.xml does not exist"}},
		{"exporting a certificate that does not exist", url.Values{"type": {"export"}, "category": {"certificate"}, "certificate-name": {"nope"}, "format": {"pkcs10"}},
			[]string{"Certificate 'nope' does not exist"}},
		{"an RSA size PAN-OS does not offer", url.Values{"type": {"op"}, "cmd": {"<request><certificate><generate><certificate-name>c</certificate-name><name>n</name><algorithm><RSA><rsa-nbits>1000</rsa-nbits></RSA></algorithm><signed-by>external</signed-by></generate></certificate></request>"}},
			[]string{"rsa-nbits '1000' is not one of 2048, 3072, 4096"}},
		{"a partial commit naming nobody", url.Values{"type": {"commit"}, "cmd": {"<commit><partial><admin/></partial></commit>"}},
			[]string{`code="17"`, "partial -> admin is missing"}},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			_, body := td.post(t, tc.form)
			if !strings.Contains(body, `status="error"`) {
				t.Fatalf("not an error: %s", body)
			}
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("answer %s lacks %q", body, want)
				}
			}
		})
	}
}

func TestChangesTakeEffectOnlyWhenCommitted(t *testing.T) {
	td := startDevice(t, Config{CommitPolls: 2})
	initial := td.ServedChain()[0]
	leaf := td.newCertificate(t, "new-cert")
	td.bindToManagement(t, "new-profile", "new-cert")
	if served := td.ServedChain()[0]; !served.Equal(initial) {
		t.Fatal("an uncommitted binding is already served")
	}
	if _, ok := td.Running(managementBinding()); !ok {
		t.Fatal("the running configuration lost its binding")
	}
	answer := td.commit(t, "<commit><partial><admin><member>"+testUser+"</member></admin></partial></commit>")
	first := td.op(t, "<show><jobs><id>1</id></jobs></show>")
	if !strings.Contains(first, "<status>ACT</status>") || !strings.Contains(first, "<result>PEND</result>") {
		t.Errorf("the first poll answered %s, want ACT/PEND", first)
	}
	final := td.finishJob(t, answer)
	if !strings.Contains(final, "<result>OK</result>") || !strings.Contains(final, "Configuration committed successfully") {
		t.Fatalf("the job ended with %s", final)
	}
	if served := td.ServedChain()[0]; !served.Equal(leaf) {
		t.Error("the committed certificate is not served")
	}
	conn, err := tls.Dial("tcp", td.Addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // observes what is served.
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates; len(got) != 2 || !got[0].Equal(leaf) {
		t.Errorf("a new handshake sees %d certificates, want the new leaf and its CA", len(got))
	}
	if got := td.commit(t, "<commit><partial><admin><member>"+testUser+"</member></admin></partial></commit>"); !strings.Contains(got, "There are no changes to commit.") {
		t.Errorf("a second commit answered %s", got)
	}
}

func TestCommitFailures(t *testing.T) {
	t.Run("FailInstalls fails the job with its message and changes nothing", func(t *testing.T) {
		td := startDevice(t, Config{})
		initial := td.ServedChain()[0]
		td.newCertificate(t, "new-cert")
		td.bindToManagement(t, "new-profile", "new-cert")
		td.FailInstalls(true)
		final := td.finishJob(t, td.commit(t, "<commit/>"))
		if !strings.Contains(final, "<result>FAIL</result>") || !strings.Contains(final, td.FailureMessage()) {
			t.Errorf("the job ended with %s", final)
		}
		if !td.ServedChain()[0].Equal(initial) {
			t.Error("a failed commit changed the served certificate")
		}
		if len(td.PendingChanges(testUser)) == 0 {
			t.Error("a failed commit dropped the pending changes")
		}
	})
	t.Run("a profile whose certificate has no signed certificate fails validation", func(t *testing.T) {
		td := startDevice(t, Config{})
		td.op(t, "<request><certificate><generate><certificate-name>csr-only</certificate-name><name>"+testName+
			"</name><algorithm><ECDSA><ecdsa-nbits>256</ecdsa-nbits></ECDSA></algorithm><signed-by>external</signed-by></generate></certificate></request>")
		td.bindToManagement(t, "p", "csr-only")
		final := td.finishJob(t, td.commit(t, "<commit/>"))
		for _, want := range []string{"<result>FAIL</result>", "Validation Error:", "ssl-tls-service-profile -&gt; p -&gt; certificate &apos;csr-only&apos; is not a valid reference"} {
			if !strings.Contains(final, want) {
				t.Errorf("the job's answer %s lacks %q", final, want)
			}
		}
	})
}

func TestPartialCommitTakesOnlyTheNamedAdministratorsChanges(t *testing.T) {
	td := startDevice(t, Config{})
	const alice = "/config/shared/tag/entry[@name='alice-tag']"
	if err := td.StageCandidate("alice", "/config/shared/tag", `<entry name="alice-tag"/>`); err != nil {
		t.Fatal(err)
	}
	td.ok(t, url.Values{"type": {"config"}, "action": {"set"}, "xpath": {"/config/shared/tag"}, "element": {`<entry name="admin-tag"/>`}})
	td.finishJob(t, td.commit(t, "<commit><partial><admin><member>"+testUser+"</member></admin></partial></commit>"))
	if _, ok := td.Running("/config/shared/tag/entry[@name='admin-tag']"); !ok {
		t.Error("the admin's change was not committed")
	}
	if _, ok := td.Running(alice); ok {
		t.Error("alice's change was committed by the admin's partial commit")
	}
	td.finishJob(t, td.commit(t, "<commit/>"))
	if _, ok := td.Running(alice); !ok {
		t.Error("a full commit did not take alice's change")
	}
}

func TestSnapshotsRestoreTheConfiguration(t *testing.T) {
	td := startDevice(t, Config{})
	initial := td.ServedChain()[0]
	td.op(t, "<save><config><to>before.xml</to></config></save>")
	td.newCertificate(t, "new-cert")
	td.bindToManagement(t, "new-profile", "new-cert")
	td.finishJob(t, td.commit(t, "<commit/>"))
	rotated := td.ServedChain()[0]
	if rotated.Equal(initial) {
		t.Fatal("the new certificate is not served")
	}
	if answer := td.op(t, "<load><config><from>before.xml</from></config></load>"); !strings.Contains(answer, "Config loaded from before.xml") {
		t.Errorf("load answered %s", answer)
	}
	// After a load PAN-OS takes only a force commit of the whole
	// configuration (pan-os-python PR #604).
	for _, tc := range []struct{ cmd, want string }{
		{"<commit><partial><admin><member>" + testUser + "</member></admin></partial></commit>", partialAfterLoad},
		{"<commit><force><partial><admin><member>" + testUser + "</member></admin></partial></force></commit>", forceWithPartial},
		{"<commit></commit>", unforcedAfterLoad},
	} {
		_, body := td.post(t, url.Values{"type": {"commit"}, "cmd": {tc.cmd}})
		if !strings.Contains(body, `status="error"`) || !strings.Contains(body, tc.want) {
			t.Errorf("%s after a load answered %s, want an error saying %q", tc.cmd, body, tc.want)
		}
	}
	if !td.ServedChain()[0].Equal(rotated) {
		t.Fatal("a refused commit changed the served certificate")
	}
	final := td.finishJob(t, td.commit(t, "<commit><force></force></commit>"))
	if !strings.Contains(final, "<result>OK</result>") {
		t.Fatalf("the force commit ended with %s", final)
	}
	if !td.ServedChain()[0].Equal(initial) {
		t.Error("after loading the snapshot and committing, the initial certificate is not served")
	}
	if _, ok := td.Running("/config/shared/certificate/entry[@name='new-cert']"); ok {
		t.Error("the certificate made after the snapshot survived its load")
	}
	td.op(t, "<delete><config><saved>before.xml</saved></config></delete>")
	if saved := td.SavedConfigs(); len(saved) != 0 {
		t.Errorf("snapshots left: %v", saved)
	}
}

func TestCommitsWithNothingToCommit(t *testing.T) {
	td := startDevice(t, Config{})
	for _, cmd := range []string{"<commit/>", "<commit><partial><admin><member>" + testUser + "</member></admin></partial></commit>"} {
		if got := td.commit(t, cmd); got != noChangesAnswer {
			t.Errorf("%s with nothing changed answered %s, want %s", cmd, got, noChangesAnswer)
		}
	}
	final := td.finishJob(t, td.commit(t, "<commit><force></force></commit>"))
	if !strings.Contains(final, "<result>OK</result>") {
		t.Errorf("a force commit with nothing changed ended with %s, want a job that commits anyway", final)
	}
}

func TestPrivateKeysNeverLeave(t *testing.T) {
	td := startDevice(t, Config{})
	td.newCertificate(t, "new-cert")
	if td.PrivateKeyExported() {
		t.Fatal("a key left before anyone asked")
	}
	if body := td.ok(t, url.Values{"type": {"config"}, "action": {"get"}, "xpath": {"/config/shared/certificate"}}); strings.Contains(body, "PRIVATE KEY") {
		t.Error("a config read shows a private key")
	}
	_, body := td.post(t, url.Values{"type": {"export"}, "category": {"certificate"}, "certificate-name": {"new-cert"},
		"format": {"pem"}, "include-key": {"yes"}, "passphrase": {"x"}})
	if strings.Contains(body, "PRIVATE KEY") || !strings.Contains(body, `status="error"`) {
		t.Errorf("an export with the key answered %s", body)
	}
	if !td.PrivateKeyExported() {
		t.Error("the attempt to export a key was not recorded")
	}
}

func TestImportChecksTheKey(t *testing.T) {
	td := startDevice(t, Config{})
	td.op(t, "<request><certificate><generate><certificate-name>c</certificate-name><name>"+testName+
		"</name><algorithm><ECDSA><ecdsa-nbits>256</ecdsa-nbits></ECDSA></algorithm><signed-by>external</signed-by></generate></certificate></request>")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: testName}}, other)
	csr, _ := x509.ParseCertificateRequest(der)
	chain := signCSR(t, csr)
	answer := td.importPEM(t, "c", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw}))
	if !strings.Contains(answer, "does not match the private key") {
		t.Errorf("importing a certificate for another key answered %s", answer)
	}
}

func TestDeletingACertificateInUseIsRefused(t *testing.T) {
	td := startDevice(t, Config{})
	_, body := td.post(t, url.Values{"type": {"config"}, "action": {"delete"}, "xpath": {"/config/shared/certificate/entry[@name='" + InitialCertificateName + "']"}})
	for _, want := range []string{`code="10"`, "cannot be deleted because of references from", "ssl-tls-service-profile -> " + InitialCertificateName} {
		if !strings.Contains(body, want) {
			t.Errorf("answer %s lacks %q", body, want)
		}
	}
}

func TestManyDevicesStartCheaply(t *testing.T) {
	for range 50 {
		d, err := Start(context.Background(), Config{Name: testName, Username: testUser, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestADeviceThatIgnoresTheKeyHeaderTakesTheKeyFromTheBody(t *testing.T) {
	td := startDevice(t, Config{IgnoreKeyHeader: true})
	status, body := td.post(t, url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}})
	if status != http.StatusForbidden || !strings.Contains(body, "Invalid Credential") {
		t.Errorf("a key in X-PAN-KEY only answered HTTP %d %s, want 403 Invalid Credential", status, body)
	}
	inBody := &testDevice{Device: td.Device, http: td.http}
	body = inBody.ok(t, url.Values{"type": {"op"}, "key": {td.key}, "cmd": {"<show><system><info/></system></show>"}})
	if !strings.Contains(body, "<sw-version>") {
		t.Errorf("a key in the body answered %s", body)
	}
	requests := td.Requests()
	if got := requests[len(requests)-2].KeyIn; got != "header" {
		t.Errorf("the first request's key was recorded in %q, want header", got)
	}
	if got := requests[len(requests)-1].KeyIn; got != "body" {
		t.Errorf("the second request's key was recorded in %q, want body", got)
	}
}

func TestRolesLimitWhatAnAdministratorMayDo(t *testing.T) {
	setTag := url.Values{"type": {"config"}, "action": {"set"}, "xpath": {"/config/shared/tag"}, "element": {`<entry name="t"/>`}}
	readTags := url.Values{"type": {"config"}, "action": {"get"}, "xpath": {"/config/shared"}}
	commit := url.Values{"type": {"commit"}, "cmd": {"<commit/>"}}
	showInfo := url.Values{"type": {"op"}, "cmd": {"<show><system><info/></system></show>"}}
	saveConfig := url.Values{"type": {"op"}, "cmd": {"<save><config><to>x.xml</to></config></save>"}}
	for _, tc := range []struct {
		name        string
		permissions string
		allowed     []url.Values
		refused     []url.Values
	}{
		{"a superuser may do everything", "<superuser>yes</superuser>", []url.Values{setTag, commit, saveConfig}, nil},
		{"a superreader may only read", "<superreader>yes</superreader>", []url.Values{readTags, showInfo}, []url.Values{setTag, commit, saveConfig}},
		{"a custom role may send the request types its profile enables", "<custom><profile>no-commit</profile></custom>",
			[]url.Values{setTag, readTags, showInfo}, []url.Values{commit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := startDevice(t, Config{})
			if err := td.SetRunning("/config/shared/admin-role", `<entry name="no-commit"><role><device><xmlapi>`+
				`<config>enable</config><op>enable</op><commit>disable</commit></xmlapi></device></role></entry>`); err != nil {
				t.Fatal(err)
			}
			if err := td.SetPermissions(testUser, tc.permissions); err != nil {
				t.Fatal(err)
			}
			for _, form := range tc.allowed {
				td.ok(t, form)
			}
			for _, form := range tc.refused {
				if status, body := td.post(t, form); status != http.StatusForbidden || !strings.Contains(body, "Invalid Credential") {
					t.Errorf("%v answered HTTP %d %s, want 403 Invalid Credential", form, status, body)
				}
			}
		})
	}
}

func TestLocksHeldByOthersStopChangesAndCommits(t *testing.T) {
	td := startDevice(t, Config{})
	if got := td.op(t, "<show><commit-locks/></show>"); !strings.Contains(got, "<commit-locks></commit-locks>") {
		t.Errorf("with no lock the device answered %s", got)
	}
	td.LockConfig("alice", "maintenance")
	td.LockCommits("bob", "")
	if got := td.op(t, "<show><config-locks/></show>"); !strings.Contains(got, `<entry name="alice">`) || !strings.Contains(got, "maintenance") {
		t.Errorf("show config-locks answered %s", got)
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"type": {"config"}, "action": {"set"}, "xpath": {"/config/shared/tag"}, "element": {`<entry name="t"/>`}}, "Config is locked by alice"},
		{url.Values{"type": {"commit"}, "cmd": {"<commit><force></force></commit>"}}, "Commit is locked by bob"},
	} {
		if _, body := td.post(t, tc.form); !strings.Contains(body, `status="error"`) || !strings.Contains(body, tc.want) {
			t.Errorf("%v answered %s, want an error saying %q", tc.form, body, tc.want)
		}
	}
}

func TestCallsNameRequestsWithoutTheirValues(t *testing.T) {
	td := startDevice(t, Config{})
	td.post(t, url.Values{"type": {"op"}, "cmd": {"<show><jobs><id>7</id></jobs></show>"}})
	td.ok(t, url.Values{"type": {"config"}, "action": {"show"}, "xpath": {managementBinding()}})
	td.commit(t, "<commit><partial><admin><member>"+testUser+"</member></admin></partial></commit>")
	td.op(t, "<request><certificate><generate><certificate-name>c</certificate-name><name>"+testName+
		"</name><algorithm><ECDSA><ecdsa-nbits>256</ecdsa-nbits></ECDSA></algorithm><signed-by>external</signed-by></generate></certificate></request>")
	td.post(t, url.Values{"type": {"export"}, "category": {"certificate"}, "certificate-name": {"c"}, "format": {"pkcs10"}, "include-key": {"no"}})
	want := []string{
		"keygen",
		"op <show><jobs><id>",
		"config show " + managementBinding(),
		"commit <commit><partial><admin><member>",
		"op <request><certificate><generate>",
		"export certificate format=pkcs10",
	}
	got := td.Calls()
	if len(got) != len(want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("call %d is %q, want %q", i, got[i], want[i])
		}
	}
}
