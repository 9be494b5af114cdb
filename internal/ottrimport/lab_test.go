package ottrimport_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/acme"
	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/cli"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/ottrimport"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
)

// ottrPlatform is the host_platform Ottr gave the devices of each lab
// platform.
var ottrPlatform = map[string]string{
	lab.PlatformPANOS: "panos", lab.PlatformBIGIP: "f5", lab.PlatformLighthouse: "lighthouse", lab.PlatformSSM: "linux",
}

// TestImportedDeploymentRotatesOnTheLab moves an Ottr deployment of the
// four platforms Ottr shipped onto ottr and rotates every device: the
// logins come from Secrets Manager (its emulator, holding them as Ottr
// did), and the lab CA sees every order come from the account acme.sh
// registered.
func TestImportedDeploymentRotatesOnTheLab(t *testing.T) {
	ctx := context.Background()
	platforms := []string{lab.PlatformPANOS, lab.PlatformBIGIP, lab.PlatformLighthouse, lab.PlatformSSM}
	l, err := lab.Start(ctx, lab.Options{Devices: len(platforms), Platforms: platforms, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()

	// acme.sh registered Ottr's account at the CA, and Ottr kept its
	// files in Secrets Manager, beside each platform's login and the
	// Slack token.
	accountKey, accountFiles, accountURL := registerAsAcmeSh(t, l)
	const prefix, slackToken = "prod", "xoxb-ottr-import-slack-token-0123456789"
	secrets := map[string]string{"prod/otter/slack": slackToken}
	for name, text := range accountFiles {
		secrets[prefix+"/otter/"+name] = text
	}
	var secretValues []string
	for _, p := range []string{lab.PlatformPANOS, lab.PlatformBIGIP, lab.PlatformLighthouse} {
		user, password := labLogin(t, l, p)
		doc, err := json.Marshal(map[string]string{"username": user, "password": password})
		if err != nil {
			t.Fatal(err)
		}
		secrets[prefix+"/otter/"+ottrPlatform[p]] = string(doc)
		secretValues = append(secretValues, password)
	}
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	secretValues = append(secretValues, slackToken, sm.SecretAccessKey())
	t.Setenv("OTTR_TEST_SM_KEY_ID", sm.AccessKeyID())
	t.Setenv("OTTR_TEST_SM_SECRET", sm.SecretAccessKey())
	// Ottr reached its Linux hosts through SSM with its task's role: the
	// SDK's default chain, here the lab endpoint's key in the environment.
	ssmKey, ssmSecret := labLogin(t, l, lab.PlatformSSM)
	t.Setenv("AWS_ACCESS_KEY_ID", ssmKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", ssmSecret)
	secretValues = append(secretValues, ssmSecret)

	exportPath, routesPath, optionsPath := writeOttrExport(t, l, dir)
	configPath := writeBaseConfig(t, l, dir, sm)

	var output strings.Builder
	ottr := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		code := cli.Main(append([]string{"--config", configPath}, args...), strings.NewReader(""), &out, &errOut)
		output.WriteString(out.String() + errOut.String())
		if code != 0 {
			t.Fatalf("ottr %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return out.String()
	}
	out := ottr("import", "ottr", "--assets", exportPath, "--routes", routesPath, "--secrets-prefix", prefix,
		"--account-from-secrets", "--route-options", optionsPath, "--slack-channel", "#pki", "--merge")
	for _, want := range []string{"imported 4 assets", `pending: platform "Windows"`, "kept " + accountURL, "merged the section into " + configPath} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}

	// The section is in ottr.yaml (--merge), which loads; then every
	// device rotates.
	merged, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(configPath); err != nil {
		t.Fatalf("ottr.yaml with the section: %v", err)
	}
	if _, err := os.Stat(configPath + ".before-import"); err != nil {
		t.Errorf("ottr.yaml as it was before the merge is not kept: %v", err)
	}
	before := len(l.CA.Counts().Orders)
	for _, a := range l.Assets {
		// Ottr's assets have no port; the lab's devices serve on their own.
		ottr("asset", "update", a.SystemName, "--port", strconv.Itoa(a.Port))
		ottr("rotate", a.SystemName)
	}

	// Every device serves a certificate of an order the imported account
	// made, and no order came from another account.
	counts := l.CA.Counts()
	mine, err := l.CA.AccountOrders(accountKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, d := range l.Devices {
		chain, err := d.ServedChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		served[chain[0].SerialNumber.Text(16)] = true
	}
	for _, o := range counts.Orders[before:] {
		if !slices.Contains(mine, o.ID) {
			t.Errorf("order %s (%s) came from another account than the imported one", o.ID, o)
		}
	}
	issued := 0
	for _, o := range counts.Orders[before:] {
		if served[o.CertificateSerial] {
			issued++
		}
	}
	if issued != len(l.Devices) {
		t.Errorf("%d devices serve a certificate of the imported account's orders, want %d", issued, len(l.Devices))
	}

	// The logins were read from Secrets Manager, and no secret value was
	// printed or written into the config.
	read := map[string]bool{}
	for _, c := range sm.Calls() {
		if c.Operation == "GetSecretValue" && c.Status == http.StatusOK {
			read[c.SecretID] = true
		}
	}
	for _, name := range []string{"prod/otter/panos", "prod/otter/f5", "prod/otter/lighthouse", "prod/otter/account.key", "prod/otter/ca.conf"} {
		if !read[name] {
			t.Errorf("%s was never read from Secrets Manager (read: %v)", name, read)
		}
	}
	keyBody := strings.Split(accountFiles[ottrimport.AccountKeyFile], "\n")[1]
	for _, text := range []string{output.String(), string(merged)} {
		for _, v := range append(secretValues, keyBody) {
			if strings.Contains(text, v) {
				t.Errorf("a secret value appears in the output or the config:\n%s", text)
			}
		}
	}
}

// registerAsAcmeSh registers a new account at the lab CA as acme.sh does
// (an ECDSA P-256 key, openssl's "EC PRIVATE KEY") and returns its key,
// its three files as acme.sh keeps them, by name, and its URL.
func registerAsAcmeSh(t *testing.T, l *lab.Lab) (*ecdsa.PrivateKey, map[string]string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client := &acme.Client{
		Key:          key,
		DirectoryURL: l.CA.DirectoryURL(),
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: l.CA.TLSRoots()}}},
	}
	acct, err := client.Register(context.Background(), &acme.Account{Contact: []string{"mailto:pki@example.com"}}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("register the acme.sh account: %v", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	point, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	p := point.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	return key, map[string]string{
		ottrimport.AccountKeyFile: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
		ottrimport.AccountJSONFile: fmt.Sprintf(`{"status": "valid", "contact": ["mailto:pki@example.com"], "key": {"kty": "EC", "crv": "P-256", "x": %q, "y": %q}}`,
			b64(p[1:33]), b64(p[33:])),
		ottrimport.CAConfFile: fmt.Sprintf("CA_EMAIL='pki@example.com'\nACCOUNT_URL='%s'\nCA_KEY_HASH='lab'\n", acct.URI),
	}, acct.URI
}

// labLogin returns the username and password of a lab platform's devices.
func labLogin(t *testing.T, l *lab.Lab, platform string) (string, string) {
	t.Helper()
	c, ok := l.Config.Credentials[platform]
	if !ok {
		t.Fatalf("the lab has no login for %s", platform)
	}
	password, err := os.ReadFile(strings.TrimPrefix(c.Password, "file:"))
	if err != nil {
		t.Fatal(err)
	}
	return c.Username, strings.TrimSuffix(string(password), "\n")
}

// writeOttrExport writes what Ottr's deployment would export for the lab's
// devices: the 'aws dynamodb scan' of its asset table, its route.json with
// a PENDING platform, and the route options of the lab's devices (their
// ports and device CA) by Ottr platform.
func writeOttrExport(t *testing.T, l *lab.Lab, dir string) (exportPath, routesPath, optionsPath string) {
	t.Helper()
	s := func(v string) map[string]string { return map[string]string{"S": v} }
	var items []map[string]any
	type osEntry struct {
		CertificateAuthority map[string]string `json:"certificate_authority"`
		Model                []string          `json:"model"`
	}
	platformRoutes := map[string]any{"Windows": "PENDING"}
	for i, a := range l.Assets {
		platform := ottrPlatform[l.Devices[i].Platform]
		sans := []map[string]string{}
		for _, n := range a.SubjectAlternativeName {
			sans = append(sans, s(n))
		}
		items = append(items, map[string]any{
			"system_name": s(a.SystemName), "common_name": s(a.CommonName),
			"subject_alternative_name": map[string]any{"L": sans},
			"certificate_authority":    s("lets_encrypt"), "certificate_expiration": s("None"),
			"certificate_validation": s("True"), "data_center": s("sfo1"),
			"device_model": s(a.DeviceModel), "host_platform": s(platform),
			"ip_address": s(a.IPAddress), "origin": s("API"), "os_version": s(a.OSVersion),
		})
		platformRoutes[platform] = map[string]any{"os": map[string]osEntry{a.OSVersion: {
			CertificateAuthority: map[string]string{"lets_encrypt": "otter-" + platform + "-lets-encrypt"},
			Model:                []string{a.DeviceModel},
		}}}
	}
	options := map[string]map[string]any{}
	for _, r := range l.Config.Routes {
		platform := ottrPlatform[r.Match.Platform]
		options[platform] = r.Options
	}
	// The lab's SSM instances keep no chain file where Ottr's hosts did.
	options["linux"]["chain_path"] = nil

	exportPath = writeJSON(t, filepath.Join(dir, "assets.json"), map[string]any{"Items": items, "Count": len(items), "ScannedCount": len(items)})
	routesPath = writeJSON(t, filepath.Join(dir, "route.json"), map[string]any{
		"platform": platformRoutes, "certificate_authorities": []string{"lets_encrypt"},
		"hosted_zones": map[string]string{lab.DeviceZone: "Z0LAB"},
	})
	data, err := yaml.Marshal(options)
	if err != nil {
		t.Fatal(err)
	}
	optionsPath = filepath.Join(dir, "route-options.yaml")
	if err := os.WriteFile(optionsPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return exportPath, routesPath, optionsPath
}

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeBaseConfig writes the operator's ottr.yaml before the import: the
// lab's, without its credentials and routes, its CA profile under Ottr's
// name, and Secrets Manager reached at the emulator.
func writeBaseConfig(t *testing.T, l *lab.Lab, dir string, sm *awssmlab.Server) string {
	t.Helper()
	data, err := os.ReadFile(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	delete(doc, "credentials")
	delete(doc, "routes")
	cas := doc["certificate_authorities"].(map[string]any)
	cas["lets_encrypt"] = cas[lab.CAName]
	delete(cas, lab.CAName)
	doc["data_dir"] = filepath.Join(dir, "data")
	doc["known_hosts_file"] = filepath.Join(l.Dir, "known_hosts")
	doc["secrets"] = map[string]any{"aws": map[string]any{
		"region": sm.Region(), "endpoint": sm.URL(),
		"access_key_id": "env:OTTR_TEST_SM_KEY_ID", "secret_access_key": "env:OTTR_TEST_SM_SECRET",
	}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
