package notify

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr-go/ottr/internal/asset"
)

// message is an event as every channel shows it: a title, the facts as
// label and value, the failure, lists (a digest's) and where to look. Each
// channel lays it out in its own form, so the words are the same wherever
// an event is read.
type message struct {
	Kind Kind
	// Title names what happened and to which device, in a few words.
	Title string
	// Summary is the event's own line, or the title when it has none.
	Summary  string
	Severity severity
	Facts    []fact
	// Error is the rotation's failure, secrets already redacted by whoever
	// made the event; empty when none.
	Error string
	// Lists are a digest's: what expires soon, what failed.
	Lists []list
	// Link, when set, is where to look; LinkText the words on its button.
	Link     string
	LinkText string
	Time     time.Time
}

// fact is one label and its value, such as "Platform" and "panos".
type fact struct{ Label, Value string }

// list is a titled list of lines; More counts the lines left out.
type list struct {
	Title string
	Items []string
	More  int
}

// severity is how urgent an event is, in PagerDuty's words; the other
// channels map it to their own (a Teams colour, an e-mail's importance).
type severity string

const (
	severityCritical severity = "critical"
	severityError    severity = "error"
	severityWarning  severity = "warning"
	severityInfo     severity = "info"
)

// criticalDaysLeft makes any problem with a certificate that has fewer days
// left than this critical. It is escalate_days_left's default, so a streak
// that escalates for lack of time pages as critical too.
const criticalDaysLeft = 7

// maxErrorLen bounds the error a message shows: Slack takes 3,000
// characters in a section, and an error longer than this is a stack of
// wrapped causes whose start says what went wrong.
const maxErrorLen = 2000

// maxListItems bounds the lines of a digest's lists, so a bad day with
// hundreds of failures still fits in one Slack message or Teams card.
const maxListItems = 20

// render turns e into what a message shows.
func render(e Event) message {
	m := message{
		Kind:     e.Kind,
		Title:    title(e),
		Summary:  e.Summary,
		Severity: severityOf(e),
		Facts:    facts(e),
		Link:     e.Link,
		LinkText: "Open in ottr",
		Time:     e.Time,
	}
	if m.Summary == "" {
		m.Summary = m.Title
	}
	if e.Rotation != nil {
		m.Error = truncate(e.Rotation.Error, maxErrorLen)
		m.LinkText = fmt.Sprintf("Open rotation #%d", e.Rotation.ID)
	}
	if e.Digest != nil {
		m.Lists = digestLists(*e.Digest)
	}
	return m
}

// title says what happened, then to which device; a sample sent by
// 'ottr notify test' says so first.
func title(e Event) string {
	if e.Test {
		return "Test message from ottr — nothing happened: " + eventTitle(e)
	}
	return eventTitle(e)
}

func eventTitle(e Event) string {
	var what string
	switch e.Kind {
	case RotationFailed:
		what = "Rotation failed"
		if e.FailureCount > 1 {
			what = fmt.Sprintf("Rotation failed %d times in a row", e.FailureCount)
		}
		if e.Escalated {
			what += " (escalated)"
		}
	case RotationRolledBack:
		what = "Rotation rolled back"
	case RotationRecovered:
		what = "Rotation recovered"
		if e.FailureCount > 0 {
			what += " after " + plural(e.FailureCount, "failure")
		}
	case CertificateExpiring:
		what = "Certificate " + expiryPhrase(e)
	case CertificateDrift:
		what = "Device serves another certificate"
	case DigestKind:
		return "ottr daily digest"
	default:
		what = string(e.Kind)
	}
	if e.Asset == nil || e.Asset.SystemName == "" {
		return what
	}
	return what + ": " + e.Asset.SystemName
}

// expiryPhrase says when the certificate expires: from the days left when
// known, from the threshold it crossed otherwise.
func expiryPhrase(e Event) string {
	if e.Asset == nil || e.Asset.DaysLeft == nil {
		if e.ThresholdDays <= 0 {
			return "expires soon"
		}
		return "expires within " + plural(e.ThresholdDays, "day")
	}
	return inDays(*e.Asset.DaysLeft)
}

// severityOf says how urgent e is: failures are errors, and critical once
// escalated or when the certificate is close to expiring; a coming expiry
// is a warning, an error when something stands in the rotation's way.
func severityOf(e Event) severity {
	short := e.Asset != nil && e.Asset.DaysLeft != nil && *e.Asset.DaysLeft < criticalDaysLeft
	switch e.Kind {
	case RotationFailed, RotationRolledBack:
		if e.Escalated || short {
			return severityCritical
		}
		return severityError
	case CertificateExpiring:
		switch {
		case short:
			return severityCritical
		case e.Reason != "":
			return severityError
		}
		return severityWarning
	case CertificateDrift:
		return severityWarning
	}
	return severityInfo
}

