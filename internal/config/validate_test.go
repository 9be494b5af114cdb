package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// problemsOf parses text as ottr.yaml and returns its problems formatted
// as an operator sees them, or nil when it parses.
func problemsOf(t *testing.T, text string) []string {
	t.Helper()
	_, err := Parse([]byte(text), "ottr.yaml")
	if err == nil {
		return nil
	}
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("Parse returned %T (%v), want *Error", err, err)
	}
	return strings.Split(cfgErr.Error(), "\n")
}

func checkProblems(t *testing.T, text string, want ...string) {
	t.Helper()
	got := problemsOf(t, text)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n  got  %q\n  want %q", got, want)
	}
}

const validCA = `certificate_authorities:
  le:
    directory: https://acme.example/dir
`

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "accepts an empty file",
			yaml: ``,
		},
		{
			name: "rejects a scheduler interval under ten seconds",
			yaml: "scheduler:\n  interval: 5s\n",
			want: []string{"ottr.yaml:2: scheduler.interval: must be at least 10s, got 5s"},
		},
		{
			name: "rejects a negative batch",
			yaml: "scheduler:\n  batch: -1\n",
			want: []string{"ottr.yaml:2: scheduler.batch: must be at least 1, got -1"},
		},
		{
			name: "rejects a data center's limit under one",
			yaml: "workers:\n  per_data_center:\n    dmz: 0\n    DC East: 3\n",
			want: []string{"ottr.yaml:3: workers.per_data_center.dmz: must be at least 1, got 0; to run none of a data center's rotations in a process, leave its queue out (ottr worker --queue)"},
		},
		{
			name: "rejects a negative concurrency",
			yaml: "workers:\n  concurrency: -3\n",
			want: []string{"ottr.yaml:2: workers.concurrency: must be between 1 and 10000, got -3"},
		},
		{
			name: "rejects a concurrency above ten thousand",
			yaml: "workers:\n  concurrency: 10001\n",
			want: []string{"ottr.yaml:2: workers.concurrency: must be between 1 and 10000, got 10001"},
		},
		{
			name: "rejects a memory limit too low to hold ottr idle",
			yaml: "workers:\n  memory_limit_mib: 16\n",
			want: []string{"ottr.yaml:2: workers.memory_limit_mib: must be 0 (no limit) or at least 64, got 16"},
		},
		{
			name: "accepts a concurrency of ten thousand",
			yaml: "workers:\n  concurrency: 10000\n",
		},
		{
			name: "rejects a job timeout under ten seconds",
			yaml: "workers:\n  job_timeout: 9s\n",
			want: []string{"ottr.yaml:2: workers.job_timeout: must be at least 10s, got 9s"},
		},
		{
			name: "rejects a renew fraction of one",
			yaml: "policy:\n  renew_fraction: 1\n",
			want: []string{"ottr.yaml:2: policy.renew_fraction: must be between 0 and 1, such as 0.33, got 1"},
		},
		{
			name: "rejects a negative renew fraction",
			yaml: "policy:\n  renew_fraction: -0.5\n",
			want: []string{"ottr.yaml:2: policy.renew_fraction: must be between 0 and 1, such as 0.33, got -0.5"},
		},
		{
			name: "rejects negative fixed days",
			yaml: "policy:\n  fixed_days: -1\n",
			want: []string{"ottr.yaml:2: policy.fixed_days: must be between 0 and 399 days, got -1"},
		},
		{
			name: "rejects four hundred fixed days",
			yaml: "policy:\n  fixed_days: 400\n",
			want: []string{"ottr.yaml:2: policy.fixed_days: must be between 0 and 399 days, got 400"},
		},
		{
			name: "accepts Ottr's thirty fixed days",
			yaml: "policy:\n  fixed_days: 30\n",
		},
		{
			name: "rejects a backoff base longer than the backoff max",
			yaml: "policy:\n  backoff_base: 2h\n  backoff_max: 1h\n",
			want: []string{"ottr.yaml:2: policy.backoff_base: 2h0m0s is longer than backoff_max (1h0m0s)"},
		},
		{
			name: "rejects a backoff base longer than the default backoff max",
			yaml: "policy:\n  backoff_base: 2d\n",
			want: []string{"ottr.yaml:2: policy.backoff_base: 48h0m0s is longer than backoff_max (24h0m0s)"},
		},
		{
			name: "accepts a negative jitter, which turns jitter off",
			yaml: "policy:\n  jitter: -1s\n",
		},
		{
			name: "requires a CA directory",
			yaml: "certificate_authorities:\n  le:\n    email: pki@example.com\n",
			want: []string{"ottr.yaml:2: certificate_authorities.le.directory: is required: the CA's ACME directory URL, such as https://acme-v02.api.letsencrypt.org/directory, or a preset (digicert, google, google-staging, letsencrypt, letsencrypt-staging, sslcom-ecc, sslcom-rsa, zerossl)"},
		},
		{
			name: "rejects an http CA directory on a remote host",
			yaml: "certificate_authorities:\n  le:\n    directory: http://acme.example/dir\n",
			want: []string{"ottr.yaml:3: certificate_authorities.le.directory: must use https://; http:// is only allowed to a loopback host such as 127.0.0.1"},
		},
		{
			name: "accepts an http CA directory on a loopback address",
			yaml: "certificate_authorities:\n  lab:\n    directory: http://127.0.0.1:14000/dir\n  lab6:\n    directory: http://[::1]:14000/dir\n  labname:\n    directory: http://localhost:14000/dir\n",
		},
		{
			name: "rejects a CA directory that is not a URL",
			yaml: "certificate_authorities:\n  le:\n    directory: acme.example/dir\n",
			want: []string{"ottr.yaml:3: certificate_authorities.le.directory: must be an https:// URL, such as https://acme-v02.api.letsencrypt.org/directory"},
		},
		{
			name: "rejects a CA directory with credentials without repeating them",
			yaml: "certificate_authorities:\n  le:\n    directory: https://user:hunter2@acme.example/dir\n",
			want: []string{"ottr.yaml:3: certificate_authorities.le.directory: must not carry a user name or password"},
		},
		{
			name: "rejects an email without an at sign",
			yaml: validCA + "    email: pki.example.com\n",
			want: []string{`ottr.yaml:4: certificate_authorities.le.email: "pki.example.com" is not an email address such as pki@example.com`},
		},
		{
			name: "rejects an email with a display name",
			yaml: validCA + "    email: PKI <pki@example.com>\n",
			want: []string{`ottr.yaml:4: certificate_authorities.le.email: "PKI <pki@example.com>" is not an email address such as pki@example.com`},
		},
		{
			name: "rejects an unknown key type",
			yaml: validCA + "    key_type: rsa1024\n",
			want: []string{`ottr.yaml:4: certificate_authorities.le.key_type: "rsa1024" is not a key type; use one of rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384`},
		},
		{
			name: "rejects a negative minimum lifetime",
			yaml: validCA + "    min_lifetime: -1h\n",
			want: []string{"ottr.yaml:4: certificate_authorities.le.min_lifetime: must not be negative, got -1h0m0s"},
		},
		{
			name: "rejects a negative poll interval",
			yaml: validCA + "    poll_interval: -1s\n",
			want: []string{"ottr.yaml:4: certificate_authorities.le.poll_interval: must be positive, such as 500ms, got -1s"},
		},
		{
			name: "requires both halves of an external account binding",
			yaml: validCA + "    eab:\n      kid: abc\n",
			want: []string{"ottr.yaml:4: certificate_authorities.le.eab.hmac_key: is required when eab is set: env:NAME or file:PATH holding the CA's HMAC key"},
		},
		{
			name: "rejects a managed zone that is not fully qualified",
			yaml: "dns:\n  zones:\n    localhost: acme.example.net\n",
			want: []string{`ottr.yaml:3: dns.zones.localhost: zone "localhost" is not fully qualified: it needs a dot, as in example.com`},
		},
		{
			name: "rejects a delegate zone with a bad label",
			yaml: "dns:\n  zones:\n    example.com: -acme.example.net\n",
			want: []string{`ottr.yaml:3: dns.zones.example.com: delegate zone "-acme.example.net" has a label that starts or ends with a hyphen`},
		},
		{
			name: "rejects a zone with an empty label",
			yaml: "dns:\n  zones:\n    example..com: acme.example.net\n",
			want: []string{`ottr.yaml:3: dns.zones.example..com: zone "example..com" has an empty label`},
		},
		{
			name: "rejects a zone written in unicode",
			yaml: "dns:\n  zones:\n    bücher.example: acme.example.net\n",
			want: []string{`ottr.yaml:3: dns.zones.bücher.example: zone "bücher.example" has the character 'ü'; write international names in their xn-- form`},
		},
		{
			name: "rejects a zone that is an IP address",
			yaml: "dns:\n  zones:\n    192.0.2.1: acme.example.net\n",
			want: []string{`ottr.yaml:3: dns.zones.192.0.2.1: zone "192.0.2.1" ends in a number, so it is an address, not a domain name`},
		},
		{
			name: "rejects the same zone written twice",
			yaml: "dns:\n  zones:\n    example.com: acme.example.net\n    Example.com.: acme.example.net\n",
			want: []string{`ottr.yaml:4: dns.zones.Example.com.: zone "Example.com." is listed twice (also as "example.com")`},
		},
		{
			name: "accepts zones with trailing dots and capitals",
			yaml: "dns:\n  zones:\n    Example.COM.: acme.example.net.\n",
		},
		{
			name: "rejects a resolver without a port",
			yaml: "dns:\n  resolvers: [192.0.2.53]\n",
			want: []string{`ottr.yaml:2: dns.resolvers[0]: "192.0.2.53" must be host:port, such as 192.0.2.53:53`},
		},
		{
			name: "rejects a nameserver with port zero",
			yaml: "dns:\n  rfc2136:\n    nameserver: ns.example.net:0\n",
			want: []string{`ottr.yaml:3: dns.rfc2136.nameserver: "ns.example.net:0" has no valid port: use 1 to 65535, usually 53`},
		},
		{
			name: "rejects a TSIG key without a nameserver",
			yaml: "dns:\n  rfc2136:\n    tsig_key: ottr.\n    tsig_secret: env:TSIG\n",
			want: []string{"ottr.yaml:2: dns.rfc2136.nameserver: is required when a TSIG key is set: the primary server's host:port, such as 192.0.2.53:53"},
		},
		{
			name: "rejects a TSIG key without its secret",
			yaml: "dns:\n  rfc2136:\n    nameserver: 192.0.2.53:53\n    tsig_key: ottr.\n",
			want: []string{"ottr.yaml:2: dns.rfc2136.tsig_secret: is required when tsig_key is set: env:NAME or file:PATH holding the base64 key"},
		},
		{
			name: "rejects an unsupported TSIG algorithm",
			yaml: "dns:\n  rfc2136:\n    tsig_algorithm: hmac-md5\n",
			want: []string{`ottr.yaml:3: dns.rfc2136.tsig_algorithm: "hmac-md5" is not supported; use one of hmac-sha256., hmac-sha384., hmac-sha512., hmac-sha1.`},
		},
		{
			name: "rejects a literal TSIG secret that is not base64 without quoting it",
			yaml: "dns:\n  rfc2136:\n    nameserver: 192.0.2.53:53\n    tsig_key: ottr.\n    tsig_secret: not*base64\n",
			want: []string{"ottr.yaml:5: dns.rfc2136.tsig_secret: is not valid base64"},
		},
		{
			name: "rejects an env reference without a variable name",
			yaml: "credentials:\n  default:\n    username: ottr\n    password: \"env:\"\n",
			want: []string{"ottr.yaml:4: credentials.default.password: an env: reference needs an environment variable name of letters, digits and underscores, such as env:OTTR_DEVICE_PASSWORD"},
		},
		{
			name: "rejects an env reference with a space without quoting it",
			yaml: "credentials:\n  default:\n    password: env:MY PASSWORD\n",
			want: []string{"ottr.yaml:3: credentials.default.password: an env: reference needs an environment variable name of letters, digits and underscores, such as env:OTTR_DEVICE_PASSWORD"},
		},
		{
			name: "rejects a file reference without a path",
			yaml: "credentials:\n  default:\n    private_key: \"file:\"\n",
			want: []string{"ottr.yaml:3: credentials.default.private_key: a file: reference needs a path, such as file:/etc/ottr/device.key"},
		},
		{
			name: "rejects a route without a driver",
			yaml: "routes:\n  - match: {platform: linux}\n",
			want: []string{"ottr.yaml:2: routes[0].driver: is required: the driver that rotates the matching assets, such as linux"},
		},
		{
			name: "rejects a route naming an unconfigured CA",
			yaml: validCA + "routes:\n  - driver: linux\n    match:\n      certificate_authority: digicert\n",
			want: []string{`ottr.yaml:7: routes[0].match.certificate_authority: "digicert" is not a configured CA profile (configured: le)`},
		},
		{
			name: "rejects a route naming a CA when none is configured",
			yaml: "routes:\n  - driver: linux\n    match: {certificate_authority: lets_encrypt}\n",
			want: []string{`ottr.yaml:3: routes[0].match.certificate_authority: "lets_encrypt" is not a configured CA profile (configured: none)`},
		},
		{
			name: "rejects two routes with the same name",
			yaml: "routes:\n  - {name: web, driver: linux}\n  - name: web\n    driver: linux\n",
			want: []string{`ottr.yaml:3: routes[1].name: "web" is already the name of routes[0]`},
		},
		{
			name: "rejects a database URL that is not postgres without quoting it",
			yaml: "database: mysql://root:secret@db/ottr\n",
			want: []string{"ottr.yaml:1: database: must be a SQLite file path or a postgres:// URL, not a mysql:// URL"},
		},
		{
			name: "accepts a postgres database URL",
			yaml: "database: postgres://ottr@db.example.com/ottr\n",
		},
		{
			name: "reports every problem at once in file order",
			yaml: "workers:\n  concurrency: -1\n  job_timeout: 1s\nscheduler:\n  interval: 1s\n",
			want: []string{
				"ottr.yaml:2: workers.concurrency: must be between 1 and 10000, got -1",
				"ottr.yaml:3: workers.job_timeout: must be at least 10s, got 1s",
				"ottr.yaml:5: scheduler.interval: must be at least 10s, got 1s",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, tt.yaml, tt.want...)
		})
	}
}

