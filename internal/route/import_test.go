package route

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ottr-go/ottr/internal/asset"
)

func TestParseYAML(t *testing.T) {
	routes, err := ParseYAML([]byte(`
routes:
  - name: panos-9
    match: {platform: panos, os_version: "9.*", certificate_authority: lets_encrypt,
            models: [PA-3220, PA-5220]}
    driver: panos
    options: {tls_profile: ottr, commit: partial, retries: 3, nested: {a: b}}
  - match: {platform: linux, data_center: dc1}
    driver: linux
`))
	if err != nil {
		t.Fatalf("ParseYAML: %v", err)
	}
	want := []Route{
		{Name: "panos-9", Match: Match{Platform: "panos", OSVersion: "9.*", CertificateAuthority: "lets_encrypt",
			Models: []string{"PA-3220", "PA-5220"}}, Driver: "panos",
			Options: map[string]any{"tls_profile": "ottr", "commit": "partial", "retries": 3, "nested": map[string]any{"a": "b"}}},
		{Match: Match{Platform: "linux", DataCenter: "dc1"}, Driver: "linux"},
	}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("ParseYAML:\n got %#v\nwant %#v", routes, want)
	}
}

func TestParseYAMLErrors(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"rejects a misspelt match field with its line", "routes:\n  - driver: panos\n    match:\n      plattform: panos\n", "line 4: field plattform not found"},
		{"rejects an unknown top-level key", "rutes: []\n", "line 1: field rutes not found"},
		{"rejects a list where a route is expected", "routes: [panos]\n", "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseYAML([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseYAML error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseYAMLOfAnEmptyFileHasNoRoutes(t *testing.T) {
	routes, err := ParseYAML(nil)
	if err != nil || len(routes) != 0 {
		t.Errorf("ParseYAML(empty) = %v, %v; want no routes and no error", routes, err)
	}
}

// ottrRouteJSON is Ottr's sample route.json with its PENDING platforms
// left out.
const ottrRouteJSON = `{
  "note": {"description": "Routes to trigger certificate renewal."},
  "platform": {
    "panos": {"os": {
      "9.1.0": {"certificate_authority": {"lets_encrypt": "otter-panos-9x-lets-encrypt"}, "model": ["PA-3220", "PA-5220"]},
      "8.1.0": {"certificate_authority": {"lets_encrypt": "otter-panos-8x-lets-encrypt", "digicert": "otter-panos-8x-digicert"}}
    }},
    "f5": {"os": {"14.1.0": {"certificate_authority": {"lets_encrypt": "otter-f5-14x-lets-encrypt"}}}},
    "lighthouse": {"os": {"21.Q2.0": {"certificate_authority": {"lets_encrypt": "otter-lighthouse-21x-lets-encrypt"}}}},
    "Ubuntu": {"os": {"20.04": {"certificate_authority": {"lets_encrypt": "otter-linux-aws-ssm-lets-encrypt"}}}},
    "srx": {"os": {"18.2R3-S1": {"certificate_authority": {"lets_encrypt": "otter-junos-18x-lets-encrypt"}}}},
    "nxos": {"os": {"9.3": {"certificate_authority": {"lets_encrypt": "otter-nxos-9x-lets-encrypt"}}}}
  },
  "certificate_authorities": ["lets_encrypt", "digicert", "lets_encrypt"],
  "certificate_authority_organization": ["Let's Encrypt", "DigiCert Inc"],
  "hosted_zones": {"Example.COM.": "Z1", "example.org": "Z2"}
}`

func TestImportOttr(t *testing.T) {
	imp, err := ImportOttr([]byte(ottrRouteJSON))
	if err != nil {
		t.Fatalf("ImportOttr: %v", err)
	}
	want := Imported{
		CertificateAuthorities: []string{"lets_encrypt", "digicert"},
		Zones:                  []string{"example.com", "example.org"},
	}
	// Sorted by platform (upper case first, as Go sorts), version, CA.
	want.Routes = []Route{
		{Name: "otter-linux-aws-ssm-lets-encrypt", Match: Match{Platform: "Ubuntu", OSVersion: "20.04", CertificateAuthority: "lets_encrypt"}, Driver: "linux"},
		{Name: "otter-f5-14x-lets-encrypt", Match: Match{Platform: "f5", OSVersion: "14.1.0", CertificateAuthority: "lets_encrypt"}, Driver: "bigip"},
		{Name: "otter-lighthouse-21x-lets-encrypt", Match: Match{Platform: "lighthouse", OSVersion: "21.Q2.0", CertificateAuthority: "lets_encrypt"}, Driver: "lighthouse"},
		{Name: "otter-nxos-9x-lets-encrypt", Match: Match{Platform: "nxos", OSVersion: "9.3", CertificateAuthority: "lets_encrypt"}, Driver: "nxos"},
		{Name: "otter-panos-8x-digicert", Match: Match{Platform: "panos", OSVersion: "8.1.0", CertificateAuthority: "digicert"}, Driver: "panos"},
		{Name: "otter-panos-8x-lets-encrypt", Match: Match{Platform: "panos", OSVersion: "8.1.0", CertificateAuthority: "lets_encrypt"}, Driver: "panos"},
		{Name: "otter-panos-9x-lets-encrypt", Match: Match{Platform: "panos", OSVersion: "9.1.0", CertificateAuthority: "lets_encrypt",
			Models: []string{"PA-3220", "PA-5220"}}, Driver: "panos"},
		{Name: "otter-junos-18x-lets-encrypt", Match: Match{Platform: "srx", OSVersion: "18.2R3-S1", CertificateAuthority: "lets_encrypt"}, Driver: "junos"},
	}
	if !reflect.DeepEqual(imp, want) {
		t.Errorf("ImportOttr:\n got %#v\nwant %#v", imp, want)
	}
}

