package bigip

import (
	"strings"
	"testing"
)

func TestValidateOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		options map[string]any
		want    []string // substrings of the error; none means valid
	}{
		{"accepts a client-ssl profile", map[string]any{"profile": "www_clientssl"}, nil},
		{"accepts the management interface", map[string]any{"target": "httpd"}, nil},
		{"accepts every option", map[string]any{
			"target": "client-ssl", "profile": "www.example.com_clientssl", "partition": "Tenant_A",
			"cert_key_chain": "www_0", "api_port": 8443, "ca_file": "/etc/ottr/bigip-ca.pem",
			"tls_server_name": "bigip1.example.com", "login_provider": "ldap",
		}, nil},
		{"accepts a port decoded from JSON as a float", map[string]any{"profile": "p", "api_port": float64(8443)}, nil},
		{"requires a profile for client-ssl", map[string]any{}, []string{`"profile": is required with target "client-ssl"`}},
		{"refuses a profile for httpd", map[string]any{"target": "httpd", "profile": "p"}, []string{`"profile": applies to target "client-ssl" only`}},
		{"refuses a certKeyChain entry for httpd", map[string]any{"target": "httpd", "cert_key_chain": "x"}, []string{`"cert_key_chain": applies to target "client-ssl" only`}},
		{"refuses an unknown target", map[string]any{"target": "server-ssl"}, []string{`"target": must be "client-ssl"`, `"httpd"`}},
		{"refuses a profile given as a full path", map[string]any{"profile": "/Common/p"}, []string{`"profile": must be a BIG-IP name`}},
		{"refuses a partition with spaces", map[string]any{"profile": "p", "partition": "my tenant"}, []string{`"partition": must be a BIG-IP name`}},
		{"refuses a port out of range", map[string]any{"profile": "p", "api_port": 0}, []string{`"api_port": must be between 1 and 65535`}},
		{"refuses a fractional port", map[string]any{"profile": "p", "api_port": 443.5}, []string{`"api_port": must be a whole number`}},
		{"refuses an empty ca_file", map[string]any{"profile": "p", "ca_file": " "}, []string{`"ca_file": must be the path of a PEM file`}},
		{"refuses a server name with a path", map[string]any{"profile": "p", "tls_server_name": "a.example/b"}, []string{`"tls_server_name": must be a DNS name`}},
		{"refuses a login provider with a slash", map[string]any{"profile": "p", "login_provider": "a/b"}, []string{`"login_provider": must be a BIG-IP name`}},
		{"refuses an unknown option, naming the known ones", map[string]any{"profile": "p", "port": 443}, []string{`"port": unknown option`, "api_port"}},
		{"reports every bad option at once", map[string]any{"api_port": "x", "target": 1}, []string{"api_port", "target"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := New(Config{}).ValidateOptions(tc.options)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ValidateOptions: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ValidateOptions accepted the options")
			}
			if !strings.HasPrefix(err.Error(), "bigip: options: ") {
				t.Errorf("error %q lacks the driver prefix", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestOptionDefaults(t *testing.T) {
	o, err := parseOptions(map[string]any{"profile": "p"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Target != targetClientSSL || o.Partition != "Common" || o.APIPort != 443 || o.LoginProvider != "tmos" {
		t.Errorf("defaults are %+v, want client-ssl in Common on port 443 with provider tmos", o)
	}
	if got := o.profilePath(); got != "/Common/p" {
		t.Errorf("profile path %q, want /Common/p", got)
	}
}
