// Package policy decides when a certificate is due for renewal: a chain of
// pure checks over an asset and an injected clock, each giving a reason.
package policy

import "time"

// Settings tune the renewal policy. Zero values mean the defaults.
type Settings struct {
	// RenewFraction renews when less than this fraction of the
	// certificate's lifetime is left. Default 1/3.
	RenewFraction float64 `yaml:"renew_fraction"`
	// FixedDays, if set, renews this many days before expiry instead of by
	// fraction (Ottr's rule was 30).
	FixedDays int `yaml:"fixed_days"`
	// BackoffBase is the wait after the first failure; it doubles with
	// every further failure. Default 5m.
	BackoffBase time.Duration `yaml:"backoff_base"`
	// BackoffMax caps the wait between attempts. Default 24h.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Jitter spreads due work over this long so one day's expiries do not
	// reach the CA in one burst. Default 1h; never past the point where a
	// tenth of the remaining lifetime would be used.
	Jitter time.Duration `yaml:"jitter"`
}
