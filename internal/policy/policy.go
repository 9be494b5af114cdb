// Package policy decides when a certificate is due for renewal: a chain of
// pure checks over an asset and an injected clock, each giving a reason.
//
// The chain, in order (the first check that decides wins):
//
//	forced             an operator asked; overrides pause and backoff
//	paused             never rotated by the scheduler
//	backing_off        failed recently; held until next_attempt_at
//	expiry_unknown     no known certificate: rotate now
//	ari_window         the CA's ACME renewal window has reached this asset's point in it
//	fixed_days         fewer than fixed_days left (when configured)
//	lifetime_fraction  less than renew_fraction of the lifetime left
//	not_due            otherwise, with the time it will be due
//
// Due work is spread deterministically: every asset gets a fixed point
// (from a hash of its system_name) within the jitter span and within the
// ARI window, so every scan, on every node, agrees on when it is due.
package policy

import (
	"errors"
	"fmt"
	"time"
)

// Settings tune the renewal policy. Zero values mean the defaults.
type Settings struct {
	// RenewFraction renews when less than this fraction of the
	// certificate's lifetime is left. Default 1/3.
	RenewFraction float64 `yaml:"renew_fraction"`
	// FixedDays, if set, renews this many days before expiry instead of by
	// fraction (Ottr's rule was 30). It is ignored for a certificate whose
	// whole lifetime is not longer than that, which would otherwise be due
	// again the moment it was issued.
	FixedDays int `yaml:"fixed_days"`
	// BackoffBase is the wait after the first failure; it doubles with
	// every further failure. Default 5m.
	BackoffBase time.Duration `yaml:"backoff_base"`
	// BackoffMax caps the wait between attempts. Default 24h.
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Jitter spreads due work over this long so one day's expiries do not
	// reach the CA in one burst. Default 1h; never past the point where a
	// tenth of the remaining lifetime would be used. A negative value turns
	// jitter off.
	Jitter time.Duration `yaml:"jitter"`
}

// Defaults.
const (
	DefaultRenewFraction = 1.0 / 3
	DefaultBackoffBase   = 5 * time.Minute
	DefaultBackoffMax    = 24 * time.Hour
	DefaultJitter        = time.Hour
	// AssumedLifetime is taken as a certificate's lifetime when its issue
	// date is unknown: the lifetime of Let's Encrypt's classic certificates.
	AssumedLifetime = 90 * 24 * time.Hour
)

// WithDefaults returns s with every zero field set to its default.
func (s Settings) WithDefaults() Settings {
	if s.RenewFraction == 0 {
		s.RenewFraction = DefaultRenewFraction
	}
	if s.BackoffBase == 0 {
		s.BackoffBase = DefaultBackoffBase
	}
	if s.BackoffMax == 0 {
		s.BackoffMax = DefaultBackoffMax
	}
	if s.Jitter == 0 {
		s.Jitter = DefaultJitter
	}
	return s
}

// Validate reports every setting out of range, after defaults, naming the
// ottr.yaml key.
func (s Settings) Validate() error {
	s = s.WithDefaults()
	var errs []error
	if s.RenewFraction <= 0 || s.RenewFraction >= 1 {
		errs = append(errs, fmt.Errorf("policy: renew_fraction %g must be between 0 and 1, like 0.33 for a third of the lifetime", s.RenewFraction))
	}
	if s.FixedDays < 0 {
		errs = append(errs, fmt.Errorf("policy: fixed_days %d must be 0 (use renew_fraction) or a number of days, like 30", s.FixedDays))
	}
	if s.BackoffBase < 0 {
		errs = append(errs, fmt.Errorf("policy: backoff_base %s must be positive, like 5m", s.BackoffBase))
	}
	if s.BackoffMax < s.BackoffBase {
		errs = append(errs, fmt.Errorf("policy: backoff_max %s must be at least backoff_base %s", s.BackoffMax, s.BackoffBase))
	}
	return errors.Join(errs...)
}

// Backoff returns how long to hold an asset back after failures
// consecutive failures: BackoffBase after the first, doubling with each
// further one, capped at BackoffMax. Zero failures means no wait.
func Backoff(failures int, s Settings) time.Duration {
	s = s.WithDefaults()
	if failures <= 0 {
		return 0
	}
	d := s.BackoffBase
	for i := 1; i < failures; i++ {
		// Stop before doubling could pass the cap or overflow.
		if d >= s.BackoffMax/2 {
			return s.BackoffMax
		}
		d *= 2
	}
	return min(d, s.BackoffMax)
}
