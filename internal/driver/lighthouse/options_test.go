package lighthouse

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsAreValidatedWithTheOptionAndTheRuleNamed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options map[string]any
		want    []string
	}{
		{"an unknown option like none of them", map[string]any{"token": "x"}, []string{`option "token": unknown option (known: api_port, ca_file`}},
		{"a misspelt option", map[string]any{"api_prot": 443}, []string{`option "api_prot": unknown option (did you mean "api_port"?)`}},
		{"a port out of range", map[string]any{"api_port": 70000}, []string{`option "api_port": must be between 1 and 65535, got 70000`}},
		{"a port that is not a number", map[string]any{"api_port": "https"}, []string{`option "api_port": must be a whole number, got "https"`}},
		{"a fractional port from JSON", map[string]any{"api_port": 443.5}, []string{`option "api_port": must be a whole number`}},
		{"an empty ca_file", map[string]any{"ca_file": " "}, []string{`option "ca_file": must name a PEM file`}},
		{"a ca_file that is not a string", map[string]any{"ca_file": 3}, []string{`option "ca_file": must be a string, got int 3`}},
		{"a tls_server_name with a space", map[string]any{"tls_server_name": "a b"}, []string{`option "tls_server_name": must be a host name or IP address`}},
		{"a restart_timeout that is no duration", map[string]any{"restart_timeout": "soon"}, []string{`option "restart_timeout": must be a duration such as "90s" or "10m", or a number of seconds, got "soon"`}},
		{"a negative restart_settle", map[string]any{"restart_settle": "-1s"}, []string{`option "restart_settle": must be positive`}},
		{"a settle time as long as the timeout", map[string]any{"restart_timeout": "10s", "restart_settle": "10s"}, []string{`option "restart_settle": must be shorter than restart_timeout (10s), got 10s`}},
		{"sans that is not a boolean", map[string]any{"sans": "no"}, []string{`option "sans": must be true or false, got "no"`}},
		{"a country that is not a code", map[string]any{"country": "Australia"}, []string{`option "country": must be a two-letter upper-case ISO 3166 code`}},
		{"an e-mail without a domain", map[string]any{"email": "pki@"}, []string{`option "email": must be an e-mail address, got "pki@"`}},
		{"an organization on two lines", map[string]any{"organization": "a\nb"}, []string{`option "organization": must be a single line`}},
		{"several problems at once", map[string]any{"api_port": 0, "sans": 1, "bogus": true}, []string{`"bogus"`, `"api_port"`, `"sans"`}},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			err := New(Config{}).ValidateOptions(tc.options)
			if err == nil {
				t.Fatal("ValidateOptions accepted the options")
			}
			if !strings.HasPrefix(err.Error(), "lighthouse: options: ") {
				t.Errorf("error %q lacks the layer prefix", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestOptionsDefaultsAndAcceptedForms(t *testing.T) {
	o, err := parseOptions(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if o.APIPort != 443 || o.RestartTimeout != 3*time.Minute || o.RestartSettle != 5*time.Second || !o.SANs {
		t.Errorf("defaults = %+v", o)
	}
	o, err = parseOptions(map[string]any{
		"api_port": "8443", "ca_file": "/etc/ottr/roots.pem", "tls_server_name": "lh.example.com",
		"restart_timeout": 90, "restart_settle": "2s", "sans": false,
		"country": "AU", "state": "QLD", "locality": "Brisbane", "organization": "Example",
		"org_unit": "NetOps", "email": "pki@example.com",
	})
	if err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	want := subjectFields{Country: "AU", State: "QLD", Locality: "Brisbane", Organization: "Example", OrgUnit: "NetOps", Email: "pki@example.com"}
	if o.APIPort != 8443 || o.RestartTimeout != 90*time.Second || o.SANs || o.Subject != want || o.TLSServerName != "lh.example.com" {
		t.Errorf("parsed = %+v", o)
	}
}
