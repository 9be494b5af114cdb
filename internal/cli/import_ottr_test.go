package cli_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/ottrimport"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
)

// ottrFixtures is the Ottr deployment the import tests read: an
// 'aws dynamodb scan' of four devices, a route.json with a PENDING
// platform, and an acme.sh account of Let's Encrypt.
const ottrFixtures = "../ottrimport/testdata"

// importWorkspace writes an operator's ottr.yaml before the import: the CA
// profile and zone Ottr used, nothing routed. It returns the config's path.
func importWorkspace(t *testing.T, preset string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := "data_dir: data\ncertificate_authorities:\n  lets_encrypt:\n    preset: " + preset +
		"\n    email: pki@example.com\ndns:\n  zones:\n    example.com: example-acme.com\n"
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// importArgs are the arguments of a whole import of the fixtures.
func importArgs(configPath string, extra ...string) []string {
	return append([]string{"--config", configPath, "import", "ottr",
		"--assets", filepath.Join(ottrFixtures, "dynamodb-scan.json"),
		"--routes", filepath.Join(ottrFixtures, "route.json"),
		"--secrets-prefix", "prod",
		"--account-dir", filepath.Join(ottrFixtures, "acme.sh"),
		"--aws-region", "us-east-1"}, extra...)
}

// assertNoAccountKey fails when text quotes the fixture account key.
func assertNoAccountKey(t *testing.T, text string) {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(ottrFixtures, "acme.sh", "account.key"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(key)), "\n")
	for _, line := range lines[1 : len(lines)-1] {
		if strings.Contains(text, line) {
			t.Fatalf("the output quotes the account key:\n%s", text)
		}
	}
	if strings.Contains(text, "PRIVATE KEY") {
		t.Fatalf("the output holds a private key:\n%s", text)
	}
}

func TestImportOttrDryRunWritesNothing(t *testing.T) {
	configPath := importWorkspace(t, "letsencrypt")
	out, errOut, code := run(t, "", importArgs(configPath, "--dry-run")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"4 items", "fw1.example.com", "otter-f5-14x-lets-encrypt", "linux-ssm",
		`pending: platform "Windows" is PENDING`,
		"would write " + filepath.Join(filepath.Dir(configPath), "ottr-import.yaml"),
		"password: aws-sm:prod/otter/panos#password",
		"would import 4 assets",
		"would keep the ACME account https://acme-v02.api.letsencrypt.org/acme/acct/123456789",
		"dry run: nothing written",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	assertNoAccountKey(t, out+errOut)
	entries, err := os.ReadDir(filepath.Dir(configPath))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("the dry run left %d entries beside the config, want only ottr.yaml: %v", len(entries), entries)
	}

	// With --merge, the dry run shows the config as it would be, and
	// leaves it as it is.
	before, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, importArgs(configPath, "--dry-run", "--merge")...)
	if !strings.Contains(out, "would merge the section into "+configPath) || !strings.Contains(out, "preset: letsencrypt") ||
		!strings.Contains(out, "username: aws-sm:prod/otter/f5#username") {
		t.Errorf("the dry run of --merge does not show the merged config:\n%s", out)
	}
	after, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("the dry run changed the config:\n%s", after)
	}
}

