package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
)

// secretCheckWorkspace writes an ottr.yaml whose device credentials, Slack
// token and a route's secret option come from the Secrets Manager sm, as
// Ottr keeps them, with one reference to a secret sm does not hold.
func secretCheckWorkspace(t *testing.T, sm *awssmlab.Server) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"aws.key_id": sm.AccessKeyID() + "\n", "aws.secret": sm.SecretAccessKey() + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := fmt.Sprintf(`data_dir: data
secrets:
  aws:
    region: %s
    endpoint: %s
    access_key_id: file:aws.key_id
    secret_access_key: file:aws.secret
credentials:
  panos:
    username: aws-sm:prod/otter/panos#username
    password: aws-sm:prod/otter/panos#password
  f5:
    username: ottr
    password: aws-sm:prod/otter/f5#password
notifications:
  channels:
    slack:
      kind: slack
      token: aws-sm:prod/otter/slack
      channel: "#pki"
routes:
  - name: appliance
    match: {platform: appliance}
    driver: script
    options:
      generate_csr: /bin/true
      install_certificate: /bin/true
      current_certificate: /bin/true
      env:
        API_TOKEN: aws-sm:prod/otter/slack
`, sm.Region(), sm.URL())
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSecretCheckSaysWhichReferencesFail(t *testing.T) {
	const (
		panosPassword = "Pan-Check-Pa55-6d2e"
		f5Password    = "F5-Check-Pa55-0b7c"
		slackToken    = "xoxb-check-token-5e1a"
	)
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: map[string]string{
		"prod/otter/panos": `{"username":"admin","password":"` + panosPassword + `"}`,
		"prod/otter/slack": slackToken,
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	cfg := secretCheckWorkspace(t, sm)
	values := []string{panosPassword, f5Password, slackToken, sm.SecretAccessKey()}

	out, errOut, code := run(t, "", "secret", "check", "--config", cfg)
	if code != 1 {
		t.Fatalf("secret check with a missing secret: exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"credentials.panos.username 10 aws-sm:prod/otter/panos#username  ok",
		"credentials.panos.password 11 aws-sm:prod/otter/panos#password  ok",
		"credentials.f5.password 14 aws-sm:prod/otter/f5#password     FAILED: Secrets Manager has no secret prod/otter/f5: check the name and secrets.aws.region",
		"notifications.channels.slack.token 19 aws-sm:prod/otter/slack  ok",
		"routes[0].options.env.API_TOKEN 30 aws-sm:prod/otter/slack ok",
		"4 of 5 references resolved.",
	} {
		if !strings.Contains(squeeze(out), squeeze(want)) {
			t.Errorf("secret check does not say %q:\n%s", want, out)
		}
	}
	for _, v := range values {
		if strings.Contains(out+errOut, v) {
			t.Errorf("secret check printed a secret value:\n%s%s", out, errOut)
		}
	}

	sm.Put("prod/otter/f5", `{"username":"ottr","password":"`+f5Password+`"}`)
	out, errOut, code = run(t, "", "secret", "check", "--config", cfg, "-o", "json")
	if code != 0 {
		t.Fatalf("secret check with every secret in place: exit %d, want 0\n%s%s", code, out, errOut)
	}
	var report struct {
		References []struct {
			Setting   string  `json:"setting"`
			Line      *int    `json:"line"`
			Reference string  `json:"reference"`
			Store     string  `json:"store"`
			OK        bool    `json:"ok"`
			Error     *string `json:"error"`
		} `json:"references"`
		Failed int `json:"failed"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, out)
	}
	if report.Failed != 0 || len(report.References) != 5 {
		t.Errorf("-o json: %d references, %d failed; want 5 and 0:\n%s", len(report.References), report.Failed, out)
	}
	for _, r := range report.References {
		if !r.OK || r.Error != nil || r.Store != "aws-sm" || r.Line == nil {
			t.Errorf("-o json: %+v, want ok from aws-sm with its line", r)
		}
	}
	for _, v := range values {
		if strings.Contains(out+errOut, v) {
			t.Errorf("secret check -o json printed a secret value:\n%s%s", out, errOut)
		}
	}
}

func TestSecretCheckRefusesAMalformedReference(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte("credentials:\n  panos:\n    username: admin\n    password: aws-sm:#password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "", "secret", "check", "--config", path)
	if code != 2 || !strings.Contains(errOut, path+":4: credentials.panos.password: reference aws-sm:#password names no secret") {
		t.Errorf("secret check of a malformed reference: exit %d, want 2 and the line\n%s%s", code, out, errOut)
	}
}

// squeeze folds runs of spaces, so a table's alignment does not matter.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }
