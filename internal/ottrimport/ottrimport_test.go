package ottrimport_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/ottrimport"
)

// baseConfig is an operator's ottr.yaml before the import: the CA and the
// zone Ottr used, nothing routed yet.
const baseConfig = `data_dir: data
certificate_authorities:
  lets_encrypt:
    preset: letsencrypt
    email: pki@example.com
dns:
  zones:
    example.com: example-acme.com
`

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func accountFiles(t *testing.T) *ottrimport.AccountFiles {
	t.Helper()
	return &ottrimport.AccountFiles{
		Key: read(t, "acme.sh/account.key"), JSON: read(t, "acme.sh/account.json"), CAConf: read(t, "acme.sh/ca.conf"),
		KeyName: "account.key", JSONName: "account.json", CAConfName: "ca.conf",
	}
}

// input is the fixture deployment: four devices of Ottr's four platforms,
// a route.json with a PENDING platform, and an acme.sh account.
func input(t *testing.T) ottrimport.Input {
	t.Helper()
	return ottrimport.Input{
		Items: read(t, "dynamodb-scan.json"), ItemsName: "scan.json",
		RouteJSON: read(t, "route.json"), RouteJSONName: "route.json",
		SecretsPrefix: "prod", AWSRegion: "us-east-1", KeyType: asset.KeyRSA2048,
		Account: accountFiles(t),
		Drivers: app.Drivers("").Names(),
	}
}

func TestBuildMapsOttrsPlatformsToDrivers(t *testing.T) {
	plan, err := ottrimport.Build(input(t))
	if err != nil {
		t.Fatal(err)
	}
	drivers := map[string]string{}
	for _, r := range plan.Routes {
		drivers[r.Match.Platform] = r.Driver
	}
	want := map[string]string{"panos": "panos", "f5": "bigip", "lighthouse": "lighthouse", "linux": "linux-ssm"}
	if diff := diff(want, drivers); diff != "" {
		t.Errorf("drivers by platform (want, got):\n%s", diff)
	}
	for _, r := range plan.Routes {
		if r.Match.Platform == "f5" && r.Options["target"] != "httpd" {
			t.Errorf("the f5 route's options are %v: Ottr's F5 container replaced the management interface's certificate (target httpd)", r.Options)
		}
		if r.Match.Platform == "linux" && r.Options["region"] != "us-east-1" {
			t.Errorf("the linux route's options are %v, want the region given", r.Options)
		}
	}
	if diff := diff([]string{"Windows"}, plan.Pending); diff != "" {
		t.Errorf("pending platforms (want, got):\n%s", diff)
	}
	wantCreds := map[string]ottrimport.Credential{
		"otter-panos":      {Username: "aws-sm:prod/otter/panos#username", Password: "aws-sm:prod/otter/panos#password"},
		"otter-f5":         {Username: "aws-sm:prod/otter/f5#username", Password: "aws-sm:prod/otter/f5#password"},
		"otter-lighthouse": {Username: "aws-sm:prod/otter/lighthouse#username", Password: "aws-sm:prod/otter/lighthouse#password"},
		"otter-ssm":        {},
	}
	if diff := diff(wantCreds, plan.Credentials); diff != "" {
		t.Errorf("credentials (want, got):\n%s", diff)
	}
	creds := map[string]string{}
	for _, a := range plan.Assets() {
		creds[a.SystemName] = a.Credentials
		if a.KeyType != asset.KeyRSA2048 {
			t.Errorf("%s: key_type %q, want Ottr's rsa2048", a.SystemName, a.KeyType)
		}
	}
	wantAssetCreds := map[string]string{
		"fw1.example.com": "otter-panos", "lb1.example.com": "otter-f5",
		"console1.example.com": "otter-lighthouse", "web1.example.com": "otter-ssm",
	}
	if diff := diff(wantAssetCreds, creds); diff != "" {
		t.Errorf("credentials by asset (want, got):\n%s", diff)
	}
	if plan.Account == nil || plan.Account.URL != "https://acme-v02.api.letsencrypt.org/acme/acct/123456789" || plan.Account.Email != "pki@example.com" {
		t.Errorf("account = %+v, want ca.conf's ACCOUNT_URL and CA_EMAIL", plan.Account)
	}
}

