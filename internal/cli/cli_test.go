package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/cli"
	"github.com/ottr-go/ottr/internal/lab"
)

// run runs the ottr command line in-process and returns its output.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// workspace writes an ottr.yaml in a temporary directory. Its CA is never
// contacted by the commands tested here.
func workspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `data_dir: data
certificate_authorities:
  lets_encrypt:
    directory: https://127.0.0.1:1/directory
dns:
  zones:
    example.com: example-acme.com
credentials:
  default:
    username: ottr
    private_key: file:id_ed25519
routes:
  - name: panos-9
    match: {platform: panos, os_version: "9.*"}
    driver: linux
    options: {cert_path: /etc/ssl/c.pem, key_path: /etc/ssl/k.pem, reload_command: "true"}
  - name: linux
    match: {platform: linux}
    driver: linux
    options: {cert_path: /etc/ssl/c.pem, key_path: /etc/ssl/k.pem, reload_command: "systemctl reload nginx"}
`
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("ottr %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func TestAssetLifecycle(t *testing.T) {
	cfg := workspace(t)
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "FW1.Example.com.", "--common-name", "fw1.example.com",
		"--san", "vpn.example.com", "--ip", "192.0.2.10", "--platform", "linux", "--ca", "lets_encrypt", "--data-center", "DC1")

	var a asset.Asset
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "asset", "get", "fw1.example.com", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	if a.SystemName != "fw1.example.com" || a.DataCenter != "dc1" || a.Origin != "API" {
		t.Errorf("asset not normalised: %+v", a)
	}
	if got := strings.Join(a.SubjectAlternativeName, ","); got != "fw1.example.com,vpn.example.com" {
		t.Errorf("SANs %s: the CN must be included", got)
	}

	_, errOut, code := run(t, "", "-c", cfg, "asset", "add", "--system-name", "fw1.example.com", "--common-name", "fw1.example.com",
		"--ip", "192.0.2.10", "--platform", "linux", "--ca", "lets_encrypt")
	if code == 0 || !strings.Contains(errOut, "exists already") {
		t.Errorf("adding a duplicate: exit %d, %q", code, errOut)
	}

	mustRun(t, "-c", cfg, "asset", "update", "fw1.example.com", "--ip", "2001:db8::10", "--paused")
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "asset", "get", "fw1.example.com", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	if a.IPAddress != "2001:db8::10" || !a.Paused || a.CommonName != "fw1.example.com" {
		t.Errorf("update changed the wrong fields: %+v", a)
	}

	list := mustRun(t, "-c", cfg, "asset", "list")
	if !strings.Contains(list, "fw1.example.com") || !strings.Contains(list, "None") {
		t.Errorf("list does not show the asset with its unknown expiry:\n%s", list)
	}

	// The scheduler finds assets by their renewal time: editing the expiry
	// must move it.
	mustRun(t, "-c", cfg, "asset", "update", "fw1.example.com", "--expiration", "2099-01-01T00:00:00Z")
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "asset", "get", "fw1.example.com", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	if a.RenewalTime == nil || a.RenewalTime.Year() != 2098 {
		t.Errorf("renewal time %v after setting a 2099 expiry", a.RenewalTime)
	}
	mustRun(t, "-c", cfg, "asset", "update", "fw1.example.com", "--expiration", "None")
	a = asset.Asset{}
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "asset", "get", "fw1.example.com", "-o", "json")), &a); err != nil {
		t.Fatal(err)
	}
	if a.RenewalTime != nil {
		t.Errorf("renewal time %v kept after the expiry became unknown", a.RenewalTime)
	}

	mustRun(t, "-c", cfg, "asset", "delete", "fw1.example.com")
	_, errOut, code = run(t, "", "-c", cfg, "asset", "get", "fw1.example.com")
	if code == 0 || !strings.Contains(errOut, "no asset named fw1.example.com") {
		t.Errorf("get after delete: exit %d, %q", code, errOut)
	}
}

