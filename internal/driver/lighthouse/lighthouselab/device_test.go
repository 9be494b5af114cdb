package lighthouselab

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// apiClient talks to an emulated appliance the way a script would.
type apiClient struct {
	t     *testing.T
	dev   *Device
	http  *http.Client
	token string
}

func start(t *testing.T, cfg Config) *apiClient {
	t.Helper()
	cfg.Name = "lh.example.test"
	cfg.Username, cfg.Password = "root", "default-Pa55"
	dev, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Close() })
	return &apiClient{t: t, dev: dev, http: &http.Client{Transport: &http.Transport{
		// The lab's appliance serves a self-signed certificate.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test of the emulator
		DisableKeepAlives: true,
	}}}
}

// call sends a request and returns the status and body.
func (c *apiClient) call(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "https://"+c.dev.Addr()+APIBase+path, r)
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (c *apiClient) login() {
	c.t.Helper()
	status, body := c.call("POST", "/sessions", map[string]string{"username": "root", "password": "default-Pa55"})
	var s sessionState
	if status != 200 || json.Unmarshal(body, &s) != nil || s.Session == "" || s.State != "authenticated" {
		c.t.Fatalf("login: %d %s", status, body)
	}
	c.token = s.Session
}

// downloadCSR fetches the pending CSR from path (the zip download) and
// reads it out of the zip archive the appliance answers with.
func (c *apiClient) downloadCSR(path string) *x509.CertificateRequest {
	c.t.Helper()
	status, archive := c.call("GET", path, nil)
	if status != 200 {
		c.t.Fatalf("CSR download: %d %s", status, archive)
	}
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil || len(zr.File) != 1 {
		c.t.Fatalf("the CSR download is not a zip archive of one file: %v", err)
	}
	f, err := zr.File[0].Open()
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	content, _ := io.ReadAll(f)
	block, _ := pem.Decode(content)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		c.t.Fatalf("the archive's %s holds no PEM certificate request: %q", zr.File[0].Name, content)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		c.t.Fatal(err)
	}
	return csr
}

