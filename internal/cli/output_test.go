package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every command that prints records takes -o table, json or yaml, and the
// YAML holds what the JSON holds.
func TestEveryRecordCommandPrintsTableJSONAndYAML(t *testing.T) {
	cfg := workspace(t)
	addAsset(t, cfg, "web.example.com")
	if _, errOut, code := run(t, "Str0ng!pass\n", "-c", cfg, "user", "create", "admin", "--role", "ADMIN"); code != 0 {
		t.Fatalf("user create: exit %d\n%s", code, errOut)
	}
	// A failed rotation, so the rotation commands have one to print.
	if _, _, code := run(t, "", "-c", cfg, "rotate", "web.example.com", "--force"); code != 1 {
		t.Fatalf("the rotation against a CA that is not there: exit %d, want 1", code)
	}
	tests := []struct {
		name string
		args []string
		// inTable is what the table must show.
		inTable string
		// exit is the status the command ends with whatever the format.
		exit int
	}{
		{"asset list", []string{"asset", "list"}, "SYSTEM NAME", 0},
		{"asset get", []string{"asset", "get", "web.example.com"}, "common_name:", 0},
		{"plan", []string{"plan"}, "0 without a route", 0},
		{"route list", []string{"route", "list"}, "panos-9", 0},
		{"route show", []string{"route", "show", "linux"}, "match.platform:", 0},
		{"route test", []string{"route", "test", "web.example.com"}, "-> route 1 linux", 0},
		{"dns plan", []string{"dns", "plan"}, "; _acme-challenge delegations for zones example.com", 0},
		{"rotation list", []string{"rotation", "list"}, "web.example.com", 0},
		{"rotation show", []string{"rotation", "show", "1"}, "state:", 0},
		{"user list", []string{"user", "list"}, "USERNAME", 0},
		{"version", []string{"version"}, "commit", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outputs := map[string]string{}
			for _, format := range []string{"table", "json", "yaml"} {
				args := append([]string{"-c", cfg}, tt.args...)
				out, errOut, code := run(t, "", append(args, "-o", format)...)
				if code != tt.exit {
					t.Fatalf("-o %s: exit %d, want %d\n%s%s", format, code, tt.exit, out, errOut)
				}
				outputs[format] = out
			}
			if !strings.Contains(outputs["table"], tt.inTable) || json.Valid([]byte(outputs["table"])) {
				t.Errorf("the table does not show %q:\n%s", tt.inTable, outputs["table"])
			}
			if out, _, _ := run(t, "", append([]string{"-c", cfg}, tt.args...)...); out != outputs["table"] {
				t.Errorf("without -o it printed something else than the table:\n%s", out)
			}
			var fromJSON, fromYAML any
			if err := json.Unmarshal([]byte(outputs["json"]), &fromJSON); err != nil {
				t.Fatalf("-o json is not JSON: %v\n%s", err, outputs["json"])
			}
			if err := yaml.Unmarshal([]byte(outputs["yaml"]), &fromYAML); err != nil {
				t.Fatalf("-o yaml is not YAML: %v\n%s", err, outputs["yaml"])
			}
			if !reflect.DeepEqual(normalJSON(t, fromJSON), normalJSON(t, fromYAML)) {
				t.Errorf("the YAML says something else than the JSON:\n%s\n%s", outputs["json"], outputs["yaml"])
			}
		})
	}
}

