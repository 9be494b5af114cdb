package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/ratelimit"
)

func TestRateLimits(t *testing.T) {
	week := 7 * 24 * time.Hour
	yes := true
	tests := []struct {
		name string
		ca   string
		want ratelimit.Limits
	}{
		{"a Let's Encrypt preset takes its published limits",
			"{preset: letsencrypt}", ratelimit.Defaults(ratelimit.KindLetsEncrypt)},
		{"the staging preset takes staging's limits",
			"{preset: letsencrypt-staging}", ratelimit.Defaults(ratelimit.KindLetsEncryptStaging)},
		{"a Let's Encrypt directory without a preset takes its limits",
			"{directory: 'https://acme-v02.api.letsencrypt.org/directory'}", ratelimit.Defaults(ratelimit.KindLetsEncrypt)},
		{"a CA whose limits ottr does not know has none",
			"{directory: 'https://acme.example/dir'}", ratelimit.Limits{}},
		{"a CA preset without published limits has none",
			"{preset: zerossl, eab: {kid: k, hmac_key: 'env:EAB'}}", ratelimit.Limits{}},
		{"a limit set in the file wins and the others stay the CA's",
			"{preset: letsencrypt, rate_limits: {new_orders_per_account: {count: 100, period: 1h}}}",
			ratelimit.Limits{
				NewOrdersPerAccount:             ratelimit.Rate{Count: 100, Period: time.Hour},
				CertificatesPerRegisteredDomain: ratelimit.Rate{Count: 50, Period: week},
				CertificatesPerExactSet:         ratelimit.Rate{Count: 5, Period: week},
				AuthorizationFailuresPerName:    ratelimit.Rate{Count: 5, Period: time.Hour},
				RenewalExemptions:               &yes,
			}},
		{"a count of -1 lifts a published limit",
			"{preset: letsencrypt, rate_limits: {certificates_per_exact_set: {count: -1}}}",
			func() ratelimit.Limits {
				l := ratelimit.Defaults(ratelimit.KindLetsEncrypt)
				l.CertificatesPerExactSet = ratelimit.Rate{Count: -1}
				return l
			}()},
		{"a private CA may be given limits of its own, in days",
			"{directory: 'https://acme.example/dir', rate_limits: {new_orders_per_account: {count: 1000, period: 1d}}}",
			ratelimit.Limits{NewOrdersPerAccount: ratelimit.Rate{Count: 1000, Period: 24 * time.Hour}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte("certificate_authorities:\n  ca: "+tt.ca+"\n"), "ottr.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.CertificateAuthorities["ca"].RateLimits; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rate limits %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRateLimitsAreValidated(t *testing.T) {
	checkProblems(t, `certificate_authorities:
  le:
    preset: letsencrypt
    rate_limits:
      new_orders_per_account: {count: 10}
      certificates_per_exact_set:
        count: 3
        period: -1h
`,
		"ottr.yaml:5: certificate_authorities.le.rate_limits.new_orders_per_account: a count of 10 needs a period greater than zero, such as {count: 300, period: 3h}",
		"ottr.yaml:6: certificate_authorities.le.rate_limits.certificates_per_exact_set: a count of 3 needs a period greater than zero, such as {count: 300, period: 3h}",
	)
	checkProblems(t, "certificate_authorities:\n  le:\n    preset: letsencrypt\n    rate_limits: {new_orders_per_acount: {count: 1, period: 1h}}\n",
		`ottr.yaml:4: certificate_authorities.le.rate_limits: unknown setting "new_orders_per_acount" (did you mean "new_orders_per_account"?)`)
}
