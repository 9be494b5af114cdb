package notify

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// assetOf is what a message shows of a, its days left counted at now.
func assetOf(a asset.Asset, now time.Time) *Asset {
	out := &Asset{
		SystemName: a.SystemName,
		IPAddress:  a.IPAddress,
		Platform:   a.HostPlatform,
		OSVersion:  a.OSVersion,
		CA:         a.CertificateAuthority,
		DataCenter: a.DataCenter,
		Labels:     maps.Clone(a.Labels),
		Serial:     normalSerial(a.CertificateSerial),
	}
	if a.CertificateExpiration != nil {
		notAfter := a.CertificateExpiration.UTC()
		days := daysLeft(notAfter, now)
		out.NotAfter, out.DaysLeft = &notAfter, &days
	}
	return out
}

// links builds the addresses messages point to: the web UI's pages
// (internal/ui) under external_url, which a person opens in a browser.
type links struct{ base string }

// rotation is the rotation's page in the web UI.
func (l links) rotation(id int64) string {
	if l.base == "" {
		return ""
	}
	return l.base + "/ui/rotations/" + strconv.FormatInt(id, 10)
}

// asset is the asset's page in the web UI, its name escaped as one path
// segment, as the UI's own links escape it.
func (l links) asset(systemName string) string {
	if l.base == "" {
		return ""
	}
	return l.base + "/ui/assets/" + url.PathEscape(systemName)
}

// ordinal writes n as "1st", "2nd", "3rd", "4th", …
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}

// inDays says when a certificate with days left expires.
func inDays(days int) string {
	switch {
	case days < 0:
		return "expired " + plural(-days, "day") + " ago"
	case days == 0:
		return "expires within a day"
	}
	return "expires in " + plural(days, "day")
}

// summary is the line a person reads first.
func summary(e Event) string {
	name := ""
	if e.Asset != nil {
		name = e.Asset.SystemName
	}
	expiry := ""
	if e.Asset != nil && e.Asset.DaysLeft != nil {
		expiry = "; its certificate " + inDays(*e.Asset.DaysLeft)
	}
	switch e.Kind {
	case RotationFailed:
		step := ""
		if e.Rotation != nil && e.Rotation.Step != "" {
			step = " at " + e.Rotation.Step
		}
		if e.Escalated {
			return fmt.Sprintf("Rotation of %s still failing%s: %s in a row%s", name, step, plural(e.FailureCount, "failure"), expiry)
		}
		return fmt.Sprintf("Rotation of %s failed%s (%s failure)%s", name, step, ordinal(e.FailureCount), expiry)
	case RotationRolledBack:
		return fmt.Sprintf("Rotation of %s rolled back: the device did not serve the new certificate and was restored to the old one%s", name, expiry)
	case RotationRecovered:
		return fmt.Sprintf("Rotation of %s succeeded after %s", name, plural(e.FailureCount, "failure"))
	case CertificateExpiring:
		s := fmt.Sprintf("Certificate of %s %s", name, strings.TrimPrefix(expiry, "; its certificate "))
		if e.Reason != "" {
			return s + " and will not be rotated in time: " + e.Reason
		}
		return s + " and is not rotated yet"
	case CertificateDrift:
		if e.Drift != nil {
			return fmt.Sprintf("%s serves certificate %s, not the recorded %s", name, e.Drift.ServedSerial, e.Drift.RecordedSerial)
		}
	case DigestKind:
		if d := e.Digest; d != nil {
			total := 0
			for _, n := range d.States {
				total += n
			}
			return fmt.Sprintf("Daily digest: %s, %d failing, %d expiring within 14 days", plural(total, "asset"), d.FailedTotal, d.ExpiringTotal)
		}
	}
	return string(e.Kind) + " " + name
}

// minSecretLength is the shortest secret redacted: shorter strings are too
// likely to be ordinary words of the message.
const minSecretLength = 4

// minSecretLine is the shortest line of a multi-line secret (a private
// key's PEM) redacted on its own; shorter lines (the last of the base64)
// are too likely to match ordinary text.
const minSecretLine = 16

// redact returns text with every secret replaced by "[redacted]", and each
// long line of a multi-line secret too: a device's error may quote what
// it was sent.
func redact(text string, secrets []string) string {
	var parts []string
	for _, s := range secrets {
		if len(s) >= minSecretLength {
			parts = append(parts, s)
		}
		if !strings.Contains(s, "\n") {
			continue
		}
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); len(line) >= minSecretLine && !strings.HasPrefix(line, "-----") {
				parts = append(parts, line)
			}
		}
	}
	// Longest first, so a secret that holds another is replaced whole.
	slices.SortFunc(parts, func(a, b string) int { return len(b) - len(a) })
	for _, p := range parts {
		text = strings.ReplaceAll(text, p, "[redacted]")
	}
	return text
}