// The section merged into the operator's config loads with config.Load,
// routes every asset, and holds references only.
func TestSectionLoadsMergedIntoTheConfig(t *testing.T) {
	plan, err := ottrimport.Build(input(t))
	if err != nil {
		t.Fatal(err)
	}
	section, err := plan.Section("scan.json")
	if err != nil {
		t.Fatal(err)
	}
	merged, err := ottrimport.Merge([]byte(baseConfig), section)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ottr.yaml")
	if err := os.WriteFile(path, merged, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load of the merged config: %v\n%s", err, merged)
	}
	if got := len(cfg.Routes); got != 4 {
		t.Errorf("%d routes loaded, want 4", got)
	}
	if got := cfg.Credentials["otter-panos"].Password; got != "aws-sm:prod/otter/panos#password" {
		t.Errorf("otter-panos password = %q, want the aws-sm: reference", got)
	}
	checked, err := plan.Check(path, []byte(baseConfig), section, app.CompileRoutes, "lets_encrypt")
	if err != nil {
		t.Fatal(err)
	}
	if len(checked.Assets) != 4 || len(checked.Unrouted) != 0 {
		t.Errorf("checked %d assets with %v unrouted, want 4 all routed", len(checked.Assets), checked.Unrouted)
	}
	// Nothing of the account key is in the section.
	key := string(read(t, "acme.sh/account.key"))
	body := strings.Split(strings.TrimSpace(key), "\n")[1]
	if strings.Contains(string(section), body) || strings.Contains(string(section), "PRIVATE KEY") {
		t.Errorf("the section holds the account key:\n%s", section)
	}

	// Merged twice, as when the import runs again after the operator
	// merged it, the section adds nothing more.
	again, err := ottrimport.Merge(merged, section)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := config.Parse(again, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(twice.Routes) != 4 {
		t.Errorf("merged twice: %d routes, want 4", len(twice.Routes))
	}
}

func TestMergeRefusesAConflictingCredential(t *testing.T) {
	base := baseConfig + "credentials:\n  otter-panos:\n    username: admin\n    password: env:PANOS_PASSWORD\n"
	plan, err := ottrimport.Build(input(t))
	if err != nil {
		t.Fatal(err)
	}
	section, err := plan.Section("scan.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ottrimport.Merge([]byte(base), section)
	if err == nil || !strings.Contains(err.Error(), "credentials.otter-panos.username") {
		t.Errorf("merge error = %v, want one naming credentials.otter-panos.username", err)
	}
}

// Every shape of export the AWS tools write reads as the same assets.
func TestReadItemsReadsEveryExportShape(t *testing.T) {
	scan, err := ottrimport.ReadItems(read(t, "dynamodb-scan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Items []json.RawMessage }
	if err := json.Unmarshal(read(t, "dynamodb-scan.json"), &doc); err != nil {
		t.Fatal(err)
	}
	array, err := json.Marshal(doc.Items)
	if err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for _, it := range doc.Items {
		line, err := json.Marshal(map[string]json.RawMessage{"Item": it})
		if err != nil {
			t.Fatal(err)
		}
		lines.Write(append(line, '\n'))
	}
	for _, tc := range []struct {
		name, data, where string
	}{
		{"a JSON array of items", string(array), "item 4"},
		{"a DynamoDB export to S3, one item a line", lines.String(), "line 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ottrimport.ReadItems([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if diff := diff(assetsOf(scan), assetsOf(got)); diff != "" {
				t.Errorf("assets differ from the scan's (scan, got):\n%s", diff)
			}
			if got[3].Where != tc.where {
				t.Errorf("the last item is %q, want %q", got[3].Where, tc.where)
			}
		})
	}
}

func assetsOf(items []ottrimport.Item) []asset.Asset {
	out := make([]asset.Asset, len(items))
	for i, it := range items {
		out[i] = it.Asset
	}
	return out
}

// Each bad input is one clear error naming the file and the item, and
// Build returns no plan, so nothing can be written.
func TestBadInputIsNamed(t *testing.T) {
	withItem := func(t *testing.T, in *ottrimport.Input, platform string) {
		var doc map[string]any
		if err := json.Unmarshal(in.Items, &doc); err != nil {
			t.Fatal(err)
		}
		items := doc["Items"].([]any)
		extra := map[string]any{}
		for k, v := range items[0].(map[string]any) {
			extra[k] = v
		}
		extra["system_name"] = map[string]any{"S": "odd1.example.com"}
		extra["host_platform"] = map[string]any{"S": platform}
		doc["Items"] = append(items, extra)
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		in.Items = data
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, in *ottrimport.Input)
		want   []string
	}{
		{
			name:   "an item of a platform route.json does not know",
			change: func(t *testing.T, in *ottrimport.Input) { withItem(t, in, "netscaler") },
			want:   []string{"scan.json: item 5 (odd1.example.com)", `host_platform "netscaler" is not a platform of route.json`},
		},
		{
			name:   "an item of a platform route.json marks PENDING",
			change: func(t *testing.T, in *ottrimport.Input) { withItem(t, in, "Windows") },
			want:   []string{"scan.json: item 5 (odd1.example.com)", `"Windows" is PENDING`, "script driver"},
		},
		{
			name: "an item that is not an item",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.Items = []byte(`{"Items": [{"system_name": {"S": "a.example.com"}, "colour": {"S": "red"}}]}`)
			},
			want: []string{"scan.json: item 1", `"colour"`, "unknown field"},
		},
		{
			name:   "an export cut short",
			change: func(t *testing.T, in *ottrimport.Input) { in.Items = in.Items[:len(in.Items)/2] },
			want:   []string{"scan.json: not JSON"},
		},
		{
			name: "an account key cut short",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.Account.Key = in.Account.Key[:len(in.Account.Key)-40]
			},
			want: []string{"account.key: no PEM private key", "cut short"},
		},
		{
			name: "an account key that is a certificate",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.Account.Key = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
			},
			want: []string{"account.key", `"CERTIFICATE" block, not a private key`},
		},
		{
			name:   "an account.json that is not JSON",
			change: func(t *testing.T, in *ottrimport.Input) { in.Account.JSON = in.Account.JSON[:20] },
			want:   []string{"account.json: not a JSON object"},
		},
		{
			name: "an account.json of another account",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.Account.JSON = []byte(`{"key": {"kty": "EC", "crv": "P-256", "x": "AQ", "y": "AQ"}, "status": "valid"}`)
			},
			want: []string{"account.json: its key is not account.key's"},
		},
		{
			name:   "a deactivated account",
			change: func(t *testing.T, in *ottrimport.Input) { in.Account.JSON = []byte(`{"status": "deactivated"}`) },
			want:   []string{"account.json", `status is "deactivated"`},
		},
		{
			name: "a ca.conf without ACCOUNT_URL",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.Account.CAConf = []byte("CA_EMAIL='pki@example.com'\n")
			},
			want: []string{"ca.conf: no ACCOUNT_URL"},
		},
		{
			name: "a ca.conf cut short in a value",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.Account.CAConf = []byte("ACCOUNT_URL='https://acme-v02.api.letsen")
			},
			want: []string{"ca.conf: line 1: ACCOUNT_URL", "cut short"},
		},
		{
			name:   "a route.json that is not Ottr's",
			change: func(t *testing.T, in *ottrimport.Input) { in.RouteJSON = []byte(`{"routes": [{"driver": "panos"}]}`) },
			want:   []string{"route.json", `unknown field "routes"`},
		},
		{
			name: "a route.json without platforms",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.RouteJSON = []byte(`{"certificate_authorities": ["lets_encrypt"]}`)
			},
			want: []string{"route.json", `no "platform" object`},
		},
		{
			name: "a platform ottr has no driver for",
			change: func(t *testing.T, in *ottrimport.Input) {
				in.RouteJSON = []byte(`{"platform": {"netscaler": {"os": {"13.0": {"certificate_authority": {"lets_encrypt": "otter-netscaler-13"}}}}}}`)
			},
			want: []string{"route.json", `platform "netscaler"`, "no driver"},
		},
		{
			name:   "no region for the hosts Ottr reached through SSM",
			change: func(t *testing.T, in *ottrimport.Input) { in.AWSRegion = "" },
			want:   []string{"route.json", `platform "linux"`, "--aws-region"},
		},
		{
			name:   "no secrets prefix",
			change: func(t *testing.T, in *ottrimport.Input) { in.SecretsPrefix = "" },
			want:   []string{"--secrets-prefix: required"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input(t)
			tc.change(t, &in)
			plan, err := ottrimport.Build(in)
			if err == nil {
				t.Fatalf("Build succeeded with %d assets", len(plan.Items))
			}
			if plan != nil {
				t.Errorf("Build returned a plan with its error")
			}
			for _, want := range append(tc.want, "nothing imported") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			// The key's secret never shows.
			keyLines := strings.Split(strings.TrimSpace(string(read(t, "acme.sh/account.key"))), "\n")
			for _, line := range keyLines[1 : len(keyLines)-1] {
				if strings.Contains(err.Error(), line) {
					t.Errorf("the error quotes the account key:\n%v", err)
				}
			}
		})
	}
}