func TestMalformedAssetsGetClearErrors(t *testing.T) {
	cfg := workspace(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"an unknown platform is refused", []string{"--system-name", "a.example.com", "--common-name", "a.example.com", "--ip", "192.0.2.1", "--platform", "windows", "--ca", "lets_encrypt"},
			[]string{"host_platform"}},
		{"an unknown CA is refused", []string{"--system-name", "a.example.com", "--common-name", "a.example.com", "--ip", "192.0.2.1", "--platform", "linux", "--ca", "digicert"},
			[]string{"certificate_authority"}},
		{"a bad IP address is refused", []string{"--system-name", "a.example.com", "--common-name", "a.example.com", "--ip", "300.1.1.1", "--platform", "linux", "--ca", "lets_encrypt"},
			[]string{"ip_address"}},
		{"a name outside the managed zones is refused", []string{"--system-name", "a.example.org", "--common-name", "a.example.org", "--ip", "192.0.2.1", "--platform", "linux", "--ca", "lets_encrypt"},
			[]string{"common_name", "example.com"}},
		{"every problem is named at once", []string{"--system-name", "-bad-", "--common-name", strings.Repeat("abcdefghi.", 7) + "example.com", "--ip", "x"},
			[]string{"system_name", "common_name", "64", "ip_address", "host_platform", "certificate_authority"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, "", append([]string{"-c", cfg, "asset", "add"}, tc.args...)...)
			if code == 0 {
				t.Fatal("the asset was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error %q does not mention %q", errOut, w)
				}
			}
		})
	}
	if list := mustRun(t, "-c", cfg, "asset", "list", "-o", "json"); strings.TrimSpace(list) != "[]" {
		t.Errorf("refused assets were written: %s", list)
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	cfg := workspace(t)
	dir := filepath.Dir(cfg)
	// Ottr's DynamoDB scan output, as it is.
	ottr := `{"Items": [
	  {"system_name": {"S": "a.example.com"}, "common_name": {"S": "a.example.com"}, "subject_alternative_name": {"L": [{"S": "a.example.com"}]},
	   "certificate_authority": {"S": "lets_encrypt"}, "certificate_expiration": {"S": "None"}, "certificate_validation": {"S": "False"},
	   "data_center": {"S": "dc1"}, "device_model": {"S": "PA-3220"}, "host_platform": {"S": "panos"}, "ip_address": {"S": "192.0.2.1"},
	   "origin": {"S": "API"}, "os_version": {"S": "9.1.0"}},
	  {"system_name": {"S": "b.example.com"}, "common_name": {"S": "b.example.com"}, "subject_alternative_name": {"L": []},
	   "certificate_authority": {"S": "lets_encrypt"}, "certificate_expiration": {"S": "2026-12-01T00:00:00"}, "certificate_validation": {"S": "True"},
	   "data_center": {"S": "dc2"}, "device_model": {"S": "x"}, "host_platform": {"S": "linux"}, "ip_address": {"S": "192.0.2.2"},
	   "origin": {"S": "API"}, "os_version": {"S": "22.04"}}]}`
	good := filepath.Join(dir, "ottr-items.json")
	if err := os.WriteFile(good, []byte(ottr), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(ottr, `"192.0.2.2"`, `"not-an-ip"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	_, errOut, code := run(t, "", "-c", cfg, "asset", "import", bad)
	if code == 0 || !strings.Contains(errOut, "nothing imported") || !strings.Contains(errOut, "record 2") || !strings.Contains(errOut, "ip_address") {
		t.Fatalf("importing a bad file: exit %d, %q", code, errOut)
	}
	if list := mustRun(t, "-c", cfg, "asset", "list", "-o", "json"); strings.TrimSpace(list) != "[]" {
		t.Fatalf("a failed import wrote assets: %s", list)
	}

	if out := mustRun(t, "-c", cfg, "asset", "import", good); !strings.Contains(out, "imported 2 assets") {
		t.Errorf("import said %q", out)
	}
	csvOut := mustRun(t, "-c", cfg, "asset", "export", "--format", "csv")
	if !strings.HasPrefix(csvOut, "system_name,") || !strings.Contains(csvOut, "b.example.com") || !strings.Contains(csvOut, "2026-12-01T00:00:00Z") {
		t.Errorf("CSV export:\n%s", csvOut)
	}
	// The CSV goes back in as it came out.
	cfg2 := workspace(t)
	csvFile := filepath.Join(filepath.Dir(cfg2), "assets.csv")
	if err := os.WriteFile(csvFile, []byte(csvOut), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "-c", cfg2, "asset", "import", csvFile)
	if a, b := mustRun(t, "-c", cfg, "asset", "export"), mustRun(t, "-c", cfg2, "asset", "export"); a != b {
		t.Errorf("CSV round trip changed the assets:\n%s\n---\n%s", a, b)
	}
}

func TestRouteTestExplainsTheChoice(t *testing.T) {
	cfg := workspace(t)
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "pa.example.com", "--common-name", "pa.example.com",
		"--ip", "192.0.2.1", "--platform", "panos", "--os-version", "8.1.0", "--ca", "lets_encrypt")
	out, _, code := run(t, "", "-c", cfg, "route", "test", "pa.example.com")
	if code == 0 {
		t.Errorf("a PAN-OS 8 device has no route, but route test succeeded:\n%s", out)
	}
	if !strings.Contains(out, "8.1.0") || !strings.Contains(out, "9.*") {
		t.Errorf("the explanation does not say the version is outside the route's:\n%s", out)
	}
	mustRun(t, "-c", cfg, "asset", "update", "pa.example.com", "--os-version", "9.1.3")
	out = mustRun(t, "-c", cfg, "route", "test", "pa.example.com")
	if !regexp.MustCompile(`-> route \d+ panos-9`).MatchString(out) {
		t.Errorf("route test does not show the chosen route:\n%s", out)
	}
}

func TestRouteImportReadsOttrRouteJSON(t *testing.T) {
	cfg := workspace(t)
	dir := filepath.Dir(cfg)
	routeJSON := `{"platform": {"panos": {"os": {"9.1.0": {"certificate_authority": {"lets_encrypt": "otter-panos-9x-lets-encrypt"}, "model": ["PA-3220"]}}}},
	  "certificate_authorities": ["lets_encrypt"], "hosted_zones": {"example.com": "Z123"}}`
	path := filepath.Join(dir, "route.json")
	if err := os.WriteFile(path, []byte(routeJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "-c", cfg, "route", "import", path)
	for _, want := range []string{"otter-panos-9x-lets-encrypt", "driver: panos", "PA-3220", "example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	pending := filepath.Join(dir, "pending.json")
	if err := os.WriteFile(pending, []byte(`{"platform": {"Windows": "PENDING"}, "certificate_authorities": [], "hosted_zones": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "-c", cfg, "route", "import", pending)
	if code == 0 || !strings.Contains(errOut, "Windows") || !strings.Contains(errOut, "PENDING") {
		t.Errorf("a PENDING platform: exit %d, %q", code, errOut)
	}
}

func TestBadConfigNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte("workers:\n  concurency: 5\nroutes:\n  - driver: nosuch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := run(t, "", "-c", path, "plan")
	if code == 0 || !strings.Contains(errOut, ":2:") || !strings.Contains(errOut, "concurrency") {
		t.Errorf("bad config: exit %d, %q", code, errOut)
	}
	if err := os.WriteFile(path, []byte("routes:\n  - driver: nosuch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, "", "-c", path, "plan")
	if code == 0 || !strings.Contains(errOut, "nosuch") || !strings.Contains(errOut, "linux") {
		t.Errorf("unknown driver: exit %d, %q", code, errOut)
	}
	_, errOut, code = run(t, "", "-c", filepath.Join(dir, "missing.yaml"), "plan")
	if code == 0 || !strings.Contains(errOut, "ottr.example.yaml") {
		t.Errorf("missing config: exit %d, %q", code, errOut)
	}
}

func TestPlanAndDNSPlan(t *testing.T) {
	cfg := workspace(t)
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "web.example.com", "--common-name", "web.example.com", "--san", "*.web.example.com",
		"--ip", "192.0.2.1", "--platform", "linux", "--ca", "lets_encrypt")
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "fresh.example.com", "--common-name", "fresh.example.com",
		"--ip", "192.0.2.2", "--platform", "linux", "--ca", "lets_encrypt", "--expiration", "2099-01-01T00:00:00Z")
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "pa.example.com", "--common-name", "pa.example.com",
		"--ip", "192.0.2.3", "--platform", "panos", "--os-version", "8.0", "--ca", "lets_encrypt")

	var rows []struct {
		Asset, Reason string
		Driver        *string
		Due           bool
	}
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "plan", "-o", "json")), &rows); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		driver := "null"
		if r.Driver != nil {
			driver = *r.Driver
		}
		got[r.Asset] = r.Reason + "/" + driver
	}
	if got["web.example.com"] != "expiry_unknown/linux" || got["pa.example.com"] != "expiry_unknown/null" || !strings.HasSuffix(got["fresh.example.com"], "/linux") || strings.HasPrefix(got["fresh.example.com"], "expiry") {
		t.Errorf("plan: %v", got)
	}
	table := mustRun(t, "-c", cfg, "plan")
	if !strings.Contains(table, "NO ROUTE") || !strings.Contains(table, "2 due, 1 without a route") {
		t.Errorf("plan table:\n%s", table)
	}

	zone := mustRun(t, "-c", cfg, "dns", "plan")
	for _, want := range []string{
		"_acme-challenge.web.example.com. 300 IN CNAME _acme-challenge.web.example-acme.com.",
		"_acme-challenge.pa.example.com. 300 IN CNAME _acme-challenge.pa.example-acme.com.",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("dns plan lacks %q:\n%s", want, zone)
		}
	}
	if n := strings.Count(zone, "_acme-challenge.web.example.com. "); n != 1 {
		t.Errorf("the wildcard's record is listed %d times, want once", n)
	}
}

