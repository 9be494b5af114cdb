package policy

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// Reasons a Decision gives; short codes for metrics, the API and filters.
const (
	ReasonForced           = "forced"
	ReasonExpiryUnknown    = "expiry_unknown"
	ReasonLifetimeFraction = "lifetime_fraction"
	ReasonFixedDays        = "fixed_days"
	ReasonARIWindow        = "ari_window"
	ReasonPaused           = "paused"
	ReasonBackingOff       = "backing_off"
	ReasonNotDue           = "not_due"
)

// Input is what a decision is made from.
type Input struct {
	Asset asset.Asset
	// Now is the decision's clock; inject it, never read time.Now here.
	Now time.Time
	// Force is an operator's explicit request (manual or API rotation).
	// The scheduler never forces.
	Force    bool
	Settings Settings
}

// Decision is whether an asset is due, and why.
type Decision struct {
	Due bool
	// Reason is one of the Reason… codes.
	Reason string
	// Message is a sentence for `ottr plan` and the UI.
	Message string
	// NotBefore, when not due, is when the answer will next change on its
	// own: the end of a backoff or the renewal time with jitter. It is zero
	// when due, and when paused (only an operator changes that).
	NotBefore time.Time
}

// When is when the decision puts the rotation: now when due, else
// NotBefore (zero when only an operator can change the answer, as for a
// paused asset). `ottr plan`, the API's plan and the web UI show it.
func (d Decision) When(now time.Time) time.Time {
	if d.Due && (d.NotBefore.IsZero() || d.NotBefore.Before(now)) {
		return now
	}
	return d.NotBefore
}

// Check looks at one aspect of an input. It either decides (decided is
// true) or passes the input to the next check in the chain.
type Check func(in Input) (d Decision, decided bool)

// Chain is a list of checks tried in order; the first that decides wins.
type Chain []Check

// DefaultChain returns ottr's renewal policy.
func DefaultChain() Chain {
	return Chain{
		Forced,               // an operator asked: overrides pause and backoff
		Paused,               // the scheduler leaves paused assets alone
		BackingOff,           // a failing device waits out its backoff
		ExpiryUnknown,        // nothing known about the certificate: get one
		ARIWindowOpen,        // the CA asked for renewal (ACME ARI)
		FixedDaysLeft,        // Ottr's rule, when configured
		LifetimeFractionLeft, // the default rule
		NotDueYet,            // otherwise: when it will be
	}
}

// Decide runs the default chain.
func Decide(in Input) Decision { return DefaultChain().Decide(in) }

// Decide runs the chain over in, with in.Settings' defaults filled in.
func (c Chain) Decide(in Input) Decision {
	in.Settings = in.Settings.WithDefaults()
	for _, check := range c {
		if d, ok := check(in); ok {
			return d
		}
	}
	return Decision{Reason: ReasonNotDue, Message: "no check found the certificate due"}
}

// Forced decides due when an operator asked for the rotation.
func Forced(in Input) (Decision, bool) {
	if !in.Force {
		return Decision{}, false
	}
	msg := "an operator asked for this rotation"
	switch {
	case in.Asset.Paused:
		msg += "; this overrides the pause"
	case backingOff(in):
		msg += fmt.Sprintf("; this overrides the backoff until %s", stamp(*in.Asset.NextAttemptAt))
	}
	return Decision{Due: true, Reason: ReasonForced, Message: msg}, true
}

// Paused decides not due for a paused asset.
func Paused(in Input) (Decision, bool) {
	if !in.Asset.Paused {
		return Decision{}, false
	}
	return Decision{Reason: ReasonPaused,
		Message: "paused: the scheduler leaves it alone; resume it, or rotate it by hand"}, true
}

// BackingOff decides not due while a failed asset waits for its next
// attempt.
func BackingOff(in Input) (Decision, bool) {
	if !backingOff(in) {
		return Decision{}, false
	}
	at := *in.Asset.NextAttemptAt
	msg := fmt.Sprintf("held back until %s", stamp(at))
	switch n := in.Asset.FailureCount; {
	case n == 1:
		msg = fmt.Sprintf("the last rotation failed; %s", msg)
	case n > 1:
		msg = fmt.Sprintf("the last %d rotations failed; %s", n, msg)
	}
	return Decision{Reason: ReasonBackingOff, Message: msg, NotBefore: at}, true
}

