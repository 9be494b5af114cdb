package cli_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/lab/dnsserver"
)

// dnsWorkspace is a config whose managed zone example.com delegates to
// example-acme.com, both served (and updatable with one TSIG key) by a
// DNS server on loopback.
func dnsWorkspace(t *testing.T, withApply bool) string {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	tsig := base64.StdEncoding.EncodeToString(secret)
	srv, err := dnsserver.Start(context.Background(), dnsserver.Config{
		Zones:          []string{"example.com.", "example-acme.com."},
		UpdatableZones: []string{"example.com.", "example-acme.com."},
		TSIG:           map[string]string{"ottr.": tsig},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tsig.key"), []byte(tsig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `data_dir: data
routes:
  - match: {platform: linux}
    driver: linux
    options: {cert_path: /etc/ssl/c.pem, key_path: /etc/ssl/k.pem, reload_command: "true"}
certificate_authorities:
  lets_encrypt:
    directory: https://127.0.0.1:1/directory
dns:
  zones:
    example.com: example-acme.com
  resolvers: ["` + srv.Addr() + `"]
  check_resolvers_only: true
  propagation_timeout: 30s
  polling_interval: 50ms
  rfc2136:
    nameserver: "` + srv.Addr() + `"
    tsig_key: ottr.
    tsig_secret: file:tsig.key
`
	if withApply {
		cfg += `  apply:
    rfc2136:
      nameserver: "` + srv.Addr() + `"
      tsig_key: ottr.
      tsig_secret: file:tsig.key
`
	}
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "-c", path, "asset", "add", "--system-name", "web.example.com", "--common-name", "web.example.com",
		"--san", "api.example.com", "--ip", "192.0.2.1", "--platform", "linux", "--ca", "lets_encrypt")
	return path
}

func TestDNSDoctorFindsMissingDelegationsAndApplyCreatesThem(t *testing.T) {
	cfg := dnsWorkspace(t, true)

	out, _, code := run(t, "", "-c", cfg, "dns", "doctor")
	if code != 1 {
		t.Fatalf("doctor before apply: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"_acme-challenge.web.example.com. 300 IN CNAME _acme-challenge.web.example-acme.com.",
		"_acme-challenge.api.example.com. 300 IN CNAME _acme-challenge.api.example-acme.com.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor does not give the fix %q:\n%s", want, out)
		}
	}

	// The same findings for a script: the fix of each missing name.
	jsonOut, _, code := run(t, "", "-c", cfg, "dns", "doctor", "--no-write", "-o", "json")
	var report struct {
		Findings []struct{ Name, Status, Fix string }
	}
	if err := json.Unmarshal([]byte(jsonOut), &report); code != 1 || err != nil {
		t.Fatalf("doctor -o json: exit %d, %v\n%s", code, err, jsonOut)
	}
	missing := map[string]string{}
	for _, f := range report.Findings {
		if f.Status == "missing" {
			missing[f.Name] = f.Fix
		}
	}
	if want := "_acme-challenge.api.example.com. 300 IN CNAME _acme-challenge.api.example-acme.com."; missing["api.example.com"] != want {
		t.Errorf("doctor -o json: the fix for api.example.com is %q, want %q\n%s", missing["api.example.com"], want, jsonOut)
	}

	dry := mustRun(t, "-c", cfg, "dns", "apply", "--dry-run")
	if !strings.Contains(dry, "_acme-challenge.web.example.com") {
		t.Errorf("dry run lists nothing:\n%s", dry)
	}
	if out, _, code := run(t, "", "-c", cfg, "dns", "doctor", "--no-write"); code != 1 {
		t.Errorf("the dry run changed the zone: doctor exit %d\n%s", code, out)
	}

	applied := mustRun(t, "-c", cfg, "dns", "apply")
	if !strings.Contains(applied, "2 created") || strings.Contains(applied, "other problems") {
		t.Errorf("apply output:\n%s", applied)
	}
	if out, errOut, code := run(t, "", "-c", cfg, "dns", "doctor"); code != 0 {
		t.Errorf("doctor after apply: exit %d\n%s%s", code, out, errOut)
	}
	again := mustRun(t, "-c", cfg, "dns", "apply")
	if strings.Contains(again, "created") {
		t.Errorf("a second apply created records again:\n%s", again)
	}
}

func TestDNSApplyWithoutWriteAccessOnlyPrints(t *testing.T) {
	cfg := dnsWorkspace(t, false)
	out := mustRun(t, "-c", cfg, "dns", "apply")
	if !strings.Contains(out, "dns.apply is not configured") || !strings.Contains(out, "_acme-challenge.web.example.com") {
		t.Errorf("apply without dns.apply:\n%s", out)
	}
	if out, _, code := run(t, "", "-c", cfg, "dns", "doctor", "--no-write"); code != 1 {
		t.Errorf("apply without write access changed the zone: doctor exit %d\n%s", code, out)
	}
}