// errorCodes returns the codes of an error answer.
func errorCodes(t *testing.T, body []byte) []int {
	t.Helper()
	var e struct {
		Error []apiError `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an error answer: %s", body)
	}
	codes := make([]int, len(e.Error))
	for i, m := range e.Error {
		codes[i] = m.Code
		if m.Level != 1 || m.Args == nil {
			t.Errorf("error entry %+v lacks level 1 or args", m)
		}
	}
	return codes
}

func TestLoginAnswersAsTheReferenceDoes(t *testing.T) {
	c := start(t, Config{})
	for _, tc := range []struct {
		name   string
		body   any
		status int
		codes  []int
	}{
		{"missing fields are each named", map[string]string{}, 400, []int{40, 40}},
		{"a wrong password is refused", map[string]string{"username": "root", "password": "x"}, 401, []int{41}},
		{"a body that is not JSON is refused", "x", 400, []int{39}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := c.call("POST", "/sessions", tc.body)
			if status != tc.status {
				t.Errorf("status %d, want %d", status, tc.status)
			}
			if got := errorCodes(t, body); !slices.Equal(got, tc.codes) {
				t.Errorf("codes %v, want %v", got, tc.codes)
			}
		})
	}
	t.Run("calls without a session are refused", func(t *testing.T) {
		status, body := c.call("GET", "/services/https", nil)
		if status != 401 || !slices.Equal(errorCodes(t, body), []int{43}) {
			t.Errorf("%d %s", status, body)
		}
	})
	t.Run("a session ends with DELETE", func(t *testing.T) {
		c.login()
		if status, _ := c.call("DELETE", "/sessions/"+c.token, nil); status != 200 || c.dev.Sessions() != 0 {
			t.Errorf("logout: %d, %d sessions left", status, c.dev.Sessions())
		}
	})
}

func TestACSRIsMadeOnTheApplianceAndItsCertificateInstalledWithARestart(t *testing.T) {
	// The pause lasts until the test ends it (endRestartPause), so the
	// outage is seen however slowly a loaded machine runs the test.
	c := start(t, Config{RestartMin: time.Hour, RestartMax: time.Hour})
	c.login()
	status, body := c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"csr": map[string]any{
		"csr": "new", "common_name": "lh.example.test", "key_length": 2048, "country": "AU",
		"email": "pki@example.test", "subject_alternative_names": []string{"lh.example.test", "10.0.0.1"},
	}}})
	if status != 200 {
		t.Fatalf("new CSR: %d %s", status, body)
	}
	var details struct {
		HTTPS httpsDetails `json:"https"`
	}
	if err := json.Unmarshal(body, &details); err != nil || details.HTTPS.CSR == nil || details.HTTPS.CSR.CSR != csrDownloadPath {
		t.Fatalf("the answer does not show the pending CSR: %s", body)
	}

	csr := c.downloadCSR("/services/https?zip=true")
	if err := csr.CheckSignature(); err != nil {
		t.Fatalf("CSR: %v", err)
	}
	if k, ok := csr.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 || csr.Subject.CommonName != "lh.example.test" ||
		len(csr.DNSNames) != 1 || len(csr.IPAddresses) != 1 || csr.Subject.Country[0] != "AU" {
		t.Errorf("the CSR does not carry the form: %+v", csr.Subject)
	}

	chain := signCSR(t, csr)
	status, body = c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"cert": chain}})
	if status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	if c.dev.HasPendingCSR() {
		t.Error("the CSR is still pending after its certificate was installed")
	}
	// The web server restarts: connections are refused until it is back,
	// then the new certificate is served.
	awaitRestartPause(t, c.dev)
	if conn, err := net.Dial("tcp", c.dev.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		if err == nil {
			_ = conn.Close()
		}
		t.Fatalf("during the restart's pause a connection got %v, want it refused", err)
	}
	endRestartPause(c.dev)
	var served *x509.Certificate
	for deadline := time.Now().Add(10 * time.Second); served == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the web server did not come back after its pause")
		}
		conn, err := tls.Dial("tcp", c.dev.Addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test
		if err != nil {
			continue
		}
		served = conn.ConnectionState().PeerCertificates[0]
		_ = conn.Close()
	}
	if !strings.Contains(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: served.Raw}))) {
		t.Error("the web server came back with another certificate")
	}
	if c.dev.Restarts() != 1 {
		t.Errorf("restarts = %d", c.dev.Restarts())
	}
	if c.dev.PrivateKeyExported() {
		t.Error("an answer carried a private key")
	}
}

// awaitRestartPause waits until a restarting web server has closed its
// listener and waits out its pause; the test fails if it never does.
func awaitRestartPause(t *testing.T, d *Device) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		d.mu.Lock()
		paused := d.down && d.comeBack != nil
		d.mu.Unlock()
		if paused {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the web server did not go away to restart")
		}
	}
}

// endRestartPause brings a restarting web server back now, by the timer a
// pause that ran its course would fire.
func endRestartPause(d *Device) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.comeBack.Reset(0)
}

// signCSR returns a PEM chain for csr, signed by a throwaway CA.
func signCSR(t *testing.T, csr *x509.CertificateRequest) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: csr.Subject, DNSNames: csr.DNSNames, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)},
		ca, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
}

func TestTheCertificateServiceRefusesWhatTheApplianceRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		body   any
		status int
		codes  []int
	}{
		{"an unknown member", Config{}, map[string]any{"https": map[string]any{"keylength": 2048}}, 400, []int{48}},
		{"SANs on a release without the SAN field", Config{NoSANField: true},
			map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "a.test", "subject_alternative_names": []string{"a.test"}}}}, 400, []int{48}},
		{"a CSR without a common name", Config{}, map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new"}}}, 400, []int{40, 33}},
		{"a key length the form does not offer", Config{}, map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "a.test", "key_length": 512}}}, 400, []int{50, 33}},
		{"a malformed e-mail", Config{}, map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "a.test", "email": "bob"}}}, 400, []int{14, 33}},
		{"a certificate for a key the appliance does not have", Config{}, map[string]any{"https": map[string]any{"cert": otherChain(t)}}, 400, []int{62, 33}},
		{"a certificate that is not PEM", Config{}, map[string]any{"https": map[string]any{"cert": "MIIB"}}, 400, []int{14, 33}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, tc.cfg)
			c.login()
			status, body := c.call("PUT", "/services/https", tc.body)
			if status != tc.status || !slices.Equal(errorCodes(t, body), tc.codes) {
				t.Errorf("%d %s, want %d with codes %v", status, body, tc.status, tc.codes)
			}
			if c.dev.Restarts() != 0 {
				t.Error("the web server restarted")
			}
		})
	}
}

// otherChain is a certificate for a key no appliance has.
func otherChain(t *testing.T) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x.test"}}, key)
	csr, _ := x509.ParseCertificateRequest(der)
	return signCSR(t, csr)
}

func TestAPutWithoutCSRCancelsThePendingRequest(t *testing.T) {
	c := start(t, Config{})
	c.login()
	c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "a.test"}}})
	if !c.dev.HasPendingCSR() {
		t.Fatal("no pending CSR")
	}
	if status, body := c.call("PUT", "/services/https", map[string]any{"https": map[string]any{}}); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if c.dev.HasPendingCSR() {
		t.Error("the CSR is still pending")
	}
	if status, body := c.call("GET", "/services/https?zip=true", nil); status != 404 || !slices.Equal(errorCodes(t, body), []int{29}) {
		t.Errorf("download without a CSR: %d %s", status, body)
	}
}

func TestFailInstallsKeepsTheCertificateAndThePendingKey(t *testing.T) {
	c := start(t, Config{})
	c.login()
	c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "lh.example.test"}}})
	csr := c.downloadCSR("/services/https?zip=1")
	before := c.dev.Served()[0]

	c.dev.FailInstalls(true)
	status, body := c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"cert": signCSR(t, csr)}})
	if status != 500 || !strings.Contains(string(body), c.dev.FailureMessage()) || !slices.Equal(errorCodes(t, body), []int{62, 33}) {
		t.Errorf("%d %s", status, body)
	}
	if !c.dev.Served()[0].Equal(before) || !c.dev.HasPendingCSR() || c.dev.Restarts() != 0 {
		t.Error("a failed upload changed the appliance")
	}
}

func TestCloseStopsAnApplianceInTheMiddleOfARestart(t *testing.T) {
	c := start(t, Config{RestartMin: time.Hour, RestartMax: time.Hour})
	c.login()
	c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "lh.example.test"}}})
	csr := c.downloadCSR("/services/https?zip=true")
	c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"cert": signCSR(t, csr)}})
	for c.dev.Restarts() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if conn, err := net.Dial("tcp", c.dev.Addr()); err == nil {
		_ = conn.Close()
		t.Error("the closed appliance accepts connections")
	}
}

func TestStartRefusesAnApplianceReachableFromTheNetwork(t *testing.T) {
	_, err := Start(context.Background(), Config{Name: "a", Username: "u", Password: "p", Addr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("Start error = %v", err)
	}
}

func TestTheCSRDownloadTakesTheFormConfigured(t *testing.T) {
	for _, tc := range []struct {
		name        string
		form        CSRDownload
		contentType string
		check       func(t *testing.T, body []byte)
	}{
		{"a zip archive holding the PEM request, by default", "", "application/zip", func(t *testing.T, body []byte) {
			if _, err := zip.NewReader(bytes.NewReader(body), int64(len(body))); err != nil {
				t.Errorf("not a zip archive: %v", err)
			}
		}},
		{"the PEM request", CSRPEM, "application/octet-stream", func(t *testing.T, body []byte) {
			if block, _ := pem.Decode(body); block == nil || block.Type != "CERTIFICATE REQUEST" {
				t.Errorf("not a PEM request: %q", body)
			}
		}},
		{"the JSON details of a release that ignores the flag", CSRDetails, "application/json", func(t *testing.T, body []byte) {
			var d struct {
				HTTPS httpsDetails `json:"https"`
			}
			if err := json.Unmarshal(body, &d); err != nil || d.HTTPS.CSR == nil {
				t.Errorf("not the details with the pending CSR: %s", body)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, Config{CSRDownload: tc.form})
			c.login()
			c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "a.test"}}})
			req, _ := http.NewRequest("GET", "https://"+c.dev.Addr()+APIBase+"/services/https?zip=true", nil)
			req.Header.Set("Authorization", "Token "+c.token)
			resp, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("%d %s, want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.contentType)
			}
			tc.check(t, body)
		})
	}
}

func TestTheVersionIsReportedAsTheReferenceShows(t *testing.T) {
	c := start(t, Config{Firmware: "22.Q1.0"})
	c.login()
	status, body := c.call("GET", "/system/version", nil)
	var v struct {
		SystemVersion struct {
			RESTAPIVersion  string `json:"rest_api_version"`
			FirmwareVersion string `json:"firmware_version"`
		} `json:"system_version"`
	}
	if status != 200 || json.Unmarshal(body, &v) != nil || v.SystemVersion.FirmwareVersion != "22.Q1.0" || v.SystemVersion.RESTAPIVersion != "v3.7" {
		t.Errorf("%d %s", status, body)
	}
}

func TestAnAccountWithoutTheHTTPSRightIsDenied(t *testing.T) {
	c := start(t, Config{DenyHTTPS: true})
	c.login()
	for _, method := range []string{"GET", "PUT"} {
		status, body := c.call(method, "/services/https", map[string]any{"https": map[string]any{}})
		if status != 403 || !slices.Equal(errorCodes(t, body), []int{47}) {
			t.Errorf("%s: %d %s, want 403 with code 47", method, status, body)
		}
	}
	if status, _ := c.call("GET", "/system/version", nil); status != 200 {
		t.Errorf("the version needs no HTTPS right, got %d", status)
	}
}

func TestKeepLeafOnlyDropsTheChainOfAnUpload(t *testing.T) {
	c := start(t, Config{KeepLeafOnly: true})
	c.login()
	c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "lh.example.test"}}})
	csr := c.downloadCSR("/services/https?zip=true")
	if status, body := c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"cert": signCSR(t, csr)}}); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	if n := len(c.dev.Served()); n != 1 {
		t.Errorf("the appliance keeps %d certificates, want the leaf alone", n)
	}
}

func TestCallsNameEachRequestAndTheMembersOfAnUpdate(t *testing.T) {
	c := start(t, Config{})
	c.login()
	c.call("GET", "/system/version", nil)
	c.call("PUT", "/services/https", map[string]any{"https": map[string]any{"csr": map[string]any{"csr": "new", "common_name": "a.test"}}})
	c.call("GET", "/services/https?zip=true", nil)
	want := []string{
		"POST " + APIBase + "/sessions",
		"GET " + APIBase + "/system/version",
		"PUT " + APIBase + "/services/https https.csr",
		"GET " + APIBase + "/services/https?zip=true",
	}
	if got := c.dev.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls() = %q, want %q", got, want)
	}
}
