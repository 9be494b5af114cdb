package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// One lab per test binary, started by the first test that needs it:
// Pebble cannot be started twice in a process, and the tests that do not
// rotate (and the fuzzers' worker processes) should not pay for it.
var testLab struct {
	once sync.Once
	lab  *lab.Lab
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testLab.lab != nil {
		testLab.lab.Close()
	}
	os.Exit(code)
}

func labFor(t *testing.T) *lab.Lab {
	t.Helper()
	testLab.once.Do(func() {
		if _, err := exec.LookPath("openssl"); err != nil {
			testLab.err = err
			return
		}
		testLab.lab, testLab.err = lab.Start(context.Background(), lab.Options{Devices: 2})
	})
	if testLab.err != nil {
		t.Fatalf("the lab needs openssl on PATH (Debian package openssl) and free loopback ports: %v", testLab.err)
	}
	return testLab.lab
}

// pythonRequests sends what Python's requests library sends for
// requests.<method>(url, headers=headers, json=body).
func pythonRequests(t *testing.T, method, url string, headers map[string]string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "python-requests/2.25.1")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	req.Header.Set("Connection", "keep-alive")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// Ottr's documented client: authenticate, add the asset with PUT and the
// token exactly as returned, rotate. The rotation then runs on the real
// queue against the lab's CA and device.
func TestOttrsPythonClientAddsAnAssetAndRotatesItsCertificate(t *testing.T) {
	l := labFor(t)
	ctx := context.Background()
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	ap, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ap.Close()
	q, _, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(ctx, Config{App: ap, Enqueuer: q, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	if err := createUser(ctx, ap.Store, "ottr-sync", "Sync-pass1!", store.RolePrivileged, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	device := l.Hosts[0]
	before, err := verify.Fetch(ctx, device.TLSAddr(), device.Name(), 0)
	if err != nil {
		t.Fatal(err)
	}

	// response = requests.post(url + '/user/v1/authenticate', json={...})
	status, body := pythonRequests(t, http.MethodPost, hs.URL+"/user/v1/authenticate", nil,
		map[string]string{"username": "ottr-sync", "password": "Sync-pass1!"})
	if status != http.StatusOK {
		t.Fatalf("authenticate: %d %s", status, body)
	}
	var login struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &login); err != nil {
		t.Fatal(err)
	}
	headers := map[string]string{"Authorization": login.Token}

	// requests.put(url + '/api/v1/assets', headers=headers, json=asset):
	// Ottr's asset fields, and the lab device's TLS port.
	a := l.Assets[0]
	status, body = pythonRequests(t, http.MethodPut, hs.URL+"/api/v1/assets", headers, map[string]any{
		"system_name":              a.SystemName,
		"common_name":              a.CommonName,
		"subject_alternative_name": a.SubjectAlternativeName,
		"certificate_authority":    a.CertificateAuthority,
		"data_center":              a.DataCenter,
		"device_model":             a.DeviceModel,
		"host_platform":            a.HostPlatform,
		"ip_address":               a.IPAddress,
		"os_version":               a.OSVersion,
		"port":                     a.Port,
	})
	if status != http.StatusCreated {
		t.Fatalf("PUT asset: %d %s", status, body)
	}

	// requests.post(url + '/api/v1/certificate/rotate/' + system_name, headers=headers)
	status, body = pythonRequests(t, http.MethodPost, hs.URL+"/api/v1/certificate/rotate/"+a.SystemName, headers, nil)
	if status != http.StatusAccepted {
		t.Fatalf("rotate: %d %s", status, body)
	}
	var rot rotateBody
	if err := json.Unmarshal(body, &rot); err != nil {
		t.Fatal(err)
	}

	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = q.Stop(stopCtx)
	}()
	var view rotationView
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		status, body = pythonRequests(t, http.MethodGet, hs.URL+rot.StatusURL, headers, nil)
		if status != http.StatusOK {
			t.Fatalf("status: %d %s", status, body)
		}
		if err := json.Unmarshal(body, &view); err != nil {
			t.Fatal(err)
		}
		if store.Final(view.State) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation %d still %s after 2 minutes", rot.RotationID, view.State)
		}
	}
	if view.State != store.StateSucceeded {
		t.Fatalf("rotation %s: %s", view.State, view.Error)
	}
	if len(view.Steps) != 6 || len(view.Log) == 0 {
		t.Errorf("the rotation shows %d step timings and %d log lines, want all 6 steps and its log", len(view.Steps), len(view.Log))
	}

	after, err := verify.Fetch(ctx, device.TLSAddr(), device.Name(), 0)
	if err != nil {
		t.Fatal(err)
	}
	status, body = pythonRequests(t, http.MethodGet, hs.URL+"/api/v1/assets/"+a.SystemName, headers, nil)
	var recorded map[string]any
	_ = json.Unmarshal(body, &recorded)
	served := verify.SerialHex(after[0])
	if served == verify.SerialHex(before[0]) || recorded["certificate_serial"] != served {
		t.Errorf("the device serves serial %s (before %s); the asset records %v", served, verify.SerialHex(before[0]), recorded["certificate_serial"])
	}
	if recorded["certificate_expiration"] != after[0].NotAfter.UTC().Truncate(time.Second).Format(time.RFC3339) {
		t.Errorf("certificate_expiration %v, served notAfter %v", recorded["certificate_expiration"], after[0].NotAfter)
	}
}
