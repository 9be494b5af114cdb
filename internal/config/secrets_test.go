package config

import (
	"slices"
	"testing"
	"time"
)

func TestSecretReferenceRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "accepts Ottr's Secrets Manager layout",
			yaml: "credentials:\n  panos:\n    username: admin\n    password: aws-sm:prod/otter/panos#password\n" +
				"notifications:\n  channels:\n    slack:\n      kind: slack\n      token: aws-sm:prod/otter/slack\n      channel: \"#pki\"\n",
		},
		{
			name: "accepts a version stage",
			yaml: "credentials:\n  panos:\n    password: aws-sm:prod/otter/panos#password@AWSPREVIOUS\n",
		},
		{
			name: "refuses an aws-sm reference without a name, naming the setting and line",
			yaml: "credentials:\n  panos:\n    username: admin\n    password: aws-sm:#password\n",
			want: []string{"ottr.yaml:4: credentials.panos.password: reference aws-sm:#password names no secret: write aws-sm:NAME for a plain secret or aws-sm:NAME#key for a key of a JSON secret, such as aws-sm:prod/otter/panos#password"},
		},
		{
			name: "refuses an empty aws-sm reference",
			yaml: "dns:\n  rfc2136:\n    nameserver: 192.0.2.53:53\n    tsig_key: ottr.\n    tsig_secret: \"aws-sm:\"\n",
			want: []string{"ottr.yaml:5: dns.rfc2136.tsig_secret: reference aws-sm: names no secret: write aws-sm:NAME for a plain secret or aws-sm:NAME#key for a key of a JSON secret, such as aws-sm:prod/otter/panos#password"},
		},
		{
			name: "refuses a vault reference without a path",
			yaml: "secrets:\n  vault:\n    address: https://vault.example.com:8200\n    auth:\n      token: env:VAULT_TOKEN\n" +
				"credentials:\n  f5:\n    password: vault:secret#password\n",
			want: []string{"ottr.yaml:8: credentials.f5.password: reference vault:secret#password needs a mount and a path: write vault:MOUNT/PATH#key, such as vault:secret/otter/panos#password"},
		},
		{
			name: "refuses a vault reference without a key",
			yaml: "secrets:\n  vault:\n    address: https://vault.example.com:8200\n    auth:\n      token: env:VAULT_TOKEN\n" +
				"credentials:\n  f5:\n    password: vault:secret/otter/f5\n",
			want: []string{"ottr.yaml:8: credentials.f5.password: reference vault:secret/otter/f5 names no key: a Vault secret holds fields, so write vault:secret/otter/f5#key, such as #password"},
		},
		{
			name: "refuses a vault reference when no server is configured",
			yaml: "credentials:\n  f5:\n    password: vault:secret/otter/f5#password\n",
			want: []string{"ottr.yaml:3: credentials.f5.password: is a vault: reference, and secrets.vault.address is not set: add a secrets.vault block saying where the server is and how to log in"},
		},
		{
			name: "refuses a store credential read from a store",
			yaml: "secrets:\n  vault:\n    address: https://vault.example.com:8200\n    auth:\n      method: approle\n      role_id: ottr\n      secret_id: aws-sm:prod/vault#secret_id\n",
			want: []string{"ottr.yaml:7: secrets.vault.auth.secret_id: is a credential of a secret store, so it cannot itself come from one: use env:NAME or file:PATH"},
		},
		{
			name: "requires what each auth method needs",
			yaml: "secrets:\n  vault:\n    address: https://vault.example.com:8200\n    auth:\n      method: kubernetes\n    mounts:\n      secret: 3\n",
			want: []string{
				"ottr.yaml:4: secrets.vault.auth.role: is required for the kubernetes method: the Vault role the pod's service account logs in as",
				"ottr.yaml:7: secrets.vault.mounts.secret: must be 1 or 2, the KV version of the mount, got 3",
			},
		},
		{
			name: "refuses an unknown auth method and half an AWS key",
			yaml: "secrets:\n  aws:\n    access_key_id: env:AWS_KEY\n  vault:\n    address: vault.example.com\n    auth:\n      method: ldap\n",
			want: []string{
				"ottr.yaml:2: secrets.aws: access_key_id and secret_access_key go together: set both, or neither to use the default credential chain",
				"ottr.yaml:5: secrets.vault.address: must be an http(s) URL, such as https://vault.example.com:8200",
				`ottr.yaml:7: secrets.vault.auth.method: "ldap" is not an auth method ottr knows: use token, approle or kubernetes`,
			},
		},
		{
			name: "keeps a value with an unknown prefix literal",
			yaml: "credentials:\n  lab:\n    password: \"s3cr3t:with:colons\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, tt.yaml, tt.want...)
		})
	}
}

func TestSecretsDefaultsAndWarnings(t *testing.T) {
	c, err := Parse([]byte("credentials:\n  panos:\n    password: awssm:prod/otter/panos#password\n"), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Secrets.CacheTTL != 5*time.Minute || c.Secrets.Timeout != 10*time.Second {
		t.Errorf("defaults: cache_ttl %v, timeout %v; want 5m and 10s", c.Secrets.CacheTTL, c.Secrets.Timeout)
	}
	want := []string{
		"ottr.yaml:3: credentials.panos.password: the secret is written in the configuration file; use env:NAME, file:PATH, aws-sm:NAME#key or vault:MOUNT/PATH#key to keep it out",
		`ottr.yaml:3: credentials.panos.password: starts with "awssm:", which is not a reference, so the value is taken literally: did you mean aws-sm:? (references: aws-sm: env: file: vault:)`,
	}
	if !slices.Equal(c.Warnings, want) {
		t.Errorf("warnings:\n  got  %q\n  want %q", c.Warnings, want)
	}
}

func TestSecretRefsListsEverySecretSetting(t *testing.T) {
	c, err := Parse([]byte(`database: aws-sm:prod/ottr/database#url
secrets:
  vault:
    address: https://vault.example.com:8200
    auth:
      token: env:VAULT_TOKEN
credentials:
  panos:
    username: aws-sm:prod/otter/panos#username
    password: aws-sm:prod/otter/panos#password
  linux:
    private_key: vault:secret/ottr/ssh#key
notifications:
  channels:
    slack:
      kind: slack
      token: aws-sm:prod/otter/slack
      channel: "#pki"
`), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range c.SecretRefs() {
		got = append(got, r.Setting+"="+r.Ref)
	}
	want := []string{
		"database=aws-sm:prod/ottr/database#url",
		"credentials.panos.username=aws-sm:prod/otter/panos#username",
		"credentials.panos.password=aws-sm:prod/otter/panos#password",
		"credentials.linux.private_key=vault:secret/ottr/ssh#key",
		"notifications.channels.slack.token=aws-sm:prod/otter/slack",
	}
	if !slices.Equal(got, want) {
		t.Errorf("SecretRefs:\n  got  %q\n  want %q", got, want)
	}
}
