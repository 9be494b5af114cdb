package api

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv/output"
)

// secretRoute is a script route whose env holds references to two
// secrets, one in the environment and one in a file.
func secretRoute(scripts, deviceDir, pinFile string) route.Route {
	return route.Route{
		Name:   "appliance",
		Match:  route.Match{Platform: "appliance"},
		Driver: "script",
		Options: map[string]any{
			"generate_csr":        filepath.Join(scripts, "generate_csr.sh"),
			"install_certificate": filepath.Join(scripts, "install_certificate.sh"),
			"current_certificate": filepath.Join(scripts, "current_certificate.sh"),
			"plain_env":           map[string]any{"DEVICE_DIR": deviceDir},
			"env":                 map[string]any{"API_TOKEN": "env:OTTR_TEST_APPLIANCE_TOKEN", "PIN": "file:" + pinFile},
		},
	}
}

func TestRouteOptionsShowSecretReferencesToAdminsOnly(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(fmt.Appendf(nil, testConfig, dir), filepath.Join(dir, "ottr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Routes = append(cfg.Routes, secretRoute("/opt/ottr", "/var/lib/device", "/etc/ottr/pin"))
	t.Setenv("OTTR_TEST_APPLIANCE_TOKEN", "tok-never-shown")
	e := newEnvWithConfig(t, cfg, nil)
	for _, tc := range []struct {
		role string
		env  map[string]any
	}{
		{store.RoleDeveloper, map[string]any{"API_TOKEN": driver.Redacted, "PIN": driver.Redacted}},
		{store.RolePrivileged, map[string]any{"API_TOKEN": driver.Redacted, "PIN": driver.Redacted}},
		{store.RoleAdmin, map[string]any{"API_TOKEN": "env:OTTR_TEST_APPLIANCE_TOKEN", "PIN": "file:/etc/ottr/pin"}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			name := strings.ToLower(tc.role)
			e.addUser(name, tc.role)
			r := e.call(http.MethodGet, "/api/v1/routes", e.token(name, time.Time{}), nil)
			var routes []routeView
			r.json(t, &routes)
			if r.status != http.StatusOK || len(routes) != 3 {
				t.Fatalf("routes: %d %s", r.status, r.body)
			}
			got := routes[2].Options
			if fmt.Sprint(got["env"]) != fmt.Sprint(tc.env) {
				t.Errorf("env shown as %v, want %v", got["env"], tc.env)
			}
			if fmt.Sprint(got["plain_env"]) != "map[DEVICE_DIR:/var/lib/device]" || got["generate_csr"] != "/opt/ottr/generate_csr.sh" {
				t.Errorf("options that are not secret are not shown as written: %v", got)
			}
			if bytes.Contains(r.body, []byte("tok-never-shown")) {
				t.Error("the answer holds the resolved secret")
			}
		})
	}
}

// applianceScripts are a device made of a directory, as the script driver
// drives it: each script first writes the env secrets it was given to
// seen-<step> and says them on standard error, as a careless script would.
var applianceScripts = map[string]string{
	"current_certificate.sh": `cat >/dev/null
if [ -e "$DEVICE_DIR/fail" ]; then echo "device: refused" >&2; exit 1; fi
if [ -e "$DEVICE_DIR/cert.pem" ]; then cat "$DEVICE_DIR/cert.pem"; fi
`,
	"generate_csr.sh": `cat >/dev/null
sans=$(printf '%s' "$OTTR_SANS" | sed 's/[^,][^,]*/DNS:&/g')
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DEVICE_DIR/staged.key" \
	-subj "/CN=$OTTR_COMMON_NAME" -addext "subjectAltName=$sans" 2>/dev/null
`,
	"install_certificate.sh": `cat >"$DEVICE_DIR/incoming.pem"
mv "$DEVICE_DIR/staged.key" "$DEVICE_DIR/key.pem"
mv "$DEVICE_DIR/incoming.pem" "$DEVICE_DIR/cert.pem"
`,
}

const applianceScriptHead = `#!/bin/sh
set -eu
printf '%s %s\n' "$API_TOKEN" "$PIN" >"$DEVICE_DIR/seen-$OTTR_STEP"
echo "device: token $API_TOKEN pin $PIN" >&2
`

// startAppliance writes the scripts and serves, on a loopback port, the
// chain and key the install script puts in the device directory.
func startAppliance(t *testing.T) (scripts, deviceDir string, port int) {
	t.Helper()
	scripts, deviceDir = t.TempDir(), t.TempDir()
	for name, body := range applianceScripts {
		if err := os.WriteFile(filepath.Join(scripts, name), []byte(applianceScriptHead+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var last atomic.Pointer[tls.Certificate]
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(deviceDir, "cert.pem"), filepath.Join(deviceDir, "key.pem"))
		if err != nil {
			if c := last.Load(); c != nil {
				return c, nil
			}
			return nil, err
		}
		last.Store(&cert)
		return &cert, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				_ = conn.(*tls.Conn).Handshake()
				_ = conn.Close()
			}()
		}
	}()
	return scripts, deviceDir, ln.Addr().(*net.TCPAddr).Port
}