func TestImportOttrImportsTheDeployment(t *testing.T) {
	configPath := importWorkspace(t, "letsencrypt")
	out, errOut, code := run(t, "", importArgs(configPath)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	sectionPath := filepath.Join(filepath.Dir(configPath), "ottr-import.yaml")
	for _, want := range []string{
		"ACME account of lets_encrypt: kept https://acme-v02.api.letsencrypt.org/acme/acct/123456789",
		"imported 4 assets", "wrote " + sectionPath,
		"summary: 4 assets, 4 routes, 4 credentials (references to prod/otter/…)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	assertNoAccountKey(t, out+errOut)

	var assets []asset.Asset
	if err := json.Unmarshal([]byte(mustRun(t, "--config", configPath, "asset", "list", "-o", "json")), &assets); err != nil {
		t.Fatal(err)
	}
	creds := map[string]string{}
	for _, a := range assets {
		creds[a.SystemName] = a.Credentials
	}
	if len(assets) != 4 || creds["lb1.example.com"] != "otter-f5" || creds["web1.example.com"] != "otter-ssm" {
		t.Errorf("imported assets' credentials = %v, want the four with their platform's login", creds)
	}

	// The operator merges the section: ottr.yaml then loads.
	section, err := os.ReadFile(sectionPath)
	if err != nil {
		t.Fatal(err)
	}
	assertNoAccountKey(t, string(section))
	base, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := ottrimport.Merge(base, section)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configPath, merged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(configPath); err != nil {
		t.Fatalf("ottr.yaml with the section merged: %v", err)
	}
	if out := mustRun(t, "--config", configPath, "route", "test", "lb1.example.com"); !strings.Contains(out, "otter-f5-14x-lets-encrypt") {
		t.Errorf("route test lb1.example.com does not name Ottr's F5 route:\n%s", out)
	}

	// Again, the same account is stored already and the assets replace
	// themselves.
	out = mustRun(t, importArgs(configPath, "--print")...)
	if !strings.Contains(out, "(stored already)") || !strings.Contains(out, "imported 4 assets") {
		t.Errorf("the second import:\n%s", out)
	}

	// Another account is not put over the stored one unless asked.
	other := otherAccountDir(t)
	args := importArgs(configPath, "--print", "--account-dir", other)
	out, errOut, code = run(t, "", args...)
	if code != 2 || !strings.Contains(errOut, "has another ACME account") || !strings.Contains(errOut, "--replace-account") {
		t.Errorf("importing another account: exit %d\n%s%s", code, out, errOut)
	}
	mustRun(t, append(args, "--replace-account")...)
}

// otherAccountDir writes acme.sh files of another account of Let's
// Encrypt.
func otherAccountDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		ottrimport.AccountKeyFile:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
		ottrimport.AccountJSONFile: `{"status": "valid"}`,
		ottrimport.CAConfFile:      "ACCOUNT_URL='https://acme-v02.api.letsencrypt.org/acme/acct/987654321'\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A bad item or account file fails the whole import, naming it, and
// leaves nothing behind: no section, no asset, no account.
func TestImportOttrWritesNothingWhenAnythingIsBad(t *testing.T) {
	scan, err := os.ReadFile(filepath.Join(ottrFixtures, "dynamodb-scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	badScan := strings.Replace(string(scan), `"host_platform": {"S": "lighthouse"}`, `"host_platform": {"S": "netscaler"}`, 1)
	for _, tc := range []struct {
		name  string
		setUp func(t *testing.T, dir string, args []string) []string
		want  []string
	}{
		{
			name: "an item of an unknown platform",
			setUp: func(t *testing.T, dir string, args []string) []string {
				path := filepath.Join(dir, "scan.json")
				if err := os.WriteFile(path, []byte(badScan), 0o600); err != nil {
					t.Fatal(err)
				}
				return append(args, "--assets", path)
			},
			want: []string{"item 3 (console1.example.com)", `host_platform "netscaler"`},
		},
		{
			name: "an account key cut short",
			setUp: func(t *testing.T, dir string, args []string) []string {
				acct := filepath.Join(dir, "acme")
				if err := os.CopyFS(acct, os.DirFS(filepath.Join(ottrFixtures, "acme.sh"))); err != nil {
					t.Fatal(err)
				}
				key, err := os.ReadFile(filepath.Join(acct, "account.key"))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(acct, "account.key"), key[:len(key)/2], 0o600); err != nil {
					t.Fatal(err)
				}
				return append(args, "--account-dir", acct)
			},
			want: []string{filepath.Join("acme", "account.key") + ": no PEM private key"},
		},
		{
			name: "an account of another CA than the profile's",
			setUp: func(t *testing.T, dir string, args []string) []string {
				return args
			},
			want: []string{"registered at https://acme-v02.api.letsencrypt.org", "--ca"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			preset := "letsencrypt"
			if strings.Contains(tc.name, "another CA") {
				preset = "letsencrypt-staging"
			}
			configPath := importWorkspace(t, preset)
			dir := filepath.Dir(configPath)
			args := tc.setUp(t, dir, importArgs(configPath))
			out, errOut, code := run(t, "", args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
			}
			for _, want := range append(tc.want, "nothing imported") {
				if !strings.Contains(errOut, want) {
					t.Errorf("error output lacks %q:\n%s", want, errOut)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "ottr-import.yaml")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the section was written: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the data directory was created: %v", err)
			}
			assertNoAccountKey(t, out+errOut)
		})
	}
}

// The account read from Secrets Manager, where Ottr kept it: a ca.conf
// there without ACCOUNT_URL is named by its reference, and nothing is
// written.
func TestImportOttrReadsTheAccountFromSecretsManager(t *testing.T) {
	files := map[string]string{}
	for _, name := range []string{ottrimport.AccountKeyFile, ottrimport.AccountJSONFile, ottrimport.CAConfFile} {
		data, err := os.ReadFile(filepath.Join(ottrFixtures, "acme.sh", name))
		if err != nil {
			t.Fatal(err)
		}
		files["prod/otter/"+name] = string(data)
	}
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: files})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	t.Setenv("OTTR_TEST_SM_KEY_ID", sm.AccessKeyID())
	t.Setenv("OTTR_TEST_SM_SECRET", sm.SecretAccessKey())
	configPath := importWorkspace(t, "letsencrypt")
	secrets := fmt.Sprintf("secrets:\n  aws:\n    region: %s\n    endpoint: %s\n    access_key_id: env:OTTR_TEST_SM_KEY_ID\n    secret_access_key: env:OTTR_TEST_SM_SECRET\n",
		sm.Region(), sm.URL())
	f, err := os.OpenFile(configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(secrets); err != nil {
		t.Fatal(err)
	}
	f.Close()
	args := []string{"--config", configPath, "import", "ottr",
		"--assets", filepath.Join(ottrFixtures, "dynamodb-scan.json"),
		"--routes", filepath.Join(ottrFixtures, "route.json"),
		"--secrets-prefix", "prod", "--account-from-secrets", "--aws-region", "us-east-1", "--print"}

	out := mustRun(t, args...)
	if !strings.Contains(out, "account  Secrets Manager: ECDSA P-256 key") || !strings.Contains(out, "kept https://acme-v02.api.letsencrypt.org/acme/acct/123456789") {
		t.Errorf("the account was not read from Secrets Manager:\n%s", out)
	}
	assertNoAccountKey(t, out)

	sm.Put("prod/otter/ca.conf", "CA_EMAIL='pki@example.com'\n")
	configPath2 := filepath.Join(t.TempDir(), "ottr.yaml")
	text, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(configPath2, text, 0o600); err != nil {
		t.Fatal(err)
	}
	args[1] = configPath2
	out, errOut, code := run(t, "", args...)
	if code != 2 || !strings.Contains(errOut, "aws-sm:prod/otter/ca.conf: no ACCOUNT_URL") {
		t.Errorf("exit %d, want 2 naming aws-sm:prod/otter/ca.conf\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(configPath2), "data")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed import created the data directory: %v", err)
	}
}