func TestValidateWithoutLines(t *testing.T) {
	t.Run("names the setting without a line when the config was built in code", func(t *testing.T) {
		c := &Config{}
		c.withDefaults("")
		c.Workers.Concurrency = 0
		err := c.Validate()
		if err == nil || err.Error() != "workers.concurrency: must be between 1 and 10000, got 0" {
			t.Errorf("Validate() = %v", err)
		}
	})
	t.Run("passes a config built in code with defaults", func(t *testing.T) {
		c := &Config{}
		c.withDefaults("")
		if err := c.Validate(); err != nil {
			t.Errorf("Validate() = %v", err)
		}
	})
	t.Run("points a defaulted setting at its section's line", func(t *testing.T) {
		c, err := Parse([]byte("data_dir: x\npolicy:\n  jitter: 2h\n"), "ottr.yaml")
		if err != nil {
			t.Fatal(err)
		}
		c.Policy.BackoffBase = 48 * time.Hour
		err = c.Validate()
		want := "ottr.yaml:2: policy.backoff_base: 48h0m0s is longer than backoff_max (24h0m0s)"
		if err == nil || err.Error() != want {
			t.Errorf("Validate() = %v, want %s", err, want)
		}
	})
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		name    string
		problem Problem
		want    string
	}{
		{"shows the line and the setting", Problem{Line: 3, Path: "workers.concurrency", Message: "bad"}, "line 3: workers.concurrency: bad"},
		{"leaves out an unknown line", Problem{Path: "workers.concurrency", Message: "bad"}, "workers.concurrency: bad"},
		{"leaves out an empty path", Problem{Line: 1, Message: "bad"}, "line 1: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.problem.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "warns about a literal password without showing it",
			yaml: "credentials:\n  default:\n    username: ottr\n    password: hunter2\n",
			want: []string{"ottr.yaml:4: credentials.default.password: the secret is written in the configuration file; use env:NAME, file:PATH, aws-sm:NAME#key or vault:MOUNT/PATH#key to keep it out"},
		},
		{
			name: "warns about a literal EAB key",
			yaml: validCA + "    eab: {kid: k, hmac_key: c2VjcmV0}\n",
			want: []string{"ottr.yaml:4: certificate_authorities.le.eab.hmac_key: the secret is written in the configuration file; use env:NAME, file:PATH, aws-sm:NAME#key or vault:MOUNT/PATH#key to keep it out"},
		},
		{
			name: "warns about unsigned dynamic updates",
			yaml: "dns:\n  rfc2136:\n    nameserver: 192.0.2.53:53\n",
			want: []string{"ottr.yaml:2: dns.rfc2136: updates are sent unsigned: anyone who reaches the nameserver can change the zone; set tsig_key and tsig_secret"},
		},
		{
			name: "warns about hmac-sha1 and a literal TSIG secret",
			yaml: "dns:\n  rfc2136:\n    nameserver: 192.0.2.53:53\n    tsig_key: ottr.\n    tsig_secret: c2VjcmV0\n    tsig_algorithm: HMAC-SHA1\n",
			want: []string{
				"ottr.yaml:5: dns.rfc2136.tsig_secret: the secret is written in the configuration file; use env:NAME, file:PATH, aws-sm:NAME#key or vault:MOUNT/PATH#key to keep it out",
				"ottr.yaml:6: dns.rfc2136.tsig_algorithm: hmac-sha1 is weak; prefer hmac-sha256",
			},
		},
		{
			name: "warns about a data center's limit above the total",
			yaml: "workers:\n  concurrency: 10\n  per_data_center:\n    dmz: 10\n    lab: 11\n",
			want: []string{"ottr.yaml:5: workers.per_data_center.lab: 11 is above workers.concurrency (10), the total over every data center, so it limits nothing; lower it or remove it"},
		},
		{
			name: "does not warn about env and file references",
			yaml: "credentials:\n  default:\n    password: env:OTTR_PASSWORD\n    private_key: file:/etc/ottr/key\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "ottr.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Warnings, tt.want) {
				t.Errorf("warnings:\n  got  %q\n  want %q", c.Warnings, tt.want)
			}
		})
	}
}
