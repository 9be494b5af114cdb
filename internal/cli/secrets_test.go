package cli_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startACMEStub serves just enough ACME for a rotation's preflight to set
// up its CA profile: a directory, nonces, and an account endpoint that
// knows every key. It returns the directory URL and a roots file trusting
// the server.
func startACMEStub(t *testing.T) (directory, rootsFile string) {
	t.Helper()
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/dir", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"newNonce": srv.URL + "/nonce", "newAccount": srv.URL + "/account", "newOrder": srv.URL + "/order",
		})
	})
	mux.HandleFunc("/nonce", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Replay-Nonce", "nonce")
	})
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Replay-Nonce", "nonce")
		w.Header().Set("Location", srv.URL+"/account/1")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "valid"})
	})
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	rootsFile = filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(rootsFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/dir", rootsFile
}

// secretWorkspace writes an ottr.yaml whose script route gives its scripts
// a token from the environment and a PIN from a file, and a
// current_certificate script that writes down what it got, prints it to
// standard error and fails. envValue is what the route's env says for the
// token. It returns the config's path and the script's record.
func secretWorkspace(t *testing.T, envValue string) (cfg, record string) {
	t.Helper()
	directory, roots := startACMEStub(t)
	dir := t.TempDir()
	record = filepath.Join(dir, "seen")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s %%s' \"$API_TOKEN\" \"$PIN\" > %q\necho \"device: token $API_TOKEN pin $PIN\" >&2\nexit 1\n", record)
	for name, content := range map[string]string{
		"current.sh": script, "generate.sh": "#!/bin/sh\nexit 1\n", "install.sh": "#!/bin/sh\nexit 1\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{"pin": "pin-Cli-4411\n", "device.password": "Device-pw-1\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := fmt.Sprintf(`data_dir: data
certificate_authorities:
  lab:
    directory: %[3]s
    roots_file: %[4]s
dns:
  rfc2136: {nameserver: "127.0.0.1:1"}
credentials:
  default:
    username: operator
    password: file:device.password
routes:
  - name: appliance
    match: {platform: appliance}
    driver: script
    options:
      generate_csr: %[1]s/generate.sh
      install_certificate: %[1]s/install.sh
      current_certificate: %[1]s/current.sh
      plain_env:
        SITE: ams
      env:
        API_TOKEN: %[2]s
        PIN: file:%[1]s/pin
`, dir, envValue, directory, roots)
	cfg = filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, record
}

func TestASecretWrittenIntoARouteIsRefusedNamingItsLine(t *testing.T) {
	cfg, _ := secretWorkspace(t, "tok-Written-Out-93")
	out, errOut, code := run(t, "", "-c", cfg, "plan")
	if code == 0 {
		t.Fatalf("ottr plan accepted a secret written into the config:\n%s", out)
	}
	for _, want := range []string{
		cfg + ":23: routes[0].options.env.API_TOKEN: holds a secret written out",
		"env:API_TOKEN", "file:/absolute/path", "plain_env",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the error lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out+errOut, "tok-Written-Out-93") {
		t.Errorf("the error quotes the secret:\n%s", errOut)
	}
}

// The CLI resolves secrets only for the rotation it runs, hands them to the
// scripts, and prints them nowhere, the debug log included.
func TestSecretRouteOptionsAreResolvedForTheScriptsAndPrintedNowhere(t *testing.T) {
	const token = "tok-Cli-Secret-61"
	t.Setenv("OTTR_TEST_CLI_TOKEN", token)
	cfg, record := secretWorkspace(t, "env:OTTR_TEST_CLI_TOKEN")
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "box.example.com", "--common-name", "box.example.com",
		"--ip", "127.0.0.1", "--platform", "appliance", "--ca", "lab")

	var printed strings.Builder
	testOut := mustRun(t, "-c", cfg, "route", "test", "box.example.com")
	printed.WriteString(testOut)
	if !strings.Contains(testOut, `"env":{"API_TOKEN":"[redacted]","PIN":"[redacted]"}`) || !strings.Contains(testOut, `"plain_env":{"SITE":"ams"}`) {
		t.Errorf("route test does not show the chosen route's options with env redacted:\n%s", testOut)
	}
	printed.WriteString(mustRun(t, "-c", cfg, "--log-level", "debug", "plan"))
	printed.WriteString(mustRun(t, "-c", cfg, "plan", "-o", "json"))
	out, errOut, _ := run(t, "", "-c", cfg, "--log-level", "debug", "rotate", "box.example.com")
	printed.WriteString(out + errOut)

	seen, err := os.ReadFile(record)
	if err != nil || string(seen) != token+" pin-Cli-4411" {
		t.Fatalf("the script saw %q (%v), want the resolved token and PIN", seen, err)
	}
	if !strings.Contains(out, "preflight  FAILED") || !strings.Contains(errOut, "exited with status 1") {
		t.Errorf("ottr rotate did not show the script failing in preflight:\n%s%s", out, errOut)
	}
	for _, shown := range []string{token, "pin-Cli-4411", "env:OTTR_TEST_CLI_TOKEN"} {
		if strings.Contains(printed.String(), shown) {
			t.Errorf("the command line printed %q:\n%s", shown, printed.String())
		}
	}
}