// TestLabCommand runs the README's first command on a small fleet of every
// platform. It is the only test in this binary that starts Pebble: one
// `ottr lab` run covers them all.
func TestLabCommand(t *testing.T) {
	for _, tool := range []string{"openssl", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the lab needs %s (Debian packages openssl and openssh-client; 'make test' installs them as root)", tool)
		}
	}
	platforms := lab.KnownPlatforms()
	devices := len(platforms)
	out, errOut, code := run(t, "", "lab", "--devices", strconv.Itoa(devices), "--platforms", strings.Join(platforms, ","), "--data", t.TempDir())
	if code != 0 {
		t.Fatalf("ottr lab: exit %d\n%s\n%s", code, out, errOut)
	}
	if want := fmt.Sprintf("%d rotated, 0 failed", devices); !strings.Contains(out, want) {
		t.Errorf("lab summary %q missing:\n%s", want, out)
	}
	for i := range devices {
		device := lab.DeviceName(platforms[i%len(platforms)], i)
		line := regexp.MustCompile(regexp.QuoteMeta(device) + `\s+(\S+)\s+(\S+)\s+(\S+).*succeeded`).FindStringSubmatch(out)
		if line == nil {
			t.Errorf("%s has no succeeded row:\n%s", device, out)
			continue
		}
		if line[1] == line[2] || line[2] == "-" {
			t.Errorf("%s: serial %s -> %s, want a new one", device, line[1], line[2])
		}
	}
}

// A mistyped platform is refused before anything starts, naming the ones
// there are.
func TestLabRefusesAnUnknownPlatform(t *testing.T) {
	out, errOut, code := run(t, "", "lab", "--devices", "2", "--platforms", "linux,netscaler")
	if code == 0 {
		t.Fatalf("ottr lab --platforms linux,netscaler succeeded:\n%s", out)
	}
	for _, want := range append([]string{"--platforms", `unknown platform "netscaler"`}, lab.KnownPlatforms()...) {
		if !strings.Contains(errOut, want) {
			t.Errorf("error output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out, "starting the lab") {
		t.Errorf("the lab started before the platforms were checked:\n%s", out)
	}
}