func backingOff(in Input) bool {
	return in.Asset.NextAttemptAt != nil && in.Asset.NextAttemptAt.After(in.Now)
}

// ExpiryUnknown decides due when ottr does not know the certificate's
// expiry: a new asset, or one never rotated. It is not jittered: there is
// nothing to spread, the asset needs a certificate, and the queue's
// concurrency already paces a large import.
func ExpiryUnknown(in Input) (Decision, bool) {
	if in.Asset.CertificateExpiration != nil {
		return Decision{}, false
	}
	return Decision{Due: true, Reason: ReasonExpiryUnknown,
		Message: "the certificate's expiry is unknown (never rotated by ottr, or not yet read from the device), so it is rotated now"}, true
}

// ARIWindowOpen decides due once the CA's renewal window (ACME ARI) has
// reached this asset's point in it. As RFC 9773 asks, the point is chosen
// within [Start, End) — here from a hash of the system name, so every scan
// picks the same one — and a window already past is due at once.
func ARIWindowOpen(in Input) (Decision, bool) {
	w := in.Asset.RenewalWindow
	if w == nil || in.Now.Before(w.Start) {
		return Decision{}, false
	}
	if !in.Now.Before(w.End) {
		return Decision{Due: true, Reason: ReasonARIWindow,
			Message: fmt.Sprintf("the CA's renewal window closed at %s; renew now", stamp(w.End))}, true
	}
	point := ariPoint(in.Asset)
	if in.Now.Before(point) {
		return Decision{}, false // the fallback checks may still find it due
	}
	return Decision{Due: true, Reason: ReasonARIWindow,
		Message: fmt.Sprintf("the CA's renewal window is open (%s to %s) and this asset's time in it, %s, has come",
			stamp(w.Start), stamp(w.End), stamp(point))}, true
}

// FixedDaysLeft decides due when fewer than Settings.FixedDays are left,
// if fixed days are the rule in force for this certificate.
func FixedDaysLeft(in Input) (Decision, bool) {
	return dueByRule(in, ReasonFixedDays)
}

// LifetimeFractionLeft decides due when less than Settings.RenewFraction
// of the lifetime is left, if the fraction is the rule in force.
func LifetimeFractionLeft(in Input) (Decision, bool) {
	return dueByRule(in, ReasonLifetimeFraction)
}

func dueByRule(in Input, reason string) (Decision, bool) {
	if in.Asset.CertificateExpiration == nil {
		return Decision{}, false
	}
	r := ruleFor(in.Asset, in.Settings)
	if r.reason != reason || in.Now.Before(r.jittered) {
		return Decision{}, false
	}
	msg := r.describe(true)
	if !in.Now.Before(r.expiry) {
		msg = fmt.Sprintf("the certificate expired at %s", stamp(r.expiry))
	}
	return Decision{Due: true, Reason: reason, Message: msg}, true
}

// NotDueYet always decides: not due, with the time it will be.
func NotDueYet(in Input) (Decision, bool) {
	if in.Asset.CertificateExpiration == nil {
		return Decision{Reason: ReasonNotDue, Message: "nothing found the certificate due"}, true
	}
	r := ruleFor(in.Asset, in.Settings)
	at, msg := r.jittered, fmt.Sprintf("renews from %s, %s", stamp(r.jittered), r.describe(false))
	if w := in.Asset.RenewalWindow; w != nil {
		if point := ariPoint(in.Asset); point.Before(at) {
			at = point
			msg = fmt.Sprintf("renews from %s, inside the CA's renewal window (%s to %s)", stamp(point), stamp(w.Start), stamp(w.End))
		}
	}
	return Decision{Reason: ReasonNotDue, Message: msg, NotBefore: at}, true
}

// RenewalTime returns the earliest instant the policy considers a due,
// ignoring pause, backoff and jitter: the store indexes assets on it so a
// scan reads only those that may be due. It is nil when the expiry is
// unknown, which means due now.
func RenewalTime(a asset.Asset, s Settings) *time.Time {
	if a.CertificateExpiration == nil {
		return nil
	}
	at := ruleFor(a, s.WithDefaults()).at
	if w := a.RenewalWindow; w != nil && w.Start.Before(at) {
		at = w.Start
	}
	return &at
}

