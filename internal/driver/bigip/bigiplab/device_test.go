package bigiplab

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	testUser     = "admin"
	testPassword = "Lab-Passw0rd."
)

// api is a plain HTTP client for one emulated device; it trusts the
// device's self-signed certificate only.
type api struct {
	t     *testing.T
	dev   *Device
	http  *http.Client
	token string
}

func startDevice(t *testing.T, cfg Config) *api {
	t.Helper()
	cfg.Name = "lab1.example.test"
	cfg.Username, cfg.Password = testUser, testPassword
	dev, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(dev.mgmtCert.Load().Leaf)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: cfg.Name}}}
	t.Cleanup(client.CloseIdleConnections)
	a := &api{t: t, dev: dev, http: client}
	a.login()
	return a
}

// login gets a new token, as after a reboot.
func (a *api) login() {
	a.t.Helper()
	a.token = ""
	status, body := a.call(http.MethodPost, "/mgmt/shared/authn/login", nil,
		map[string]string{"username": testUser, "password": testPassword, "loginProviderName": "tmos"})
	if status != http.StatusOK {
		a.t.Fatalf("login: %d %v", status, body)
	}
	a.token = body["token"].(map[string]any)["token"].(string)
}

// call sends a JSON request and decodes the JSON answer.
func (a *api) call(method, path string, header http.Header, body any) (int, map[string]any) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "https://"+a.dev.Addr()+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if a.token != "" {
		req.Header.Set("X-F5-Auth-Token", a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			a.t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

func (a *api) must(method, path string, header http.Header, body any) map[string]any {
	a.t.Helper()
	status, out := a.call(method, path, header, body)
	if status != http.StatusOK {
		a.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

func (a *api) bash(command string) string {
	a.t.Helper()
	out := a.must(http.MethodPost, "/mgmt/tm/util/bash", nil, map[string]string{"command": "run", "utilCmdArgs": "-c '" + command + "'"})
	s, _ := out["commandResult"].(string)
	return s
}

func TestErrorsHaveF5sShape(t *testing.T) {
	a := startDevice(t, Config{})
	for _, tc := range []struct {
		name, method, path string
		body               any
		token              string
		status             int
		message            string
	}{
		{"a wrong password is 401 Authentication failed", http.MethodPost, "/mgmt/shared/authn/login",
			map[string]string{"username": testUser, "password": "nope", "loginProviderName": "tmos"}, "-", 401, "Authentication failed."},
		{"an unknown token is refused", http.MethodGet, "/mgmt/tm/sys/httpd", nil, "WRONGTOKEN", 401, "X-F5-Auth-Token does not exist."},
		{"an unknown object is 404", http.MethodGet, "/mgmt/tm/ltm/profile/client-ssl/~Common~nope", nil, "", 404,
			"01020036:3: The requested ClientSSL Profile (/Common/nope) was not found."},
		{"a bad body is 400", http.MethodPatch, "/mgmt/tm/ltm/profile/client-ssl/~Common~ottr-lab_clientssl",
			map[string]any{"ciphersX": "DEFAULT"}, "", 400, `The json pair "ciphersX":"DEFAULT" is not allowed.`},
		{"an unknown path is 404", http.MethodGet, "/mgmt/tm/sys/nothing", nil, "", 404, "not registered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *a
			c.t = t
			if tc.token == "-" {
				c.token = ""
			} else if tc.token != "" {
				c.token = tc.token
			}
			status, body := c.call(tc.method, tc.path, nil, tc.body)
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if code, _ := body["code"].(float64); int(code) != tc.status {
				t.Errorf("code %v, want %d", body["code"], tc.status)
			}
			if msg, _ := body["message"].(string); !strings.Contains(msg, tc.message) {
				t.Errorf("message %q does not contain %q", msg, tc.message)
			}
			if echo, found := body["originalRequestBody"].(string); found && strings.Contains(echo, "nope") {
				t.Errorf("the answer echoes the password: %s", echo)
			}
		})
	}
}

func TestKeysGeneratedWithGenCSRStayOnTheDevice(t *testing.T) {
	a := startDevice(t, Config{})
	a.must(http.MethodPost, "/mgmt/tm/sys/crypto/key", nil, map[string]any{
		"name": "site.key", "partition": "Common", "keyType": "ec-private", "curveName": "prime256v1",
		"commonName": "site.example.test", "subject-alternative-name": "DNS:site.example.test, DNS:www.example.test",
		"options": []map[string]string{{"gen-csr": "site.key"}},
	})
	listing := a.bash("tmsh list sys crypto csr /Common/site.key")
	for _, want := range []string{"-----BEGIN CERTIFICATE REQUEST-----", "sys crypto csr site.key {", `subject-alternative-name "DNS:site.example.test, DNS:www.example.test"`} {
		if !strings.Contains(listing, want) {
			t.Errorf("the CSR listing lacks %q:\n%s", want, listing)
		}
	}
	if a.dev.PrivateKeyExported() {
		t.Fatal("generating a key exported it")
	}
	key := a.must(http.MethodGet, "/mgmt/tm/sys/file/ssl-key/~Common~site.key", nil, nil)
	a.bash("cat " + key["cachePath"].(string))
	if !a.dev.PrivateKeyExported() {
		t.Error("reading the key file did not count as exporting the key")
	}
}

func TestATransactionChangesAllOrNothing(t *testing.T) {
	a := startDevice(t, Config{})
	profile := "/mgmt/tm/ltm/profile/client-ssl/~Common~ottr-lab_clientssl"
	beforeCert, beforeKey, _ := a.dev.Binding()
	tx := a.must(http.MethodPost, "/mgmt/tm/transaction", nil, map[string]any{})
	id := fmt.Sprint(int64(tx["transId"].(float64)))
	h := http.Header{"X-F5-Rest-Coordination-Id": []string{id}}
	a.must(http.MethodPost, "/mgmt/tm/ltm/data-group/internal", h, map[string]any{"name": "dg", "type": "string"})
	queued := a.must(http.MethodPatch, profile, h, map[string]any{
		"certKeyChain": []map[string]string{{"name": "default", "cert": "/Common/default.crt", "key": "/Common/missing.key"}},
	})
	if queued["kind"] != "tm:transaction:commandsstate" {
		t.Fatalf("a request with the coordination id was not queued: %v", queued)
	}
	status, body := a.call(http.MethodPatch, "/mgmt/tm/transaction/"+id, nil, map[string]string{"state": "VALIDATING"})
	if status != http.StatusBadRequest || !strings.HasPrefix(fmt.Sprint(body["message"]), "transaction failed:01070712:3:") {
		t.Fatalf("commit of a bad transaction: %d %v", status, body)
	}
	if status, _ := a.call(http.MethodGet, "/mgmt/tm/ltm/data-group/internal/~Common~dg", nil, nil); status != http.StatusNotFound {
		t.Errorf("the failed transaction's data group exists (status %d)", status)
	}
	if cert, key, _ := a.dev.Binding(); cert != beforeCert || key != beforeKey {
		t.Errorf("the failed transaction changed the profile to %s, %s", cert, key)
	}
	if got := a.must(http.MethodGet, "/mgmt/tm/transaction/"+id, nil, nil); got["state"] != "FAILED" {
		t.Errorf("the transaction is %v, want FAILED", got["state"])
	}
}

func TestObjectsInUseCannotBeDeleted(t *testing.T) {
	a := startDevice(t, Config{})
	status, body := a.call(http.MethodDelete, "/mgmt/tm/sys/crypto/cert/~Common~default.crt", nil, nil)
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["message"]), "is in use by profile /Common/ottr-lab_clientssl") {
		t.Errorf("deleting the profile's certificate: %d %v", status, body)
	}
}

func TestUploadsTakeContentRangeChunks(t *testing.T) {
	a := startDevice(t, Config{})
	send := func(rng string, data string) int {
		req, _ := http.NewRequest(http.MethodPost, "https://"+a.dev.Addr()+"/mgmt/shared/file-transfer/uploads/c.pem", strings.NewReader(data))
		req.Header.Set("X-F5-Auth-Token", a.token)
		req.Header.Set("Content-Range", rng)
		resp, err := a.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := send("0-2/6", "abc"); got != http.StatusOK {
		t.Fatalf("first chunk: %d", got)
	}
	if got := send("3-5/6", "def"); got != http.StatusOK {
		t.Fatalf("second chunk: %d", got)
	}
	if got := send("0-9/6", "abc"); got != http.StatusBadRequest {
		t.Errorf("a Content-Range that does not fit the body: %d, want 400", got)
	}
	a.dev.mu.Lock()
	defer a.dev.mu.Unlock()
	if got := string(a.dev.downloads[downloadsDir+"c.pem"]); got != "abcdef" {
		t.Errorf("the uploaded file holds %q", got)
	}
}

func TestBashRunsOnlySingleReadOnlyCommands(t *testing.T) {
	a := startDevice(t, Config{})
	status, _ := a.call(http.MethodPost, "/mgmt/tm/util/bash", nil, map[string]string{"command": "run", "utilCmdArgs": "-c 'cat /etc/passwd; reboot'"})
	if status != http.StatusBadRequest {
		t.Errorf("a command list was accepted (status %d)", status)
	}
	if out := a.bash("reboot"); !strings.Contains(out, "command not found") {
		t.Errorf("an unknown command printed %q", out)
	}
}

func TestAProfileEntryReadsLikeADevicesAndCannotBeSentBackAsRead(t *testing.T) {
	a := startDevice(t, Config{InitialKeyPassphrase: "Key-Passw0rd"})
	profile := "/mgmt/tm/ltm/profile/client-ssl/~Common~ottr-lab_clientssl"
	got := a.must(http.MethodGet, profile, nil, nil)
	entries, _ := got["certKeyChain"].([]any)
	if len(entries) != 1 {
		t.Fatalf("certKeyChain is %v", got["certKeyChain"])
	}
	entry := entries[0].(map[string]any)
	for _, k := range []string{"certReference", "keyReference", "appService", "usage"} {
		if _, found := entry[k]; !found {
			t.Errorf("the entry lacks %s, which devices return: %v", k, entry)
		}
	}
	if link, _ := entry["certReference"].(map[string]any)["link"].(string); !strings.Contains(link, "/mgmt/tm/sys/file/ssl-cert/~Common~default.crt") {
		t.Errorf("certReference links to %q", link)
	}
	passphrase, _ := entry["passphrase"].(string)
	if !strings.HasPrefix(passphrase, "$M$") || strings.Contains(passphrase, "Key-Passw0rd") {
		t.Errorf("the passphrase reads %q, want it only in encrypted form", passphrase)
	}

	status, body := a.call(http.MethodPatch, profile, nil, map[string]any{"certKeyChain": entries})
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["message"]), `may not be specified in the context of the "modify" command`) {
		t.Errorf("sending the entry back as read: %d %v, want a 400 refusing the read-only properties", status, body)
	}
	status, body = a.call(http.MethodPatch, profile, nil, map[string]any{"certKeyChain": []map[string]string{{
		"name": "default", "cert": "/Common/default.crt", "key": "/Common/default.key", "chain": "none", "passphrase": passphrase,
	}}})
	if status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body["message"]), "bad password read") {
		t.Errorf("sending the encrypted passphrase back: %d %v, want the key refused", status, body)
	}
	a.must(http.MethodPatch, profile, nil, map[string]any{"certKeyChain": []map[string]string{{
		"name": "default", "cert": "/Common/default.crt", "key": "/Common/default.key", "chain": "none", "passphrase": "Key-Passw0rd",
	}}})
	if _, _, chain := a.dev.Binding(); chain != "" {
		t.Errorf("chain \"none\" left the profile with chain %q", chain)
	}
}