func TestImportedRoutesMatchAsOttrDid(t *testing.T) {
	imp, err := ImportOttr([]byte(ottrRouteJSON))
	if err != nil {
		t.Fatal(err)
	}
	table := mustCompile(t, imp.Routes)
	tests := []struct {
		name  string
		asset asset.Asset
		want  string
	}{
		{"routes an exact platform, version and CA",
			asset.Asset{HostPlatform: "panos", OSVersion: "8.1.0", CertificateAuthority: "digicert"}, "otter-panos-8x-digicert"},
		{"needs a listed model where Ottr listed models",
			asset.Asset{HostPlatform: "panos", OSVersion: "9.1.0", CertificateAuthority: "lets_encrypt", DeviceModel: "PA-220"}, ""},
		{"matches the version exactly, not as a prefix",
			asset.Asset{HostPlatform: "panos", OSVersion: "9.1.0-h3", CertificateAuthority: "lets_encrypt", DeviceModel: "PA-3220"}, ""},
		{"matches a JunOS version literally",
			asset.Asset{HostPlatform: "srx", OSVersion: "18.2R3-S1", CertificateAuthority: "lets_encrypt"}, "otter-junos-18x-lets-encrypt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := table.Match(tt.asset)
			if r.Name != tt.want {
				t.Errorf("Match = %q, want %q", r.Name, tt.want)
			}
		})
	}
}

func TestImportOttrEscapesGlobCharactersInVersions(t *testing.T) {
	imp, err := ImportOttr([]byte(`{"platform": {"x": {"os": {
		"1.[2]": {"certificate_authority": {"ca": "e1"}},
		">=3": {"certificate_authority": {"ca": "e2"}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	table := mustCompile(t, imp.Routes)
	for version, want := range map[string]string{"1.[2]": "e1", ">=3": "e2", "1.2": "", "4": ""} {
		r, _, _ := table.Match(asset.Asset{HostPlatform: "x", OSVersion: version, CertificateAuthority: "ca"})
		if r.Name != want {
			t.Errorf("os_version %q routed to %q, want %q", version, r.Name, want)
		}
	}
}

func TestImportOttrErrors(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"fails on a PENDING platform and names it",
			`{"platform": {"panos": {"os": {}}, "Windows": "PENDING"}}`,
			`platform "Windows" is PENDING: Ottr's placeholder for a platform with no executor yet`},
		{"names every PENDING platform",
			`{"platform": {"Windows": "PENDING", "ios": "PENDING", "nxos": "PENDING"}}`,
			`platforms "Windows", "ios", "nxos" are PENDING`},
		{"fails on a PENDING executor",
			`{"platform": {"panos": {"os": {"9.1.0": {"certificate_authority": {"digicert": "PENDING"}}}}}}`,
			`platform "panos": os "9.1.0": certificate_authority "digicert" has no executor yet`},
		{"fails on another string where a platform belongs",
			`{"platform": {"panos": "soon"}}`,
			`platform "panos": want an object with "os"`},
		{"names an unknown key in a version",
			`{"platform": {"panos": {"os": {"9.1.0": {"certificate_authority": {"ca": "e"}, "models": ["x"]}}}}}`,
			`platform "panos": os "9.1.0": json: unknown field "models"`},
		{"names an unknown top-level key",
			`{"platform": {}, "routes": []}`, `unknown field "routes"`},
		{"fails on a version with no executors",
			`{"platform": {"panos": {"os": {"9.1.0": {}}}}}`, `os "9.1.0": no certificate_authority executors`},
		{"fails on a file without platforms",
			`{"routes": []}`, `unknown field "routes"`},
		{"fails on a file that is not route.json",
			`{}`, `no "platform" object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportOttr([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ImportOttr error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestImportedRoutesReadBackFromYAML(t *testing.T) {
	imp, err := ImportOttr([]byte(ottrRouteJSON))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(map[string]any{"routes": imp.Routes})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "options") || strings.Contains(string(out), "data_center") {
		t.Errorf("YAML holds empty fields:\n%s", out)
	}
	back, err := ParseYAML(out)
	if err != nil {
		t.Fatalf("ParseYAML of the written routes: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, imp.Routes) {
		t.Errorf("routes changed through YAML:\n got %#v\nwant %#v", back, imp.Routes)
	}
}

func TestImportOttrSyntaxErrorsGiveLineAndColumn(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
	}{
		{"a missing comma between two platforms",
			"{\"platform\": {\n  \"panos\": {\"os\": {}}\n  \"f5\": {\"os\": {}}\n}}",
			`line 3, column 3: invalid character '"' after object key:value pair`},
		{"a trailing comma",
			"{\"platform\": {\n  \"panos\": {\"os\": {}},\n}}",
			`line 3, column 1: invalid character '}' looking for beginning of object key string`},
		{"a value of the wrong type",
			"{\"platform\": {},\n \"certificate_authorities\": \"lets_encrypt\"}",
			`line 2, column 42: json: cannot unmarshal string into Go struct field`},
		{"a file cut short",
			"{\"platform\": {\n  \"panos\": {\"os\": {}}",
			`line 2, column 22: unexpected EOF`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ImportOttr([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ImportOttr error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
