package config

import (
	"slices"
	"strings"
	"testing"
)

func TestCAPresetsAndProviderRules(t *testing.T) {
	const zones = "dns:\n  zones:\n    example.com: acme.example.net\n  providers:\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "accepts a preset instead of a directory",
			yaml: "certificate_authorities:\n  le:\n    preset: letsencrypt\n",
		},
		{
			name: "rejects an unknown preset, listing the known ones",
			yaml: "certificate_authorities:\n  le:\n    preset: letsencrypt-prod\n",
			want: []string{`ottr.yaml:3: certificate_authorities.le.preset: "letsencrypt-prod" is not a CA ottr knows; use one of digicert, google, google-staging, letsencrypt, letsencrypt-staging, sslcom-ecc, sslcom-rsa, zerossl, or set directory instead`},
		},
		{
			name: "requires EAB for a CA that registers only with one, saying where to get it",
			yaml: "certificate_authorities:\n  z:\n    preset: zerossl\n",
			want: []string{"ottr.yaml:2: certificate_authorities.z.eab: is required: zerossl registers ACME accounts only with an external account binding; ZeroSSL's developer section (https://app.zerossl.com/developer) gives the EAB key ID and HMAC key"},
		},
		{
			name: "accepts an EAB CA with its binding",
			yaml: "certificate_authorities:\n  z:\n    preset: zerossl\n    eab:\n      kid: k1\n      hmac_key: env:ZEROSSL_HMAC\n",
		},
		{
			name: "rejects a key type policy naming an unknown type",
			yaml: "certificate_authorities:\n  le:\n    preset: letsencrypt\n    key_types: [ecdsa256, ed25519]\n",
			want: []string{`ottr.yaml:4: certificate_authorities.le.key_types[1]: "ed25519" is not a key type; use one of rsa2048, rsa3072, rsa4096, ecdsa256, ecdsa384`},
		},
		{
			name: "rejects a default key type outside the policy",
			yaml: "certificate_authorities:\n  le:\n    preset: letsencrypt\n    key_type: rsa2048\n    key_types: [ecdsa256]\n",
			want: []string{`ottr.yaml:4: certificate_authorities.le.key_type: "rsa2048" is not among key_types (ecdsa256)`},
		},
		{
			name: "rejects a provider for a zone that is not a delegate zone",
			yaml: zones + "    example.com:\n      type: exec\n      exec: {program: /bin/true}\n",
			want: []string{`ottr.yaml:5: dns.providers.example.com: "example.com" is not a delegate zone: dns.providers is keyed by the delegate zones that dns.zones points to (acme.example.net)`},
		},
		{
			name: "rejects an unknown provider type",
			yaml: zones + "    acme.example.net:\n      type: godaddy\n",
			want: []string{`ottr.yaml:6: dns.providers.acme.example.net.type: "godaddy" is not a DNS provider; use one of rfc2136, route53, cloudflare, acme-dns, exec, httpreq`},
		},
		{
			name: "rejects settings of another provider type",
			yaml: zones + "    acme.example.net:\n      type: cloudflare\n      cloudflare: {api_token: env:CF}\n      exec: {program: /bin/true}\n",
			want: []string{"ottr.yaml:8: dns.providers.acme.example.net.exec: is set, but type is cloudflare: remove it or change type"},
		},
		{
			name: "requires what each provider needs",
			yaml: "dns:\n  zones:\n    a.com: acme-a.net\n    b.com: acme-b.net\n    c.com: acme-c.net\n    d.com: acme-d.net\n" +
				"  providers:\n    acme-a.net: {type: cloudflare}\n    acme-b.net: {type: exec}\n    acme-c.net: {type: acme-dns}\n    acme-d.net: {type: rfc2136}\n",
			want: []string{
				"ottr.yaml:8: dns.providers.acme-a.net.cloudflare.api_token: is required: env:NAME or file:PATH holding a token with Zone:DNS:Edit",
				"ottr.yaml:9: dns.providers.acme-b.net.exec.program: is required: the program called as PROGRAM present|cleanup FQDN VALUE",
				"ottr.yaml:10: dns.providers.acme-c.net.acme_dns.api_base: is required: an https:// URL",
				"ottr.yaml:10: dns.providers.acme-c.net.acme_dns.storage_path: is required: the JSON file of acme-dns accounts",
				"ottr.yaml:11: dns.providers.acme-d.net.rfc2136.nameserver: is required: the primary server's host:port, such as 192.0.2.53:53",
			},
		},
		{
			name: "rejects half of a static AWS credential",
			yaml: zones + "    acme.example.net:\n      type: route53\n      route53: {access_key_id: AKIAEXAMPLE}\n",
			want: []string{"ottr.yaml:7: dns.providers.acme.example.net.route53: set both access_key_id and secret_access_key, or neither to use the AWS default credentials"},
		},
		{
			name: "rejects a DoH endpoint over plain HTTP to another host",
			yaml: "dns:\n  doh: http://dns.example/dns-query\n",
			want: []string{"ottr.yaml:2: dns.doh: must use https://; http:// is only allowed to a loopback host"},
		},
		{
			name: "rejects a fallback issuer that is not a CA profile",
			yaml: "certificate_authorities:\n  le:\n    preset: letsencrypt\nroutes:\n  - driver: linux\n    fallback_issuers: [le, zerossl]\n",
			want: []string{`ottr.yaml:6: routes[0].fallback_issuers[1]: "zerossl" is not a configured CA profile (configured: le)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, tt.yaml, tt.want...)
		})
	}
}

func TestPresetFillsWhatTheFileLeavesOut(t *testing.T) {
	c, err := Parse([]byte("certificate_authorities:\n  le:\n    preset: letsencrypt-staging\n  own:\n    preset: letsencrypt\n    directory: https://acme.internal.example/directory\n    expected_issuers: [Internal CA]\n    key_types: [rsa3072, ecdsa384]\n"), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	le := c.CertificateAuthorities["le"]
	if le.Directory != "https://acme-staging-v02.api.letsencrypt.org/directory" || !slices.Equal(le.ExpectedIssuers, []string{"(STAGING) Let's Encrypt"}) {
		t.Errorf("staging preset gave %q, %q", le.Directory, le.ExpectedIssuers)
	}
	own := c.CertificateAuthorities["own"]
	if own.Directory != "https://acme.internal.example/directory" || !slices.Equal(own.ExpectedIssuers, []string{"Internal CA"}) {
		t.Errorf("settings written next to the preset were overridden: %q, %q", own.Directory, own.ExpectedIssuers)
	}
	if own.KeyType != "rsa3072" {
		t.Errorf("key_type = %q, want the first of key_types", own.KeyType)
	}
}

func TestProviderSecretsAreReferencesAndResolvedPaths(t *testing.T) {
	c, err := Parse([]byte("dns:\n  zones:\n    example.com: Acme.Example.NET.\n  providers:\n    Acme.Example.NET.:\n      type: httpreq\n      httpreq: {endpoint: https://dns-api.example, username: u, password: s3cret}\n"), "/etc/ottr/ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.DNS.Providers["acme.example.net"]
	if !ok {
		t.Fatalf("providers keyed %v, want the normalised delegate zone", c.DNS.Providers)
	}
	if p.HTTPReq.Password != "s3cret" {
		t.Errorf("password = %q", p.HTTPReq.Password)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "dns.providers.acme.example.net.httpreq.password: the secret is written in the configuration file") {
		t.Errorf("warnings = %q, want one about the literal password", c.Warnings)
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "s3cret") {
			t.Errorf("a warning quotes the secret: %q", w)
		}
	}
}
