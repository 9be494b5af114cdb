package config

import (
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/ratelimit"
)

// Preset is what ottr knows of a public ACME CA: a CA profile naming it in
// preset needs only its credentials.
type Preset struct {
	// Directory is the CA's ACME directory URL.
	Directory string
	// ExpectedIssuers are the organisations or common names its leaves'
	// issuers carry.
	ExpectedIssuers []string
	// NeedsEAB: the CA registers accounts only with an external account
	// binding, and where to get one.
	NeedsEAB bool
	EABHelp  string
	// RateLimits names the published order limits the CA applies, a kind
	// ratelimit.Defaults knows ("letsencrypt", "letsencrypt-staging"), or
	// "" when it publishes none.
	RateLimits string
}

// Presets are the CAs ottr knows by name. Directories are the CAs' own
// published ones.
var presets = map[string]Preset{
	"letsencrypt": {
		Directory:       "https://acme-v02.api.letsencrypt.org/directory",
		ExpectedIssuers: []string{"Let's Encrypt"},
		RateLimits:      "letsencrypt",
	},
	"letsencrypt-staging": {
		Directory:       "https://acme-staging-v02.api.letsencrypt.org/directory",
		ExpectedIssuers: []string{"(STAGING) Let's Encrypt"},
		RateLimits:      "letsencrypt-staging",
	},
	"zerossl": {
		Directory:       "https://acme.zerossl.com/v2/DV90",
		ExpectedIssuers: []string{"ZeroSSL"},
		NeedsEAB:        true,
		EABHelp:         "ZeroSSL's developer section (https://app.zerossl.com/developer) gives the EAB key ID and HMAC key",
	},
	"google": {
		Directory:       "https://dv.acme-v02.api.pki.goog/directory",
		ExpectedIssuers: []string{"Google Trust Services"},
		NeedsEAB:        true,
		EABHelp:         "gcloud publicca external-account-keys create gives the EAB key ID and HMAC key",
	},
	"google-staging": {
		Directory:       "https://dv.acme-v02.test-api.pki.goog/directory",
		ExpectedIssuers: []string{"Google Trust Services"},
		NeedsEAB:        true,
		EABHelp:         "gcloud publicca external-account-keys create (against the staging API) gives the EAB key ID and HMAC key",
	},
	"digicert": {
		Directory:       "https://acme.digicert.com/v2/acme/directory/",
		ExpectedIssuers: []string{"DigiCert Inc"},
		NeedsEAB:        true,
		EABHelp:         "CertCentral's ACME directory URLs page gives the EAB key ID and HMAC key",
	},
	"sslcom-rsa": {
		Directory:       "https://acme.ssl.com/sslcom-dv-rsa",
		ExpectedIssuers: []string{"SSL Corporation"},
		NeedsEAB:        true,
		EABHelp:         "the SSL.com account's API credentials page gives the EAB key ID and HMAC key",
	},
	"sslcom-ecc": {
		Directory:       "https://acme.ssl.com/sslcom-dv-ecc",
		ExpectedIssuers: []string{"SSL Corporation"},
		NeedsEAB:        true,
		EABHelp:         "the SSL.com account's API credentials page gives the EAB key ID and HMAC key",
	},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for name := range presets {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// LookupPreset returns the preset called name.
func LookupPreset(name string) (Preset, bool) {
	p, ok := presets[strings.ToLower(name)]
	return p, ok
}

// applyPreset fills the settings ca leaves empty from its preset. Settings
// written in the file win.
func applyPreset(ca CA) CA {
	p, ok := LookupPreset(ca.Preset)
	if !ok {
		return ca
	}
	if ca.Directory == "" {
		ca.Directory = p.Directory
	}
	if len(ca.ExpectedIssuers) == 0 {
		ca.ExpectedIssuers = append([]string(nil), p.ExpectedIssuers...)
	}
	return ca
}

// rateLimitKind is the kind of published rate limits ca is subject to:
// its preset's, or else the one its directory URL tells (Let's Encrypt's
// two directories), or "" for a CA whose limits ottr does not know.
func rateLimitKind(ca CA) string {
	if p, ok := LookupPreset(ca.Preset); ok && p.RateLimits != "" {
		return p.RateLimits
	}
	return ratelimit.KindOf(ca.Directory)
}
