package notify

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// Every event is decided once per cause: a cause has a key, claimed in the
// store with the event's deliveries (store.Notifications), and a key once
// claimed is never claimed again, by any process. These functions decide,
// without I/O, which event a cause makes and which keys it claims; the
// first key is the event's own (Event.Key).

// streak names the failure streak an asset is in or last was in: the
// rotations since its last success (or since it was added). PagerDuty's
// incident is keyed by it, so its failures and its recovery meet there.
func streak(a asset.Asset) string {
	since := "never"
	if a.LastRotation != nil {
		since = strconv.FormatInt(a.LastRotation.Unix(), 10)
	}
	return a.SystemName + "/" + since
}

// The keys of the causes.

func failedKey(streak string) string { return string(RotationFailed) + "/" + streak }

func escalatedKey(streak string) string { return string(RotationFailed) + "/escalated/" + streak }

func recoveredKey(streak string) string { return string(RotationRecovered) + "/" + streak }

func rolledBackKey(id int64) string {
	return string(RotationRolledBack) + "/" + strconv.FormatInt(id, 10)
}

func digestKey(day time.Time) string {
	return string(DigestKind) + "/" + day.UTC().Format(time.DateOnly)
}

func expiringKey(a asset.Asset, days int) string {
	return fmt.Sprintf("%s/%s/%s/%d", CertificateExpiring, a.SystemName, certificateID(a), days)
}

func driftKey(system, recorded, served string) string {
	return fmt.Sprintf("%s/%s/%s/%s", CertificateDrift, system, recorded, served)
}

// certificateID names the asset's recorded certificate: its serial, or its
// expiry when the serial is unknown (an inventory imported without it).
func certificateID(a asset.Asset) string {
	if s := normalSerial(a.CertificateSerial); s != "" {
		return s
	}
	if a.CertificateExpiration != nil {
		return "expiring-" + strconv.FormatInt(a.CertificateExpiration.Unix(), 10)
	}
	return "unknown"
}

// normalSerial writes a serial as ottr records it (verify.SerialHex):
// lower-case hex without colons or leading zeros, so one imported as
// "04:A1:B2" is the one a device serves as 4a1b2.
func normalSerial(s string) string {
	s = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if t := strings.TrimLeft(s, "0"); t != "" || s == "" {
		return t
	}
	return "0"
}

// daysLeft is the whole days from now to notAfter, rounded down: a
// certificate with 6 days and 23 hours left has 6 days left, one that
// expired an hour ago -1.
func daysLeft(notAfter, now time.Time) int {
	return int(math.Floor(notAfter.Sub(now).Hours() / 24))
}

// told is which keys of an asset's streak are claimed already.
type told struct{ failed, escalated, recovered bool }

// streakKeys are the keys told is read from.
func streakKeys(streak string) []string {
	return []string{failedKey(streak), escalatedKey(streak), recoveredKey(streak)}
}

func toldOf(streak string, claimed map[string]bool) told {
	return told{failed: claimed[failedKey(streak)], escalated: claimed[escalatedKey(streak)], recovered: claimed[recoveredKey(streak)]}
}

// decision is an event to tell and the keys its cause claims; Keys[0] is
// the event's own.
type decision struct {
	Kind      Kind
	Escalated bool
	Keys      []string
}

