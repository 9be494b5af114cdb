// Package notify tells the people who run ottr what needs them: a rotation
// that failed, was rolled back or recovered, a certificate about to expire,
// a device serving another certificate than the one recorded, and a daily
// digest. An Event says what happened once per cause; a Channel (Slack, a
// signed webhook, e-mail, PagerDuty, Microsoft Teams) renders it in its own
// native form and delivers it.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is what an event is about.
type Kind string

// The kinds of event.
const (
	// RotationFailed is the first failure of a streak, and again once
	// when the streak escalates (Event.Escalated).
	RotationFailed Kind = "rotation.failed"
	// RotationRolledBack is a device that refused the new certificate
	// and was restored to the old one.
	RotationRolledBack Kind = "rotation.rolled_back"
	// RotationRecovered is the first success after a streak that was
	// told.
	RotationRecovered Kind = "rotation.recovered"
	// CertificateExpiring is a certificate crossing one of the expiry
	// thresholds (Event.ThresholdDays) before its notAfter.
	CertificateExpiring Kind = "certificate.expiring"
	// CertificateDrift is a device serving another leaf than the one
	// ottr recorded.
	CertificateDrift Kind = "certificate.drift"
	// DigestKind is the daily summary.
	DigestKind Kind = "digest"
)

// Kinds lists every kind, in the order the docs give them.
func Kinds() []Kind {
	return []Kind{RotationFailed, RotationRolledBack, RotationRecovered, CertificateExpiring, CertificateDrift, DigestKind}
}

// Event is one thing worth telling, with everything a message shows. It is
// plain data: it is kept in a delivery job's arguments and sent as the
// webhook channel's JSON body.
type Event struct {
	Kind Kind `json:"kind"`
	// Key names the cause: an event with the same key is told once, in
	// the whole cluster. PagerDuty's dedup_key is built from it too.
	Key  string    `json:"key"`
	Time time.Time `json:"time"`
	// Summary is one line a person reads first, such as "Rotation of
	// fw1.example.com failed at install".
	Summary string `json:"summary"`
	// Link is where to look: the web UI's page of the rotation (or the
	// asset) under the configured external_url. Empty when no
	// external_url is set.
	Link string `json:"link,omitempty"`

	// Asset is the device the event is about; nil for a digest.
	Asset *Asset `json:"asset,omitempty"`
	// Rotation is the rotation the event is about, for rotation.* events.
	Rotation *Rotation `json:"rotation,omitempty"`
	// Escalated is set on the second rotation.failed of a streak: the
	// streak went on for escalate_after failures, or the certificate has
	// fewer than escalate_days_left days left.
	Escalated bool `json:"escalated,omitempty"`
	// FailureCount is how many rotations in a row failed, for
	// rotation.failed and rotation.recovered.
	FailureCount int `json:"failure_count,omitempty"`
	// Incident groups the events of one failure streak of one asset: a
	// PagerDuty incident is triggered and resolved with it as dedup_key.
	Incident string `json:"incident,omitempty"`
	// ThresholdDays is the threshold a certificate.expiring crossed.
	ThresholdDays int `json:"threshold_days,omitempty"`
	// Reason says, for certificate.expiring, why the certificate may not
	// be rotated in time: "no route", "paused", "failing", "in backoff",
	// "CA rate limited"; empty when a rotation is expected.
	Reason string `json:"reason,omitempty"`
	// Drift is what a certificate.drift saw.
	Drift *Drift `json:"drift,omitempty"`
	// Digest is the daily summary.
	Digest *Digest `json:"digest,omitempty"`
	// Test marks a sample sent by 'ottr notify test': nothing happened.
	Test bool `json:"test,omitempty"`
}

// Asset is what a message shows of a device: what Ottr's Slack message
// showed (system name, IP, platform, OS version, CA) and more.
type Asset struct {
	SystemName string            `json:"system_name"`
	IPAddress  string            `json:"ip_address,omitempty"`
	Platform   string            `json:"host_platform,omitempty"`
	OSVersion  string            `json:"os_version,omitempty"`
	CA         string            `json:"certificate_authority,omitempty"`
	DataCenter string            `json:"data_center,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Serial is the recorded certificate's serial, in hex.
	Serial string `json:"certificate_serial,omitempty"`
	// NotAfter is the recorded certificate's expiry; nil when unknown.
	NotAfter *time.Time `json:"certificate_expiration,omitempty"`
	// DaysLeft is whole days from the event to NotAfter; nil when unknown.
	DaysLeft *int `json:"days_left,omitempty"`
}

// Rotation is what a message shows of a rotation.
type Rotation struct {
	ID int64 `json:"id"`
	// State is the rotation's final state: failed, rolled_back, succeeded.
	State string `json:"state"`
	// Step is the step that failed; empty for a success.
	Step string `json:"step,omitempty"`
	// Error is the failure, with secrets redacted.
	Error    string `json:"error,omitempty"`
	Attempts int    `json:"attempts"`
	Trigger  string `json:"trigger,omitempty"`
}

// Drift is a device serving a leaf other than the recorded one.
type Drift struct {
	RecordedSerial string `json:"recorded_serial"`
	ServedSerial   string `json:"served_serial"`
	// SeenBy is what saw it: a rotation's "preflight" or "verify", or
	// the periodic served-certificate "check".
	SeenBy string `json:"seen_by"`
}

// Digest is the daily summary.
type Digest struct {
	// States counts assets by state: ok, due, rotating, failing, paused,
	// unrouted.
	States map[string]int `json:"states"`
	// Expiring are the certificates that expire in the next 14 days,
	// soonest first; at most DigestListed of them.
	Expiring []Asset `json:"expiring"`
	// ExpiringTotal counts them all.
	ExpiringTotal int `json:"expiring_total"`
	// Failed are the assets whose last rotation failed, most failures
	// first; at most DigestListed of them.
	Failed []Asset `json:"failed"`
	// FailedTotal counts them all.
	FailedTotal int `json:"failed_total"`
}

// DigestListed is the most assets a digest lists in Expiring and in
// Failed, so a message stays readable (and within what chat services
// accept) however large the inventory; the totals count them all.
const DigestListed = 50

// Channel delivers events to one destination, rendered in the
// destination's own form. Implementations are safe for concurrent use.
type Channel interface {
	// Name is the channel's name in the config.
	Name() string
	// Kind is the channel's kind: slack, webhook, email, pagerduty, teams.
	Kind() string
	// Send delivers e once. It returns what the destination answered, for
	// `ottr notify test`, and a *RetryableError when trying again later
	// may succeed (a 429, a 5xx, a network error); any other error is
	// final. Errors never carry a secret (token, webhook URL, password).
	Send(ctx context.Context, e Event) (Receipt, error)
}

// Receipt is what a destination answered to a delivery.
type Receipt struct {
	// Status is the answer's status: an HTTP status line, or the SMTP
	// server's reply.
	Status string `json:"status"`
	// Detail is what else the destination said worth showing (Slack's
	// message ts, PagerDuty's dedup_key), without secrets.
	Detail string `json:"detail,omitempty"`
}

// RetryableError is a delivery the destination refused for now.
type RetryableError struct {
	// After is when the destination asked to be tried again
	// (Retry-After); zero when it did not say.
	After time.Duration
	Err   error
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("%v (the channel asks to retry after %s)", e.Err, e.After)
	}
	return e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable reports whether err is worth delivering again, and after how
// long the destination asked (zero when it did not say).
func Retryable(err error) (time.Duration, bool) {
	var r *RetryableError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}