func TestARebootLoadsTheSavedConfiguration(t *testing.T) {
	a := startDevice(t, Config{})
	profile := "/mgmt/tm/ltm/profile/client-ssl/~Common~ottr-lab_clientssl"
	factoryCert, _, _ := a.dev.Binding()
	install := func(name string) {
		a.must(http.MethodPost, "/mgmt/tm/sys/crypto/key", nil, map[string]any{"name": name + ".key", "partition": "Common", "keyType": "ec-private", "curveName": "prime256v1"})
		a.dev.mu.Lock()
		cert := selfSignedFor(t, a.dev.st.keys["/Common/"+name+".key"].signer, name)
		a.dev.downloads[downloadsDir+name+".pem"] = encodeCerts([]*x509.Certificate{cert})
		a.dev.mu.Unlock()
		a.must(http.MethodPost, "/mgmt/tm/sys/crypto/cert", nil, map[string]string{"command": "install", "name": "/Common/" + name + ".crt", "from-local-file": downloadsDir + name + ".pem"})
		a.must(http.MethodPatch, profile, nil, map[string]any{"certKeyChain": []map[string]string{{
			"name": "default", "cert": "/Common/" + name + ".crt", "key": "/Common/" + name + ".key", "chain": "none",
		}}})
	}

	install("first")
	if err := a.dev.Reboot(); err != nil {
		t.Fatalf("Reboot: %v", err)
	}
	if cert, _, _ := a.dev.Binding(); cert != factoryCert {
		t.Errorf("after a reboot without save the profile uses %s, want the saved %s", cert, factoryCert)
	}

	a = startDevice(t, Config{})
	install("first")
	if got := a.must(http.MethodPost, "/mgmt/tm/sys/config", nil, map[string]string{"command": "save"}); got["command"] != "save" {
		t.Errorf("save answered %v", got)
	}
	install("second")
	a.must(http.MethodDelete, "/mgmt/tm/sys/file/ssl-cert/~Common~first.crt", nil, nil)
	err := a.dev.Reboot()
	if err == nil || !strings.Contains(err.Error(), "sys file ssl-cert /Common/first.crt") {
		t.Errorf("Reboot with a saved configuration naming a deleted certificate: %v, want a failed load naming it", err)
	}
	if _, err := drivertestServed(a.dev.TLSAddr()); err == nil {
		t.Error("the virtual server serves although the configuration did not load")
	}

	a.login()
	a.dev.FailSaves(true)
	status, body := a.call(http.MethodPost, "/mgmt/tm/sys/config", nil, map[string]string{"command": "save"})
	if status != http.StatusBadRequest || body["message"] != a.dev.SaveFailureMessage() {
		t.Errorf("a failed save answered %d %v", status, body)
	}
}