// decideEnding decides what an ended rotation tells, given what its
// asset's streak has told already:
//
//   - a failure tells rotation.failed when it is the first told of its
//     streak, and once more, escalated, when the streak has gone on for
//     EscalateAfter failures or the certificate has fewer than
//     EscalateDaysLeft days left; a failure that escalates the first time
//     it is told is one escalated message, not two;
//   - a rollback tells rotation.rolled_back each time, and counts in its
//     streak as a failure would (it marks the streak told, or escalated);
//   - a success that records a certificate after a told streak tells
//     rotation.recovered, once.
//
// Nothing else tells anything: the second failure of a streak, a success
// with nothing before it.
func decideEnding(e rotation.Ending, t told, f config.NotifyFailure, now time.Time) (decision, bool) {
	switch e.Rotation.State {
	case store.StateSucceeded:
		if e.Before.FailureCount == 0 || e.After.FailureCount != 0 || !t.failed || t.recovered {
			return decision{}, false
		}
		return decision{Kind: RotationRecovered, Keys: []string{recoveredKey(streak(e.Before))}}, true
	case store.StateFailed, store.StateRolledBack:
	default:
		return decision{}, false
	}
	// A failure records no success: the streak is the one the rotation
	// found the asset in.
	s := streak(e.Before)
	escalates := e.After.FailureCount >= f.EscalateAfter ||
		(e.After.CertificateExpiration != nil && daysLeft(*e.After.CertificateExpiration, now) < f.EscalateDaysLeft)
	d := decision{Kind: RotationFailed}
	if e.Rotation.State == store.StateRolledBack {
		d.Kind = RotationRolledBack
		d.Keys = append(d.Keys, rolledBackKey(e.Rotation.ID))
	}
	if !t.failed {
		d.Keys = append(d.Keys, failedKey(s))
	}
	if escalates && !t.escalated {
		d.Escalated = true
		d.Keys = append(d.Keys, escalatedKey(s))
	}
	return d, len(d.Keys) > 0
}

// Reasons a certificate may not be rotated before it expires
// (Event.Reason).
const (
	ReasonPaused      = "paused"
	ReasonNoRoute     = "no route"
	ReasonRateLimited = "CA rate limited"
	ReasonFailing     = "failing"
	ReasonBackoff     = "in backoff"
)

// reasonOf says why a's certificate may not be rotated in time, or "" when
// nothing holds its rotation back. routed tells whether a route takes it;
// heldUntil is when its CA's orders stop being held back after the CA
// refused one for its rate limits.
func reasonOf(a asset.Asset, routed bool, heldUntil, now time.Time) string {
	switch {
	case a.Paused:
		return ReasonPaused
	case !routed:
		return ReasonNoRoute
	case heldUntil.After(now):
		return ReasonRateLimited
	case a.FailureCount > 0:
		return ReasonFailing
	case a.NextAttemptAt != nil && a.NextAttemptAt.After(now):
		return ReasonBackoff
	}
	return ""
}

// renewalSlack is how long before a threshold a certificate must have
// been due for crossing it to be news when nothing holds its rotation
// back: a certificate renewed when a third of 90 days is left crosses 30
// days as it becomes due, and its renewal, under way, is not news.
const renewalSlack = 24 * time.Hour

// decideExpiry decides whether a's certificate is told as expiring now:
// at the smallest threshold of days it has crossed (the larger ones are
// then stale news), when the asset has a reason not to be rotated in time,
// or was due more than renewalSlack before the threshold and is still not
// rotated. renewal is when the renewal policy makes it due (nil:
// unknown). It returns the threshold.
func decideExpiry(a asset.Asset, days []int, reason string, renewal *time.Time, now time.Time) (int, bool) {
	if a.CertificateExpiration == nil {
		return 0, false
	}
	notAfter := *a.CertificateExpiration
	threshold, crossed := 0, false
	for _, d := range days {
		if notAfter.Sub(now) <= time.Duration(d)*24*time.Hour && (!crossed || d < threshold) {
			threshold, crossed = d, true
		}
	}
	if !crossed {
		return 0, false
	}
	crossing := notAfter.Add(-time.Duration(threshold) * 24 * time.Hour)
	if reason == "" && renewal != nil && renewal.After(crossing.Add(-renewalSlack)) {
		return 0, false
	}
	return threshold, true
}

// driftSerials returns the serials a device was seen serving that are
// neither recorded nor expected, each once, normalized.
func driftSerials(recorded string, seen ...string) []string {
	recorded = normalSerial(recorded)
	if recorded == "" {
		return nil
	}
	var out []string
	for _, s := range seen {
		if s = normalSerial(s); s != "" && s != recorded && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