// A script route's env secrets, given as env: and file: references, reach
// the scripts resolved, and appear in no log line and no API answer, not
// even when the scripts print them.
func TestSecretRouteOptionsReachTheScriptsAndNothingElse(t *testing.T) {
	for _, tool := range []string{"sh", "openssl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the appliance's scripts need %s on PATH: %v", tool, err)
		}
	}
	l := labFor(t)
	const token, pin = "tok-Appliance-58c2e1", "pin-Appliance-7390"
	t.Setenv("OTTR_TEST_APPLIANCE_TOKEN", token)
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scripts, deviceDir, port := startAppliance(t)

	name := "appliance." + lab.DeviceZone
	delegateName(t, l, name)
	cfg, err := config.Load(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	cfg.Routes = append(cfg.Routes, secretRoute(scripts, deviceDir, pinFile))
	logs := &output.Buffer{}
	c := serveLab(t, cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	c.putAsset(assetRequest(asset.Asset{
		SystemName: name, CommonName: name, SubjectAlternativeName: []string{name},
		CertificateAuthority: lab.CAName, DataCenter: "dc1", DeviceModel: "appliance", HostPlatform: "appliance",
		IPAddress: "127.0.0.1", OSVersion: "1", Port: port,
	}))
	rotate := func() rotationView { return c.rotate(name) }

	// A failing script's last lines are in the rotation's error, with the
	// secrets it printed redacted.
	if err := os.WriteFile(filepath.Join(deviceDir, "fail"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	failed := rotate()
	if failed.State != store.StateFailed || !strings.Contains(failed.Error, "device: token [redacted] pin [redacted]") {
		t.Errorf("rotation with a failing script: %s, error %q; want failed, with the script's line redacted", failed.State, failed.Error)
	}
	if err := os.Remove(filepath.Join(deviceDir, "fail")); err != nil {
		t.Fatal(err)
	}
	done := rotate()
	if done.State != store.StateSucceeded {
		t.Fatalf("rotation: %s: %s", done.State, done.Error)
	}
	for _, step := range []string{"current_certificate", "generate_csr", "install_certificate"} {
		seen, err := os.ReadFile(filepath.Join(deviceDir, "seen-"+step))
		if err != nil || strings.TrimSpace(string(seen)) != token+" "+pin {
			t.Errorf("%s saw the env secrets as %q (%v), want them resolved", step, seen, err)
		}
	}

	for _, role := range []string{store.RoleDeveloper, store.RolePrivileged, store.RoleAdmin} {
		c.call(role, http.MethodGet, "/api/v1/routes", nil)
		c.call(role, http.MethodGet, "/api/v1/rotations?asset="+name, nil)
		c.call(role, http.MethodGet, "/api/v1/assets/"+name, nil)
		c.call(role, http.MethodPost, "/api/v1/plan", nil)
	}
	c.call(store.RoleAdmin, http.MethodGet, "/admin/v1/audit", nil)
	answers := c.answers.String()
	if !strings.Contains(answers, "env:OTTR_TEST_APPLIANCE_TOKEN") {
		t.Error("the ADMIN's routes do not show the reference")
	}
	for what, text := range map[string]string{"an API answer": answers, "a log line": logs.String()} {
		for _, secret := range []string{token, pin} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the secret %q", what, secret)
			}
		}
	}
	if !strings.Contains(logs.String(), "rotation") {
		t.Errorf("nothing was logged, so the check above proves nothing:\n%s", logs.String())
	}
}
