package rotation

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ottr-go/ottr/internal/issuer"
)

// HeldBackError is an order ottr did not place: the CA refused an earlier
// one as rate limited and asked not to be tried again before Until.
// Placing it anyway would only be refused again — and, with many
// rotations booked for the same CA, make a retry storm.
type HeldBackError struct {
	CA    string
	Until time.Time
}

func (e *HeldBackError) Error() string {
	return fmt.Sprintf("CA %s is rate limiting: no order goes to it before %s, as it asked", e.CA, e.Until.UTC().Format(time.RFC3339))
}

// heldBack returns a *HeldBackError when orders to ca are held back now.
func (rn *run) heldBack(ca string) error {
	if rn.r.d.HeldUntil == nil {
		return nil
	}
	until := rn.r.d.HeldUntil(ca)
	if !until.After(rn.r.d.Now()) {
		return nil
	}
	return &HeldBackError{CA: ca, Until: until}
}

// retryNotBefore returns when the CA behind cause may be tried again, and
// whether it said: its Retry-After, or the end of the hold ottr keeps.
func retryNotBefore(cause error) (time.Time, bool) {
	var held *HeldBackError
	if errors.As(cause, &held) {
		return held.Until, true
	}
	return issuer.RetryAfter(cause)
}

// rateLimited tells the Runner's listener that the CA refused an order as
// rate limited, so orders to it are held back until until (or the CA's
// Retry-After, if later).
func (rn *run) rateLimited(cause error, until time.Time) {
	var refused *issuer.RefusedError
	if rn.r.d.RateLimited == nil || !errors.As(cause, &refused) || !refused.RateLimited() {
		return
	}
	if at := refused.RetryAfter; at.After(until) {
		until = at
	}
	ca := cmp.Or(refused.CA, rn.ca.Name)
	rn.logf(slog.LevelWarn, "CA %s is rate limiting; no order goes to it before %s", ca, until.UTC().Format(time.RFC3339))
	rn.r.d.RateLimited(ca, until)
}
