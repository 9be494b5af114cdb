package config

import (
	"testing"
	"time"
)

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "names an unknown setting, its section and line, and suggests the closest",
			yaml: "workers:\n  concurency: 10\n",
			want: []string{`ottr.yaml:2: workers: unknown setting "concurency" (did you mean "concurrency"?)`},
		},
		{
			name: "suggests the underscore spelling of a hyphenated setting",
			yaml: "workers:\n  job-timeout: 5m\n",
			want: []string{`ottr.yaml:2: workers: unknown setting "job-timeout" (did you mean "job_timeout"?)`},
		},
		{
			name: "lists the known settings when none is close",
			yaml: "scheduler:\n  frobnicate: true\n",
			want: []string{`ottr.yaml:2: scheduler: unknown setting "frobnicate" (known settings here: batch, interval)`},
		},
		{
			name: "finds an unknown top-level setting",
			yaml: "data_dir: x\ndata_dri: y\n",
			want: []string{`ottr.yaml:2: unknown setting "data_dri" (did you mean "data_dir"?)`},
		},
		{
			name: "finds an unknown setting inside a CA profile",
			yaml: "certificate_authorities:\n  le:\n    directry: https://acme.example/dir\n",
			want: []string{
				"ottr.yaml:2: certificate_authorities.le.directory: is required: the CA's ACME directory URL, such as https://acme-v02.api.letsencrypt.org/directory, or a preset (digicert, google, google-staging, letsencrypt, letsencrypt-staging, sslcom-ecc, sslcom-rsa, zerossl)",
				`ottr.yaml:3: certificate_authorities.le: unknown setting "directry" (did you mean "directory"?)`,
			},
		},
		{
			name: "finds an unknown setting inside a route's match",
			yaml: "routes:\n  - driver: linux\n    match:\n      platfrom: linux\n",
			want: []string{`ottr.yaml:4: routes[0].match: unknown setting "platfrom" (did you mean "platform"?)`},
		},
		{
			name: "rejects Go field names that are not the YAML names",
			yaml: "workers:\n  JobTimeout: 5m\n",
			want: []string{`ottr.yaml:2: workers: unknown setting "JobTimeout" (did you mean "job_timeout"?)`},
		},
		{
			name: "does not accept the warnings field from the file",
			yaml: "warnings: [x]\n",
			want: []string{`ottr.yaml:1: unknown setting "warnings" (known settings here: api, certificate_authorities, credentials, data_dir, database, dns, known_hosts_file, log, master_key_file, metrics, notifications, policy, routes, scheduler, secrets, workers)`},
		},
		{
			name: "names the line and field of a word where a number belongs",
			yaml: "\nworkers:\n  concurrency: many\n",
			want: []string{`ottr.yaml:3: workers.concurrency: expected a whole number, got "many"`},
		},
		{
			name: "names the line and field of a fraction where a whole number belongs",
			yaml: "policy:\n  fixed_days: 1.5\n",
			want: []string{`ottr.yaml:2: policy.fixed_days: expected a whole number, got "1.5"`},
		},
		{
			name: "names the line and field of a word where a fraction belongs",
			yaml: "policy:\n  renew_fraction: third\n",
			want: []string{`ottr.yaml:2: policy.renew_fraction: expected a number, got "third"`},
		},
		{
			name: "names a list where text belongs",
			yaml: "data_dir: [a, b]\n",
			want: []string{"ottr.yaml:1: data_dir: expected a text value, found a list"},
		},
		{
			name: "names a single value where a list belongs",
			yaml: "dns:\n  resolvers: 192.0.2.53:53\n",
			want: []string{`ottr.yaml:2: dns.resolvers: expected a list, found "192.0.2.53:53"`},
		},
		{
			name: "names a value where a section belongs",
			yaml: "workers: 10\n",
			want: []string{`ottr.yaml:1: workers: expected a mapping of settings, found "10"`},
		},
		{
			name: "names a list where a map of profiles belongs",
			yaml: "certificate_authorities:\n  - le\n",
			want: []string{"ottr.yaml:2: certificate_authorities: expected a mapping of names to settings, found a list"},
		},
		{
			name: "names driver options that are not a mapping",
			yaml: "routes:\n  - driver: linux\n    options: [sudo]\n",
			want: []string{"ottr.yaml:3: routes[0].options: expected a mapping, found a list"},
		},
		{
			name: "rejects a file that is a list",
			yaml: "- a\n- b\n",
			want: []string{"ottr.yaml:1: expected a mapping of settings, found a list"},
		},
		{
			name: "rejects a duration without a unit",
			yaml: "scheduler:\n  interval: 300\n",
			want: []string{`ottr.yaml:2: scheduler.interval: duration "300" has no unit: write for example "300s", "300m" or "300h"`},
		},
		{
			name: "rejects a duration in words",
			yaml: "workers:\n  job_timeout: ten minutes\n",
			want: []string{`ottr.yaml:2: workers.job_timeout: invalid duration "ten minutes": write a number with a unit, such as "90s", "5m", "24h" or "30d"`},
		},
		{
			name: "rejects a duration given as a section",
			yaml: "policy:\n  jitter: {minutes: 5}\n",
			want: []string{`ottr.yaml:2: policy.jitter: expected a duration such as "5m", found a mapping`},
		},
		{
			name: "rejects a setting written twice",
			yaml: "workers:\n  concurrency: 5\n  concurrency: 6\n",
			want: []string{`ottr.yaml:3: workers: "concurrency" is set twice (first on line 2)`},
		},
		{
			name: "rejects a CA profile written twice",
			yaml: validCA + "  le:\n    directory: https://acme.example/other\n",
			want: []string{`ottr.yaml:4: certificate_authorities: "le" is set twice (first on line 2)`},
		},
		{
			name: "gives the line of an unclosed list",
			yaml: "workers:\n  concurrency: [1\n",
			want: []string{"ottr.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		},
		{
			name: "gives the line of a badly indented setting",
			yaml: "workers:\n  concurrency: 5\n job_timeout: 5m\n",
			want: []string{"ottr.yaml:3: invalid YAML: did not find expected key: this line is indented 1 space and line 2 above it 2; the settings of one block line up, so one of the two is off"},
		},
		{
			name: "gives the line of a tab in the indentation",
			yaml: "workers:\n\tconcurrency: 5\n",
			want: []string{"ottr.yaml:2: invalid YAML: a tab indents this line, and YAML indents with spaces only: replace the tab with spaces (found character that cannot start any token)"},
		},
		{
			name: "names an alias to an anchor that does not exist",
			yaml: "workers: *nope\n",
			want: []string{"ottr.yaml: invalid YAML: unknown anchor 'nope' referenced"},
		},
		{
			name: "rejects an alias to a value that contains it",
			yaml: "routes: &r\n  - driver: linux\n    match: *r\n",
			want: []string{"ottr.yaml:1: routes[0].match: expected a mapping of settings, found a list"},
		},
		{
			name: "rejects a mapping that merges itself",
			yaml: "workers: &w\n  <<: *w\n",
			want: []string{"ottr.yaml:2: workers: << merges *w into itself"},
		},
		{
			name: "rejects a merge of something that is not a mapping",
			yaml: "workers:\n  <<: [5]\n",
			want: []string{"ottr.yaml:2: workers: << must merge a mapping or a list of mappings, not a value"},
		},
		{
			name: "rejects a setting name that is a list",
			yaml: "workers:\n  [a]: 5\n",
			want: []string{"ottr.yaml:2: workers: a setting name must be a plain word, not a list"},
		},
		{
			name: "rejects driver options that contain themselves",
			yaml: "routes:\n  - driver: linux\n    options: &o {a: *o}\n",
			want: []string{"ottr.yaml:3: routes[0].options: anchor 'o' value contains itself"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, tt.yaml, tt.want...)
		})
	}
}