func TestHTTPDServesANewCertificateOnlyAfterARestart(t *testing.T) {
	a := startDevice(t, Config{Target: TargetHTTPD})
	before := a.dev.mgmtCert.Load().Leaf
	a.dev.mu.Lock()
	cert := selfSignedFor(t, a.dev.st.keys["/Common/default.key"].signer, "lab1.example.test")
	a.dev.st.files["/config/httpd/conf/ssl.crt/new.crt"] = encodeCerts([]*x509.Certificate{cert})
	a.dev.mu.Unlock()
	a.must(http.MethodPatch, "/mgmt/tm/sys/httpd", nil, map[string]string{"sslCertfile": "/config/httpd/conf/ssl.crt/new.crt"})
	if !a.dev.mgmtCert.Load().Leaf.Equal(before) {
		t.Fatal("httpd serves the new certificate before a restart")
	}
	if out := a.bash("tmsh restart /sys service httpd"); out != "" {
		t.Errorf("the restart printed %q", out)
	}
	if !a.dev.mgmtCert.Load().Leaf.Equal(cert) {
		t.Error("httpd does not serve the new certificate after the restart")
	}
}

func TestTheDeviceTellsItsVersionAndTheUsersRole(t *testing.T) {
	a := startDevice(t, Config{Version: "16.1.3", Role: "operator"})
	version := a.must(http.MethodGet, "/mgmt/tm/sys/version", nil, nil)
	entries := version["entries"].(map[string]any)["https://localhost/mgmt/tm/sys/version/0"].(map[string]any)["nestedStats"].(map[string]any)["entries"].(map[string]any)
	if entries["Product"].(map[string]any)["description"] != "BIG-IP" || entries["Version"].(map[string]any)["description"] != "16.1.3" {
		t.Errorf("sys version reads %v", entries)
	}
	user := a.must(http.MethodGet, "/mgmt/tm/auth/user/"+testUser, nil, nil)
	access := user["partitionAccess"].([]any)[0].(map[string]any)
	if access["name"] != "all-partitions" || access["role"] != "operator" {
		t.Errorf("the user's partitionAccess is %v", user["partitionAccess"])
	}
	if status, _ := a.call(http.MethodGet, "/mgmt/tm/auth/partition/Nowhere", nil, nil); status != http.StatusNotFound {
		t.Errorf("a missing partition answered %d", status)
	}
	a.must(http.MethodGet, "/mgmt/tm/auth/partition/Common", nil, nil)
}

// selfSignedFor makes a certificate for name holding signer's public key.
func selfSignedFor(t *testing.T, signer crypto.Signer, name string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// drivertestServed handshakes with addr and returns the leaf it presents.
func drivertestServed(addr string) (*x509.Certificate, error) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only looks at what is presented
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}