// All problems are reported at once, each naming its file.
func TestEveryProblemIsReportedAtOnce(t *testing.T) {
	in := input(t)
	in.Account.JSON = []byte("{")
	in.Account.CAConf = []byte("CA_EMAIL='x'\n")
	in.RouteJSON = []byte(`{"platform": []}`)
	_, err := ottrimport.Build(in)
	var problems *ottrimport.Problems
	if !errors.As(err, &problems) || len(problems.Errs) != 3 {
		t.Fatalf("error = %v, want three problems", err)
	}
	for _, file := range []string{"route.json:", "account.json:", "ca.conf:"} {
		if !slices.ContainsFunc(problems.Errs, func(e error) bool { return strings.HasPrefix(e.Error(), file) }) {
			t.Errorf("no problem starts with %q:\n%v", file, err)
		}
	}
}

// An account of Let's Encrypt's staging CA does not go into a profile of
// its production CA.
func TestAccountMustBelongToTheProfilesCA(t *testing.T) {
	acct, err := ottrimport.ParseAccount(*accountFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := acct.CheckCA("https://acme-v02.api.letsencrypt.org/directory"); err != nil {
		t.Errorf("the production account against the production directory: %v", err)
	}
	err = acct.CheckCA("https://acme-staging-v02.api.letsencrypt.org/directory")
	if err == nil || !strings.Contains(err.Error(), "registered at https://acme-v02.api.letsencrypt.org") {
		t.Errorf("against the staging directory: error = %v, want one naming where the account was registered", err)
	}
}

// diff describes want and got when they differ, and is empty when not.
func diff(want, got any) string {
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("%+v\n%+v", want, got)
}
