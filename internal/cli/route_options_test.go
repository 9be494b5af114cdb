package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A route option problem is told once, on the line of the option, as the
// config's own problems are: not wrapped in layers, not followed by what
// it causes.
func TestRouteOptionProblemsAreToldOnceAtTheirLines(t *testing.T) {
	const head = `data_dir: data
certificate_authorities:
  lets_encrypt:
    directory: https://127.0.0.1:1/directory
routes:
`
	for _, tc := range []struct {
		name   string
		routes string
		// want is what ottr prints, FILE standing for the config's path.
		want []string
	}{
		{"a misspelt option, without the required option it stands for", `
  - name: linux-web
    driver: linux
    options:
      cert_path: /etc/ssl/site.pem
      key_path: /etc/ssl/site.key
      reload_cmd: systemctl reload nginx
`, []string{`FILE:11: routes[0].options.reload_cmd: unknown option (did you mean "reload_command"?)`}},
		{"an option of the wrong kind", `
  - name: firewall
    driver: panos
    options:
      api_port: https
`, []string{`FILE:9: routes[0].options.api_port: must be a whole number, got "https"`}},
		{"a missing required option, at the route's options", `
  - name: linux-web
    driver: linux
    options:
      key_path: /etc/ssl/site.key
      reload_command: systemctl reload nginx
`, []string{`FILE:8: routes[0].options.cert_path: is required: the absolute path of the file that receives the leaf followed by its chain, such as /etc/nginx/ssl/site.pem`}},
		{"two problems in one route, each at its line", `
  - name: firewall
    driver: panos
    options:
      api_port: 70000
      comit_timeout: 10m
`, []string{
			`FILE:9: routes[0].options.api_port: must be between 1 and 65535, got 70000`,
			`FILE:10: routes[0].options.comit_timeout: unknown option (did you mean "commit_timeout"?)`,
		}},
		{"a problem in the second route", `
  - name: linux-web
    driver: linux
    options: {cert_path: /etc/ssl/site.pem, key_path: /etc/ssl/site.key, reload_command: "true"}
  - name: switch
    driver: junos
    options:
      ca_file: /etc/ottr/ca.pem
`, []string{`FILE:12: routes[1].options.ca_file: not used by the junos driver: it talks NETCONF over SSH (port: netconf_port), ` +
			`and the device is authenticated by its SSH host key in known_hosts, not by TLS`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "ottr.yaml")
			if err := os.WriteFile(cfg, []byte(head+strings.TrimPrefix(tc.routes, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := run(t, "", "-c", cfg, "plan")
			want := "ottr: " + strings.ReplaceAll(strings.Join(tc.want, "\n"), "FILE", cfg) + "\n"
			if code != 2 || errOut != want {
				t.Errorf("ottr plan exited %d and printed\n%s%s\nwant exit status 2 and\n%s", code, out, errOut, want)
			}
		})
	}
}

// A route's host key, which decides which assets take a device in turns,
// is shown by route show: as its template, or as the driver's own key
// when the route sets none.
func TestRouteShowTellsTheHostKey(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ottr.yaml")
	if err := os.WriteFile(cfg, []byte(`data_dir: data
certificate_authorities:
  lets_encrypt:
    directory: https://127.0.0.1:1/directory
routes:
  - name: web-vhosts
    driver: linux
    host: '{{label "machine"}}'
    options: {cert_path: /etc/ssl/site.pem, key_path: /etc/ssl/site.key, reload_command: "true"}
  - name: firewall
    driver: panos
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ route, want string }{
		{"web-vhosts", `host: {{label "machine"}}`},
		{"firewall", "host: (the driver's device key)"},
	} {
		out, errOut, code := run(t, "", "-c", cfg, "route", "show", tc.route)
		// Fields are aligned in columns: compare with the spaces folded.
		if code != 0 || !strings.Contains(strings.Join(strings.Fields(out), " "), tc.want) {
			t.Errorf("ottr route show %s exited %d and printed\n%s%s\nwant a line %q", tc.route, code, out, errOut, tc.want)
		}
	}
	out, _, code := run(t, "", "-c", cfg, "route", "show", "web-vhosts", "-o", "json")
	if code != 0 || !strings.Contains(out, `"host": "{{label \"machine\"}}"`) {
		t.Errorf("ottr route show -o json exited %d and printed\n%s\nwant the host template", code, out)
	}
}