func TestDecodeValues(t *testing.T) {
	t.Run("reads anchors, aliases and merge keys", func(t *testing.T) {
		c, err := Parse([]byte(`
certificate_authorities:
  le: &le
    directory: https://acme.example/dir
    email: pki@example.com
  le2:
    <<: *le
    email: other@example.com
routes:
  - &linux
    driver: linux
    options: &opts {sudo: true, ssh_port: 2222}
  - <<: *linux
    name: second
    options:
      <<: *opts
      ssh_port: 22
`), "ottr.yaml")
		if err != nil {
			t.Fatal(err)
		}
		le2 := c.CertificateAuthorities["le2"]
		if le2.Directory != "https://acme.example/dir" || le2.Email != "other@example.com" {
			t.Errorf("le2 = %+v, want the merged directory and its own email", le2)
		}
		second := c.Routes[1]
		if len(c.Routes) != 2 {
			t.Fatalf("routes = %+v", c.Routes)
		}
		if second.Driver != "linux" || second.Name != "second" || second.Options["ssh_port"] != 22 || second.Options["sudo"] != true {
			t.Errorf("second route = %+v", second)
		}
	})
	t.Run("merges a list of mappings, the first winning", func(t *testing.T) {
		c, err := Parse([]byte("workers:\n  <<: [{concurrency: 5}, {concurrency: 6, job_timeout: 1h}]\n"), "ottr.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if c.Workers.Concurrency != 5 || c.Workers.JobTimeout != time.Hour {
			t.Errorf("workers = %+v, want concurrency 5 from the first and job_timeout 1h from the second", c.Workers)
		}
	})
	t.Run("reads each data center's limit by its inventory name", func(t *testing.T) {
		c, err := Parse([]byte("workers:\n  concurrency: 8\n  per_data_center:\n    DC East: 2\n    dmz: 1\n"), "ottr.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Workers.PerDataCenter; len(got) != 2 || got["DC East"] != 2 || got["dmz"] != 1 {
			t.Errorf("per_data_center = %v, want DC East 2 and dmz 1", got)
		}
	})
	t.Run("reads driver options as written", func(t *testing.T) {
		c, err := Parse([]byte("routes:\n  - driver: linux\n    options:\n      ssh_port: 2222\n      sudo: true\n      reload_command: systemctl reload nginx\n"), "ottr.yaml")
		if err != nil {
			t.Fatal(err)
		}
		got := c.Routes[0].Options
		if got["ssh_port"] != 2222 || got["sudo"] != true || got["reload_command"] != "systemctl reload nginx" {
			t.Errorf("options = %#v", got)
		}
	})
	t.Run("leaves an empty setting at its default", func(t *testing.T) {
		c, err := Parse([]byte("workers:\n  concurrency:\nscheduler:\n"), "ottr.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if c.Workers.Concurrency != 50 {
			t.Errorf("concurrency = %d, want the default 50", c.Workers.Concurrency)
		}
	})
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		text string
		want time.Duration
	}{
		{name: "reads seconds", text: "90s", want: 90 * time.Second},
		{name: "reads minutes", text: "5m", want: 5 * time.Minute},
		{name: "reads hours and minutes", text: "1h30m", want: 90 * time.Minute},
		{name: "reads days", text: "30d", want: 30 * 24 * time.Hour},
		{name: "reads days followed by hours", text: "1d12h", want: 36 * time.Hour},
		{name: "reads zero without a unit", text: "0", want: 0},
		{name: "reads a negative duration for validation to reject", text: "-5m", want: -5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDuration(tt.text)
			if err != nil || got != tt.want {
				t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.text, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "d", "5", "1.5", "-1d", "+1d", "1d-1h", "1x", "5 m", "1000000d", "1dd"} {
		t.Run("rejects "+bad, func(t *testing.T) {
			if got, err := parseDuration(bad); err == nil {
				t.Errorf("parseDuration(%q) = %v, want an error", bad, got)
			}
		})
	}
}

func TestSuggestion(t *testing.T) {
	fields := map[string]int{"interval": 0, "batch": 1}
	tests := []struct {
		name, key, want string
	}{
		{name: "suggests a setting one letter away", key: "intervall", want: ` (did you mean "interval"?)`},
		{name: "suggests a setting written in capitals", key: "Batch", want: ` (did you mean "batch"?)`},
		{name: "lists the settings when nothing is close", key: "zzzzzz", want: " (known settings here: batch, interval)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := suggestion(tt.key, fields); got != tt.want {
				t.Errorf("suggestion(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}