// rule is the expiry-based rule in force for one certificate.
type rule struct {
	reason   string // ReasonFixedDays or ReasonLifetimeFraction
	expiry   time.Time
	at       time.Time // due from here, before jitter
	jittered time.Time // due from here
	jitter   time.Duration
	fraction float64
	days     int
	lifetime time.Duration
	assumed  bool // the lifetime is AssumedLifetime: the issue date is unknown
	// fixedIgnored: fixed_days is set but not shorter than the lifetime.
	fixedIgnored bool
}

func ruleFor(a asset.Asset, s Settings) rule {
	r := rule{expiry: *a.CertificateExpiration, lifetime: AssumedLifetime, assumed: true,
		fraction: s.RenewFraction, days: s.FixedDays}
	if nb := a.CertificateNotBefore; nb != nil && r.expiry.After(*nb) {
		r.lifetime, r.assumed = r.expiry.Sub(*nb), false
	}
	fixed := time.Duration(s.FixedDays) * 24 * time.Hour
	switch {
	case s.FixedDays > 0 && (r.assumed || fixed < r.lifetime):
		r.reason, r.at = ReasonFixedDays, r.expiry.Add(-fixed)
	default:
		r.fixedIgnored = s.FixedDays > 0
		r.reason = ReasonLifetimeFraction
		r.at = r.expiry.Add(-time.Duration(float64(r.lifetime) * s.RenewFraction))
	}
	// Jitter never takes more than a tenth of what is left at the renewal
	// time, so short-lived certificates keep most of their margin.
	if span := min(s.Jitter, r.expiry.Sub(r.at)/10); span > 0 {
		// Whole seconds, so the time a message shows is the time used.
		r.jitter = time.Duration(spread(a.SystemName) * float64(span)).Truncate(time.Second)
	}
	r.jittered = r.at.Add(r.jitter)
	return r
}

// describe words the rule: as the reason it is due, or as the condition it
// will be due on.
func (r rule) describe(due bool) string {
	var s string
	switch r.reason {
	case ReasonFixedDays:
		s = fmt.Sprintf("fewer than %d days left", r.days)
	default:
		s = fmt.Sprintf("less than %s of the %s lifetime left", formatFraction(r.fraction), formatLifetime(r.lifetime))
	}
	if !due {
		s = "when " + s
		if r.jitter > 0 {
			s += fmt.Sprintf(", plus %s of jitter", r.jitter)
		}
	}
	if r.assumed && r.reason == ReasonLifetimeFraction {
		s += "; the lifetime is taken as 90 days since the issue date is unknown"
	}
	if r.fixedIgnored {
		s += fmt.Sprintf("; fixed_days %d does not apply, being no shorter than the lifetime", r.days)
	}
	return s + fmt.Sprintf(" (expires %s)", stamp(r.expiry))
}

// ariPoint is this asset's renewal time within its ARI window.
func ariPoint(a asset.Asset) time.Time {
	w := a.RenewalWindow
	if !w.End.After(w.Start) {
		return w.Start
	}
	offset := time.Duration(spread(a.SystemName) * float64(w.End.Sub(w.Start)))
	return w.Start.Add(offset.Truncate(time.Second))
}

// spread maps a system name to a fixed number in [0, 1), the same on every
// node and every scan, so an asset's jitter never moves.
func spread(systemName string) float64 {
	h := fnv.New64a()
	h.Write([]byte(systemName))
	return float64(h.Sum64()>>11) / (1 << 53)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// formatFraction writes 1/3 as "1/3" and 0.4 as "40%".
func formatFraction(f float64) string {
	if n := 1 / f; math.Abs(n-math.Round(n)) < 1e-6 {
		return fmt.Sprintf("1/%d", int(math.Round(n)))
	}
	return fmt.Sprintf("%g%%", math.Round(f*1000)/10)
}

// formatLifetime writes a lifetime in whole days from two days up (CAs
// issue 90 days less a second), else in hours or minutes.
func formatLifetime(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d-day", int(math.Round(d.Hours()/24)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d-hour", int(math.Round(d.Hours())))
	}
	return d.Round(time.Minute).String()
}
