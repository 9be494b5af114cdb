package cli_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/driver/drivertest"
	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
	"github.com/ottr-go/ottr/internal/driver/ssm/ssmlab"
	"github.com/ottr-go/ottr/internal/verify"
)

const (
	deviceAccessKeyID = "AKIAOTTRDEVICECHECK1"
	deviceSecretKey   = "ottr-device-check-secret/K7MDENG"
)

// devices is a workspace whose routes reach emulated devices: a Linux
// host over real SSH and an EC2 instance through the SSM emulator, each an
// asset of the inventory.
type devices struct {
	config string
	host   *linuxlab.Host
	svc    *ssmlab.Service
	web2   *ssmlab.Instance
}

// Assets of the devices workspace.
const (
	linuxAsset       = "web1.example.com"
	brokenLinuxAsset = "web1-broken.example.com"
	ssmAsset         = "web2.example.com"
	stoppedSSMAsset  = "web3.example.com"
	noRouteAsset     = "pa.example.com"
)

func newDevices(t *testing.T) *devices {
	t.Helper()
	for _, tool := range []string{"openssl", "uname", "id"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the emulated devices need %s on PATH: %v", tool, err)
		}
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := write("id_ed25519", pem.EncodeToMemory(block))
	host, err := linuxlab.Start(context.Background(), linuxlab.Config{
		Name: linuxAsset, Dir: filepath.Join(dir, "host"), User: "ottr", AuthorizedKey: signer.PublicKey(), RecordCalls: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Close() })
	knownHosts := write("known_hosts", []byte(knownhosts.Line([]string{knownhosts.Normalize(host.SSHAddr())}, host.HostKey())+"\n"))

	svc, err := ssmlab.Start(context.Background(), ssmlab.Config{
		AccessKeyID: deviceAccessKeyID, SecretAccessKey: deviceSecretKey, RecordRequests: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	web2, err := svc.AddInstance(ssmlab.InstanceConfig{Name: "web2", HostName: ssmAsset, Dir: filepath.Join(dir, "web2")})
	if err != nil {
		t.Fatal(err)
	}
	web3, err := svc.AddInstance(ssmlab.InstanceConfig{Name: "web3", HostName: stoppedSSMAsset, Dir: filepath.Join(dir, "web3"), State: ssmlab.StateStopped})
	if err != nil {
		t.Fatal(err)
	}
	ssmOptions := web2.RouteOptions()
	ssmOptions["ca_file"] = write("aws-ca.pem", svc.CertificatePEM())
	byID := maps.Clone(ssmOptions)
	byID["instance_id_from"] = "asset-field"
	broken := maps.Clone(host.RouteOptions())
	broken["reload_command"] = "ottr-no-such-reloader reload nginx"

	type route struct {
		Name    string            `yaml:"name"`
		Match   map[string]string `yaml:"match"`
		Driver  string            `yaml:"driver"`
		Options map[string]any    `yaml:"options"`
	}
	cfg := map[string]any{
		"data_dir":         filepath.Join(dir, "data"),
		"known_hosts_file": knownHosts,
		"certificate_authorities": map[string]any{
			"lets_encrypt": map[string]any{"directory": "https://127.0.0.1:1/directory"},
		},
		// A rotation's CA and DNS are set up as for a rotation, and never
		// contacted by a check.
		"dns": map[string]any{
			"zones": map[string]string{"example.com": "example-acme.com"},
			"rfc2136": map[string]string{
				"nameserver": "127.0.0.1:1", "tsig_key": "ottr.", "tsig_algorithm": "hmac-sha256.",
				"tsig_secret": "file:" + write("tsig.secret", []byte("c2VjcmV0LXRzaWcta2V5LWZvci10ZXN0cw==")),
			},
		},
		"credentials": map[string]any{
			"default": map[string]string{"username": "ottr", "private_key": "file:" + keyFile},
			"aws":     map[string]string{"username": deviceAccessKeyID, "password": "file:" + write("aws.secret", []byte(deviceSecretKey))},
		},
		"routes": []route{
			{"hosts", map[string]string{"platform": "linux"}, "linux", host.RouteOptions()},
			{"hosts-broken-reload", map[string]string{"platform": "linux-broken"}, "linux", broken},
			{"ec2", map[string]string{"platform": "ec2"}, "linux-ssm", ssmOptions},
			{"ec2-by-id", map[string]string{"platform": "ec2-by-id"}, "linux-ssm", byID},
			{"panos-9", map[string]string{"platform": "panos", "os_version": "9.*"}, "linux", host.RouteOptions()},
		},
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &devices{config: write("ottr.yaml", y), host: host, svc: svc, web2: web2}
	for _, a := range [][]string{
		{"--system-name", linuxAsset, "--ip", "127.0.0.1", "--platform", "linux"},
		{"--system-name", brokenLinuxAsset, "--ip", "127.0.0.1", "--platform", "linux-broken"},
		{"--system-name", ssmAsset, "--ip", "127.0.0.1", "--platform", "ec2", "--credentials", "aws"},
		{"--system-name", stoppedSSMAsset, "--ip", "127.0.0.1", "--platform", "ec2-by-id", "--credentials", "aws", "--label", "instance_id=" + web3.ID()},
		{"--system-name", noRouteAsset, "--ip", "192.0.2.1", "--platform", "panos", "--os-version", "8.1.0"},
	} {
		mustRun(t, append([]string{"-c", d.config, "asset", "add", "--common-name", a[1], "--ca", "lets_encrypt"}, a...)...)
	}
	return d
}

// checkOutput is `ottr device check -o json`'s output.
type checkOutput struct {
	Asset       string  `json:"asset"`
	Route       string  `json:"route"`
	Driver      string  `json:"driver"`
	Software    *string `json:"software"`
	Binding     *string `json:"binding"`
	Certificate *struct {
		Subject  string   `json:"subject"`
		Names    []string `json:"names"`
		Serial   string   `json:"serial"`
		DaysLeft int      `json:"days_left"`
	} `json:"certificate"`
	CertificateError *string `json:"certificate_error"`
	Checks           []struct {
		Capability, Status, Detail string
	} `json:"checks"`
	Failed bool `json:"failed"`
}

func decodeCheck(t *testing.T, out string) checkOutput {
	t.Helper()
	var c checkOutput
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("the JSON output does not decode: %v\n%s", err, out)
	}
	return c
}

// writing are the calls of the emulators that change a device.
var writing = []string{"cp", "mv", "rm", "mkdir", "chmod", "chown", "openssl req", "reload_command", `"$hook"`}

func requireNoWrites(t *testing.T, calls []string) {
	t.Helper()
	for _, call := range calls {
		_, program, _ := strings.Cut(call, " ")
		if _, p, ok := strings.Cut(call, ": "); ok {
			program = p
		}
		if slices.Contains(writing, program) || call == "ssm:CancelCommand" {
			t.Errorf("the check sent %q, which writes", call)
		}
	}
}

func TestDeviceCheckReportsALinuxHostOverSSHAndChangesNothing(t *testing.T) {
	d := newDevices(t)
	before := drivertest.DirState(t, d.host.LocalPath(linuxlab.DefaultPathPrefix+"/"))
	serial := verify.SerialHex(d.host.Served())

	table := mustRun(t, "-c", d.config, "device", "check", linuxAsset)
	for _, want := range []string{
		`route\s+hosts \(#0\), driver linux`,
		`software\s+OpenSSL \d`,
		`binding\s+cert_path ` + regexp.QuoteMeta(linuxlab.DefaultPathPrefix+"/"+linuxlab.DefaultCertPath),
		`certificate\s+CN=` + regexp.QuoteMeta(linuxAsset),
		`serial\s+` + serial,
		`not after\s+\S+ \(\d+ days left\)`,
		`CAPABILITY\s+STATUS\s+DETAIL`,
		`(?m)^login\s+ok\s+logged in`,
		`(?m)^rollback\s+ok\s+`,
		"no check failed",
	} {
		if !regexp.MustCompile(want).MatchString(table) {
			t.Errorf("the table lacks %s:\n%s", want, table)
		}
	}

	c := decodeCheck(t, mustRun(t, "-c", d.config, "device", "check", linuxAsset, "-o", "json"))
	if c.Driver != "linux" || c.Route != "hosts" || c.Failed {
		t.Errorf("route %q, driver %q, failed %v; want hosts, linux, false", c.Route, c.Driver, c.Failed)
	}
	if c.Software == nil || !strings.Contains(*c.Software, "OpenSSL") || c.Binding == nil || !strings.Contains(*c.Binding, "systemctl reload nginx") {
		t.Errorf("software %v, binding %v", c.Software, c.Binding)
	}
	if c.Certificate == nil || c.Certificate.Serial != serial || !slices.Contains(c.Certificate.Names, linuxAsset) || c.Certificate.DaysLeft < 28 {
		t.Errorf("certificate %+v, want serial %s of %s with about 30 days left", c.Certificate, serial, linuxAsset)
	}
	if len(c.Checks) != 7 {
		t.Errorf("%d checks, want one per capability: %+v", len(c.Checks), c.Checks)
	}
	for _, ch := range c.Checks {
		if ch.Status != "ok" {
			t.Errorf("%s: %s (%s)", ch.Capability, ch.Status, ch.Detail)
		}
	}

	y := mustRun(t, "-c", d.config, "device", "check", linuxAsset, "-o", "yaml")
	for _, want := range []string{"software: OpenSSL", "serial: " + serial, "capability: login"} {
		if !strings.Contains(y, want) {
			t.Errorf("the YAML lacks %q:\n%s", want, y)
		}
	}

	if after := drivertest.DirState(t, d.host.LocalPath(linuxlab.DefaultPathPrefix+"/")); after != before {
		t.Errorf("the check changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if verify.SerialHex(d.host.Served()) != serial {
		t.Error("the host serves another certificate after the check")
	}
	requireNoWrites(t, d.host.Calls())
}

func TestDeviceCheckReportsAnEC2InstanceThroughSSMAndChangesNothing(t *testing.T) {
	d := newDevices(t)
	before := drivertest.DirState(t, d.web2.LocalPath(ssmlab.DefaultPathPrefix+"/"))
	serial := verify.SerialHex(d.web2.Served())

	c := decodeCheck(t, mustRun(t, "-c", d.config, "device", "check", ssmAsset, "-o", "json"))
	if c.Driver != "linux-ssm" || c.Failed {
		t.Errorf("driver %q, failed %v; want linux-ssm, false", c.Driver, c.Failed)
	}
	if c.Software == nil || !strings.Contains(*c.Software, "SSM agent") {
		t.Errorf("software %v, want the agent named", c.Software)
	}
	if c.Certificate == nil || c.Certificate.Serial != serial {
		t.Errorf("certificate %+v, want serial %s", c.Certificate, serial)
	}
	for _, ch := range c.Checks {
		if ch.Status != "ok" {
			t.Errorf("%s: %s (%s)", ch.Capability, ch.Status, ch.Detail)
		}
	}
	if after := drivertest.DirState(t, d.web2.LocalPath(ssmlab.DefaultPathPrefix+"/")); after != before {
		t.Errorf("the check changed the instance:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	calls := d.svc.Calls()
	if !slices.Contains(calls, "ssm:DescribeInstanceInformation") || !slices.Contains(calls, "ssm:SendCommand") {
		t.Errorf("the check did not ask SSM for the agent and send its command: %q", calls)
	}
	requireNoWrites(t, calls)
}

func TestDeviceCheckFailsWithTheFix(t *testing.T) {
	d := newDevices(t)
	before := drivertest.DirState(t, d.host.LocalPath(linuxlab.DefaultPathPrefix+"/"))

	out, errOut, code := run(t, "", "-c", d.config, "device", "check", brokenLinuxAsset)
	if code != 1 {
		t.Errorf("exit %d, want 1 when a check failed", code)
	}
	if errOut != "" {
		t.Errorf("standard error %q, want the report alone", errOut)
	}
	for _, want := range []string{"commit", "failed", "ottr-no-such-reloader is not found", "give its full path in reload_command", "a rotation would fail"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if after := drivertest.DirState(t, d.host.LocalPath(linuxlab.DefaultPathPrefix+"/")); after != before {
		t.Errorf("the failed check changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A stopped instance: nothing could be read, and JSON says so with nulls.
	out, _, code = run(t, "", "-c", d.config, "device", "check", stoppedSSMAsset, "-o", "json")
	if code != 1 {
		t.Errorf("a stopped instance: exit %d, want 1", code)
	}
	c := decodeCheck(t, out)
	if !c.Failed || c.Software != nil || c.Binding != nil || c.Certificate != nil || c.CertificateError == nil {
		t.Errorf("a stopped instance: %s\nwant failed, null software, binding and certificate, and the certificate's error", out)
	}
	if !strings.Contains(out, `"software": null`) || !strings.Contains(out, `"certificate": null`) {
		t.Errorf("the JSON does not write null where there is no value:\n%s", out)
	}
	if len(c.Checks) == 0 || c.Checks[0].Status != "failed" || !strings.Contains(c.Checks[0].Detail, "start the instance") {
		t.Errorf("the login check: %+v", c.Checks)
	}
}

func TestDeviceCheckNamesWhatIsMissing(t *testing.T) {
	d := newDevices(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"an asset the inventory lacks", []string{"device", "check", "nosuch.example.com"}, 3, []string{"no asset named nosuch.example.com", "ottr asset list"}},
		{"an asset no route takes", []string{"device", "check", noRouteAsset}, 1, []string{"no route matches", "ottr route test " + noRouteAsset}},
		{"an output format ottr does not write", []string{"device", "check", linuxAsset, "-o", "xml"}, 2, []string{`invalid argument "xml" for "-o, --output"`, "table, json or yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := run(t, "", append([]string{"-c", d.config}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("the error %q does not say %q", errOut, w)
				}
			}
		})
	}
}

func TestDeviceCheckCompletesAssetNames(t *testing.T) {
	d := newDevices(t)
	out := mustRun(t, "-c", d.config, "__complete", "device", "check", "web1")
	for _, want := range []string{linuxAsset, brokenLinuxAsset} {
		if !strings.Contains(out, want) {
			t.Errorf("completion of web1 lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, ssmAsset) {
		t.Errorf("completion of web1 offers %s:\n%s", ssmAsset, out)
	}
}