// normalJSON returns v as encoding/json reads it back, so that YAML's
// integers and JSON's numbers compare equal.
func normalJSON(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Where there is no value, the JSON says null, never a word standing for
// none.
func TestJSONSaysNullWhereThereIsNoValue(t *testing.T) {
	cfg := workspace(t)
	mustRun(t, "-c", cfg, "asset", "add", "--system-name", "pa.example.com", "--common-name", "pa.example.com",
		"--ip", "192.0.2.3", "--platform", "panos", "--os-version", "8.0", "--ca", "lets_encrypt")
	var got map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "asset", "get", "pa.example.com", "-o", "json")), &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"certificate_expiration", "certificate_serial", "port", "labels", "last_rotation"} {
		if v, ok := got[key]; !ok || v != nil {
			t.Errorf("asset get: %q is %v (present %v), want null for an asset never rotated", key, v, ok)
		}
	}

	var plan []map[string]any
	planOut := mustRun(t, "-c", cfg, "plan", "-o", "json")
	if err := json.Unmarshal([]byte(planOut), &plan); err != nil || len(plan) != 1 {
		t.Fatalf("plan -o json: %v\n%s", err, planOut)
	}
	for _, key := range []string{"route", "route_index", "driver", "runs_at"} {
		if v, ok := plan[0][key]; !ok || v != nil {
			t.Errorf("plan: %q is %v (present %v), want null for an asset no route takes", key, v, ok)
		}
	}
	if strings.Contains(planOut, "NO ROUTE") {
		t.Errorf("the plan's JSON says NO ROUTE:\n%s", planOut)
	}

	var test map[string]any
	testOut, _, code := run(t, "", "-c", cfg, "route", "test", "pa.example.com", "-o", "json")
	if err := json.Unmarshal([]byte(testOut), &test); err != nil || code != 1 {
		t.Fatalf("route test -o json: exit %d, %v\n%s", code, err, testOut)
	}
	if v, ok := test["route"]; !ok || v != nil {
		t.Errorf("route test: route is %v (present %v), want null", v, ok)
	}

	var routes []struct {
		Name  string
		Match map[string]any
	}
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "route", "list", "-o", "json")), &routes); err != nil || len(routes) != 2 {
		t.Fatalf("route list -o json: %v, %d routes", err, len(routes))
	}
	if m := routes[1].Match; m["platform"] != "linux" || m["os_version"] != nil || m["models"] != nil {
		t.Errorf("route %s matches on %v: want its platform, and null for what it takes any of", routes[1].Name, m)
	}

	addAsset(t, cfg, "web.example.com")
	if _, _, code := run(t, "", "-c", cfg, "rotate", "web.example.com", "--force"); code != 1 {
		t.Fatalf("the rotation against a CA that is not there: exit %d, want 1", code)
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "-c", cfg, "rotation", "show", "1", "-o", "json")), &shown); err != nil {
		t.Fatal(err)
	}
	if shown["state"] != "failed" || shown["failed_step"] != "preflight" || shown["error"] == nil {
		t.Errorf("rotation show: state %v, failed_step %v, error %v", shown["state"], shown["failed_step"], shown["error"])
	}
	if steps, ok := shown["steps"].([]any); !ok || len(steps) != 0 {
		t.Errorf("rotation show: steps %v, want an empty list for a rotation that finished none", shown["steps"])
	}
}

// Files are -f/--file, never -o: asset export and route import write
// theirs there.
func TestFilesAreWrittenWithDashF(t *testing.T) {
	cfg := workspace(t)
	dir := filepath.Dir(cfg)
	addAsset(t, cfg, "web.example.com")
	exported := filepath.Join(dir, "assets.json")
	if out := mustRun(t, "-c", cfg, "asset", "export", "-f", exported); out != "" {
		t.Errorf("asset export -f printed %q", out)
	}
	data, err := os.ReadFile(exported)
	if err != nil || !strings.Contains(string(data), `"system_name": "web.example.com"`) {
		t.Errorf("asset export -f wrote %q (%v)", data, err)
	}

	routeJSON := filepath.Join(dir, "route.json")
	if err := os.WriteFile(routeJSON, []byte(`{"platform": {"panos": {"os": {"9.1.0": {"certificate_authority": {"lets_encrypt": "panos-9"}}}}},
	  "certificate_authorities": ["lets_encrypt"], "hosted_zones": {"example.com": "Z1"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	routes := filepath.Join(dir, "routes.yaml")
	mustRun(t, "-c", cfg, "route", "import", routeJSON, "--file", routes)
	if data, err := os.ReadFile(routes); err != nil || !strings.Contains(string(data), "driver: panos") {
		t.Errorf("route import --file wrote %q (%v)", data, err)
	}
}