// facts are what the message lists: the device as Ottr's Slack message
// showed it (system name, IP, platform, OS version, CA, expiry), then what
// this kind of event adds.
func facts(e Event) []fact {
	var fs []fact
	add := func(label, value string) {
		if value != "" {
			fs = append(fs, fact{Label: label, Value: value})
		}
	}
	if a := e.Asset; a != nil {
		add("System name", a.SystemName)
		add("IP address", a.IPAddress)
		add("Platform", a.Platform)
		add("OS version", a.OSVersion)
		add("CA profile", a.CA)
		if a.NotAfter != nil {
			add("Expires", formatTime(*a.NotAfter))
		}
		if a.DaysLeft != nil {
			add("Days left", strconv.Itoa(*a.DaysLeft))
		}
		add("Data center", a.DataCenter)
	}
	if r := e.Rotation; r != nil {
		add("Rotation", "#"+strconv.FormatInt(r.ID, 10))
		add("Failed step", r.Step)
		if r.Attempts > 0 {
			add("Attempts", strconv.Itoa(r.Attempts))
		}
		add("Trigger", r.Trigger)
	}
	if e.FailureCount > 0 {
		label := "Failures in a row"
		if e.Kind == RotationRecovered {
			label = "Failures before recovery"
		}
		add(label, strconv.Itoa(e.FailureCount))
	}
	if e.Kind == CertificateExpiring {
		if e.ThresholdDays > 0 {
			add("Threshold", plural(e.ThresholdDays, "day"))
		}
		add("Rotation blocked", e.Reason)
		if e.Asset != nil {
			add("Serial", e.Asset.Serial)
		}
	}
	if d := e.Drift; d != nil {
		add("Recorded serial", d.RecordedSerial)
		add("Served serial", d.ServedSerial)
		add("Seen by", d.SeenBy)
	}
	if e.Asset != nil {
		add("Labels", formatLabels(e.Asset.Labels))
	}
	if d := e.Digest; d != nil {
		for _, state := range digestStates(d.States) {
			add(stateLabel(state), strconv.Itoa(d.States[state]))
		}
	}
	return fs
}

// assetStates is the order a digest counts states in (the fleet states,
// as shown); states it does not name follow, sorted.
var assetStates = asset.States()

func digestStates(counts map[string]int) []string {
	var states []string
	for _, s := range assetStates {
		if _, ok := counts[s]; ok {
			states = append(states, s)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(counts)) {
		if s != "" && !slices.Contains(assetStates, s) {
			states = append(states, s)
		}
	}
	return states
}

// stateLabel is how a digest names a state: "OK", "Failing".
func stateLabel(state string) string {
	if state == "ok" {
		return "OK"
	}
	return strings.ToUpper(state[:1]) + state[1:]
}

// digestLists are the digest's lines: what expires soon, what failed.
func digestLists(d Digest) []list {
	expiring := list{Title: "Expiring in the next 14 days"}
	for _, a := range d.Expiring {
		line := a.SystemName
		if a.NotAfter != nil {
			line += " expires " + formatTime(*a.NotAfter)
		}
		if a.DaysLeft != nil {
			line += " (" + plural(*a.DaysLeft, "day") + " left)"
		}
		expiring.Items = append(expiring.Items, line+where(a))
	}
	failed := list{Title: "Failed"}
	for _, a := range d.Failed {
		failed.Items = append(failed.Items, a.SystemName+where(a))
	}
	return []list{expiring.bounded(d.ExpiringTotal), failed.bounded(d.FailedTotal)}
}

// where places an asset for a digest line: its data center and platform.
func where(a Asset) string {
	var parts []string
	for _, p := range []string{a.DataCenter, a.Platform} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ", " + strings.Join(parts, ", ")
}

// bounded keeps at most maxListItems items; total, when larger than the
// items given (the digest lists only the first of many), is what the last
// line counts the rest from.
func (l list) bounded(total int) list {
	total = max(total, len(l.Items))
	if len(l.Items) > maxListItems {
		l.Items = l.Items[:maxListItems]
	}
	l.More = total - len(l.Items)
	return l
}

// lines are the list's items and, when some were left out, a last line
// that counts them; "none" for an empty list.
func (l list) lines() []string {
	if len(l.Items) == 0 {
		return []string{"none"}
	}
	if l.More == 0 {
		return l.Items
	}
	return append(slices.Clip(l.Items), fmt.Sprintf("and %d more", l.More))
}

// plainText is the message as plain text: the e-mail's text part and what
// a reader without formatting sees.
func (m message) plainText() string {
	var b strings.Builder
	b.WriteString(m.Title + "\n")
	if m.Summary != m.Title {
		b.WriteString(m.Summary + "\n")
	}
	b.WriteString("\n")
	width := 0
	for _, f := range m.Facts {
		width = max(width, utf8.RuneCountInString(f.Label))
	}
	for _, f := range m.Facts {
		fmt.Fprintf(&b, "%-*s  %s\n", width+1, f.Label+":", f.Value)
	}
	if m.Error != "" {
		b.WriteString("\nError:\n")
		for _, line := range strings.Split(m.Error, "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	for _, l := range m.Lists {
		b.WriteString("\n" + l.Title + ":\n")
		for _, line := range l.lines() {
			b.WriteString("  - " + line + "\n")
		}
	}
	if m.Link != "" {
		b.WriteString("\n" + m.LinkText + ": " + m.Link + "\n")
	}
	b.WriteString("\n" + m.footer() + "\n")
	return b.String()
}

// footer names the event's kind and time, for the end of a message.
func (m message) footer() string {
	if m.Time.IsZero() {
		return "ottr · " + string(m.Kind)
	}
	return "ottr · " + string(m.Kind) + " · " + formatTime(m.Time)
}

// detailsMap is the facts, the error and the link as one map, for channels
// that take key/value details (PagerDuty's custom_details).
func (m message) detailsMap() map[string]string {
	details := make(map[string]string, len(m.Facts)+3)
	for _, f := range m.Facts {
		details[f.Label] = f.Value
	}
	if m.Error != "" {
		details["Error"] = m.Error
	}
	for _, l := range m.Lists {
		details[l.Title] = strings.Join(l.lines(), "\n")
	}
	if m.Link != "" {
		details["Link"] = m.Link
	}
	details["Event"] = string(m.Kind)
	return details
}

// formatTime shows a time to the minute, in UTC: what a person compares
// with a certificate's notAfter.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func formatLabels(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ", ")
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// truncate shortens s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}
