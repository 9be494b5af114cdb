package ratelimit

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Rate is one token bucket: up to Count orders at once, refilled at Count
// per Period (one token every Period/Count). Let's Encrypt states its
// limits this way ("300 per 3 hours, refilling 1 every 36 seconds").
//
// A zero Count means "not set": Limits.WithDefaults fills it in, and an
// unset Rate does not limit. A negative Count means "no limit", even where
// a default would set one.
type Rate struct {
	Count  int           `yaml:"count"`
	Period time.Duration `yaml:"period"`
}

// limited reports whether the rate bounds anything.
func (r Rate) limited() bool { return r.Count > 0 && r.Period > 0 }

// interval is the time one token takes to come back, rounded up so the
// budget never plans faster than the CA refills.
func (r Rate) interval() time.Duration {
	n := time.Duration(r.Count)
	return (r.Period + n - 1) / n
}

func (r Rate) String() string {
	if !r.limited() {
		return "unlimited"
	}
	return fmt.Sprintf("%d per %s", r.Count, r.Period)
}

// Limits are the rate limits of one CA account, as ottr budgets for them.
// Every field is optional; the zero Limits limits nothing.
type Limits struct {
	// NewOrdersPerAccount bounds the orders the account creates.
	NewOrdersPerAccount Rate `yaml:"new_orders_per_account"`
	// CertificatesPerRegisteredDomain bounds the orders naming a
	// registered domain (eTLD+1, from the Public Suffix List). An order
	// with names under two registered domains counts once against each.
	CertificatesPerRegisteredDomain Rate `yaml:"certificates_per_registered_domain"`
	// CertificatesPerExactSet bounds the orders for one exact set of names
	// (case and order ignored): Let's Encrypt's duplicate certificate limit.
	CertificatesPerExactSet Rate `yaml:"certificates_per_exact_set"`
	// AuthorizationFailuresPerName bounds failed validations per name.
	// Failures are recorded with Budget.RecordAuthorizationFailure; once a
	// name's bucket is empty, no order naming it is scheduled until a
	// token is back, because the CA refuses such orders.
	AuthorizationFailuresPerName Rate `yaml:"authorization_failures_per_name"`
	// RenewalExemptions makes renewals cheaper as Let's Encrypt does: an
	// order for exactly the names of an earlier certificate (Order.Renewal
	// SameNames) counts only against CertificatesPerExactSet and
	// AuthorizationFailuresPerName, and an ARI renewal (Order.Renewal ARI)
	// counts against nothing. nil: not set (false unless a default sets it).
	RenewalExemptions *bool `yaml:"renewal_exemptions"`
}

// exemptsRenewals reports whether RenewalExemptions is set and true.
func (l Limits) exemptsRenewals() bool { return l.RenewalExemptions != nil && *l.RenewalExemptions }

// CA kinds with built-in defaults.
const (
	KindLetsEncrypt        = "letsencrypt"
	KindLetsEncryptStaging = "letsencrypt-staging"
)

// Defaults returns the published limits of a CA kind: Let's Encrypt's for
// "letsencrypt" and "letsencrypt-staging", and none (the zero Limits) for
// any other kind, whose limits ottr does not know.
func Defaults(caKind string) Limits {
	yes := true
	switch strings.ToLower(strings.TrimSpace(caKind)) {
	case KindLetsEncrypt:
		// https://letsencrypt.org/docs/rate-limits/ (last updated
		// 2025-04-01): limits are token buckets.
		//   New Orders per Account: 300 every 3 hours, 1 back every 36 s.
		//   New Certificates per Registered Domain: 50 every 7 days,
		//     1 back every 202 minutes.
		//   New Certificates per Exact Set of Hostnames: 5 every 7 days,
		//     1 back every 34 hours.
		//   Authorization Failures per Hostname per Account: 5 every hour,
		//     1 back every 12 minutes.
		//   ARI renewals are exempt from all limits; renewals of the exact
		//   same set of names from New Orders and Registered Domain.
		// The Consecutive Authorization Failures limit (3,600, 1 back per
		// day) is left to the renewal policy's failure backoff, which
		// pauses a failing name long before it.
		return Limits{
			NewOrdersPerAccount:             Rate{Count: 300, Period: 3 * time.Hour},
			CertificatesPerRegisteredDomain: Rate{Count: 50, Period: 7 * 24 * time.Hour},
			CertificatesPerExactSet:         Rate{Count: 5, Period: 7 * 24 * time.Hour},
			AuthorizationFailuresPerName:    Rate{Count: 5, Period: time.Hour},
			RenewalExemptions:               &yes,
		}
	case KindLetsEncryptStaging:
		// https://letsencrypt.org/docs/staging-environment/#rate-limits
		// (last updated 2024-06-11): production's limits except 1,500 new
		// orders per 3 hours, 30,000 certificates per registered domain
		// and per exact set per week, and 60 failed validations per hour.
		return Limits{
			NewOrdersPerAccount:             Rate{Count: 1500, Period: 3 * time.Hour},
			CertificatesPerRegisteredDomain: Rate{Count: 30000, Period: 7 * 24 * time.Hour},
			CertificatesPerExactSet:         Rate{Count: 30000, Period: 7 * 24 * time.Hour},
			AuthorizationFailuresPerName:    Rate{Count: 60, Period: time.Hour},
			RenewalExemptions:               &yes,
		}
	}
	return Limits{}
}

// KindOf returns the CA kind of an ACME directory URL: "letsencrypt" or
// "letsencrypt-staging" for Let's Encrypt's two directories, "" for any
// other, so that Defaults(KindOf(url)) is Let's Encrypt's limits for Let's
// Encrypt and none otherwise.
func KindOf(directoryURL string) string {
	u, err := url.Parse(strings.TrimSpace(directoryURL))
	if err != nil {
		return ""
	}
	switch strings.ToLower(u.Hostname()) {
	case "acme-v02.api.letsencrypt.org":
		return KindLetsEncrypt
	case "acme-staging-v02.api.letsencrypt.org":
		return KindLetsEncryptStaging
	}
	return ""
}

// WithDefaults returns l with every setting it leaves unset (a Rate with
// Count zero, a nil RenewalExemptions) taken from d, so a configuration
// need only name the limits it changes.
func (l Limits) WithDefaults(d Limits) Limits {
	out := l
	pick := func(mine *Rate, def Rate) {
		if mine.Count == 0 {
			*mine = def
		}
	}
	pick(&out.NewOrdersPerAccount, d.NewOrdersPerAccount)
	pick(&out.CertificatesPerRegisteredDomain, d.CertificatesPerRegisteredDomain)
	pick(&out.CertificatesPerExactSet, d.CertificatesPerExactSet)
	pick(&out.AuthorizationFailuresPerName, d.AuthorizationFailuresPerName)
	if out.RenewalExemptions == nil && d.RenewalExemptions != nil {
		v := *d.RenewalExemptions
		out.RenewalExemptions = &v
	}
	return out
}

// Validate reports every Rate that limits a count but over no period.
func (l Limits) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		rate Rate
	}{
		{"new_orders_per_account", l.NewOrdersPerAccount},
		{"certificates_per_registered_domain", l.CertificatesPerRegisteredDomain},
		{"certificates_per_exact_set", l.CertificatesPerExactSet},
		{"authorization_failures_per_name", l.AuthorizationFailuresPerName},
	} {
		if r.rate.Count > 0 && r.rate.Period <= 0 {
			errs = append(errs, fmt.Errorf("%s: a count of %d needs a period greater than zero", r.name, r.rate.Count))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("ratelimit: %w", errors.Join(errs...))
	}
	return nil
}
