package notifytest

import (
	"fmt"
	"time"

	"github.com/ottr-go/ottr/internal/notify"
)

// SampleEvents are one event of every kind, and the escalation of a
// failure, about a firewall whose rotation fails at the install step, as
// of now. Each names a distinct key; the failure, its escalation and the
// recovery share an incident.
func SampleEvents(now time.Time) []notify.Event {
	now = now.UTC().Truncate(time.Second)
	notAfter := now.Add(5*24*time.Hour + time.Hour)
	daysLeft := 5
	asset := notify.Asset{
		SystemName: "fw1.dc1.example.com",
		IPAddress:  "10.1.2.3",
		Platform:   "panos",
		OSVersion:  "11.1.2",
		CA:         "letsencrypt",
		DataCenter: "dc1",
		Labels:     map[string]string{"team": "network"},
		Serial:     "04a1b2c3d4e5f6",
		NotAfter:   &notAfter,
		DaysLeft:   &daysLeft,
	}
	link := "https://ottr.example.com/ui/rotations/41"
	failed := &notify.Rotation{
		ID: 41, State: "failed", Step: "install", Attempts: 3, Trigger: "schedule",
		Error: "panos: import certificate: HTTP 403: Invalid Credential",
	}
	incident := "ottr/fw1.dc1.example.com/streak/7"
	event := func(kind notify.Kind, key, summary string) notify.Event {
		a := asset
		return notify.Event{Kind: kind, Key: key, Time: now, Summary: summary, Link: link, Asset: &a}
	}

	first := event(notify.RotationFailed, "rotation.failed/fw1.dc1.example.com/7/1", "Rotation of fw1.dc1.example.com failed at install")
	first.Rotation, first.FailureCount, first.Incident = failed, 1, incident

	escalated := event(notify.RotationFailed, "rotation.failed/fw1.dc1.example.com/7/escalated", "Rotation of fw1.dc1.example.com failed 3 times in a row at install")
	escalated.Rotation, escalated.FailureCount, escalated.Incident, escalated.Escalated = failed, 3, incident, true

	rolledBack := event(notify.RotationRolledBack, "rotation.rolled_back/42", "fw1.dc1.example.com refused the new certificate and was restored")
	rolledBack.Rotation = &notify.Rotation{ID: 42, State: "rolled_back", Step: "verify", Attempts: 1, Trigger: "manual",
		Error: "verify: the device serves serial 04a1b2c3d4e5f6, want 05ffeeddccbbaa"}
	rolledBack.Link = "https://ottr.example.com/ui/rotations/42"

	recovered := event(notify.RotationRecovered, "rotation.recovered/fw1.dc1.example.com/7", "Rotation of fw1.dc1.example.com succeeded after 3 failures")
	recovered.Rotation = &notify.Rotation{ID: 43, State: "succeeded", Attempts: 1, Trigger: "schedule"}
	recovered.FailureCount, recovered.Incident = 3, incident
	recovered.Link = "https://ottr.example.com/ui/rotations/43"

	expiring := event(notify.CertificateExpiring, "certificate.expiring/fw1.dc1.example.com/04a1b2c3d4e5f6/7", "The certificate of fw1.dc1.example.com expires in 5 days and will not be rotated: paused")
	expiring.ThresholdDays, expiring.Reason = 7, "paused"
	expiring.Link = "https://ottr.example.com/ui/assets/fw1.dc1.example.com"

	drift := event(notify.CertificateDrift, "certificate.drift/fw1.dc1.example.com/0badc0ffee", "fw1.dc1.example.com serves another certificate than the one ottr recorded")
	drift.Drift = &notify.Drift{RecordedSerial: "04a1b2c3d4e5f6", ServedSerial: "0badc0ffee", SeenBy: "check"}
	drift.Link = expiring.Link

	digest := notify.Event{
		Kind: notify.DigestKind, Key: "digest/" + now.Format(time.DateOnly), Time: now,
		Summary: fmt.Sprintf("ottr on %s: 118 ok, 2 due, 1 failing", now.Format(time.DateOnly)),
		Link:    "https://ottr.example.com",
		Digest: &notify.Digest{
			States:   map[string]int{"ok": 118, "due": 2, "failing": 1},
			Expiring: []notify.Asset{asset},
			Failed:   []notify.Asset{asset},
		},
	}
	return []notify.Event{first, escalated, rolledBack, recovered, expiring, drift, digest}
}
