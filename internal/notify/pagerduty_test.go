package notify_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
)

const pagerDutyKey = "R0UT1NGKEY0TTR0000000000000000AB"

func pagerDutyChannel(t *testing.T, pd *notifytest.PagerDuty, key string) notify.Channel {
	return newChannel(t, "pki-pager", config.NotifyChannel{
		Kind: "pagerduty", RoutingKey: "env:PD_KEY", EventsURL: pd.EventsURL(), CAFile: pd.CAFile(),
	}, map[string]string{"PD_KEY": key})
}

func TestPagerDutyTriggersOnProblemsAndResolvesOnRecovery(t *testing.T) {
	pd := notifytest.NewPagerDuty(t, pagerDutyKey)
	ch := pagerDutyChannel(t, pd, pagerDutyKey)
	tests := []struct {
		kind      notify.Kind
		escalated bool
		action    string
		severity  string
	}{
		{notify.RotationFailed, false, "trigger", "critical"},
		{notify.RotationFailed, true, "trigger", "critical"},
		{notify.RotationRolledBack, false, "trigger", "critical"},
		{notify.CertificateExpiring, false, "trigger", "critical"},
		{notify.CertificateDrift, false, "trigger", "warning"},
		{notify.RotationRecovered, false, "resolve", ""},
	}
	samples := notifytest.SampleEvents(time.Now())
	for _, tt := range tests {
		e := sample(t, samples, tt.kind, tt.escalated)
		t.Run(sampleName(e), func(t *testing.T) {
			receipt, got := sendOne(t, ch, e, pd.Events)
			wantKey := e.Incident
			if wantKey == "" {
				wantKey = e.Key
			}
			if got.EventAction != tt.action || got.DedupKey != wantKey {
				t.Errorf("event_action %q dedup_key %q, want %q %q", got.EventAction, got.DedupKey, tt.action, wantKey)
			}
			if want := tt.action + " dedup_key " + wantKey; receipt.Status != "202 Accepted" || receipt.Detail != want {
				t.Errorf("receipt %+v, want 202 Accepted and %q", receipt, want)
			}
			if tt.action == "resolve" {
				if got.Payload != nil {
					t.Errorf("a resolve carries a payload: %+v", got.Payload)
				}
				return
			}
			p := got.Payload
			if p.Summary != e.Summary || p.Source != e.Asset.SystemName || p.Severity != tt.severity || p.Class != string(e.Kind) || p.Group != e.Asset.DataCenter {
				t.Errorf("payload summary %q source %q severity %q class %q group %q, want %q %q %q %q %q",
					p.Summary, p.Source, p.Severity, p.Class, p.Group, e.Summary, e.Asset.SystemName, tt.severity, e.Kind, e.Asset.DataCenter)
			}
			if want := e.Time.UTC().Format(time.RFC3339); p.Timestamp != want {
				t.Errorf("payload timestamp %q, want %q", p.Timestamp, want)
			}
			var details strings.Builder
			for k, v := range p.CustomDetails {
				fmt.Fprintf(&details, "%s: %v\n", k, v)
			}
			assertShows(t, p.Summary+"\n"+details.String(), wantFacts(e))
			if len(got.Links) != 1 || got.Links[0].Href != e.Link || got.ClientURL != e.Link {
				t.Errorf("links %+v client_url %q, want %s", got.Links, got.ClientURL, e.Link)
			}
		})
	}
	incident := sample(t, samples, notify.RotationFailed, false).Incident
	if state := pd.Alert(incident); state != "resolved" {
		t.Errorf("the streak's alert is %q after the recovery, want resolved", state)
	}
}

func TestPagerDutySeverityFollowsTheDaysLeft(t *testing.T) {
	pd := notifytest.NewPagerDuty(t, pagerDutyKey)
	ch := pagerDutyChannel(t, pd, pagerDutyKey)
	tests := []struct {
		name     string
		kind     notify.Kind
		daysLeft int
		reason   string
		want     string
	}{
		{"a failure with weeks left is an error", notify.RotationFailed, 40, "", "error"},
		{"a failure with days left is critical", notify.RotationFailed, 3, "", "critical"},
		{"an expiry on its way to rotation is a warning", notify.CertificateExpiring, 20, "", "warning"},
		{"an expiry that will not rotate is an error", notify.CertificateExpiring, 20, "no route", "error"},
		{"an expiry within days is critical", notify.CertificateExpiring, 2, "", "critical"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := event(t, tt.kind)
			e.Asset.DaysLeft, e.Reason = &tt.daysLeft, tt.reason
			_, sent := sendOne(t, ch, e, pd.Events)
			if got := sent.Payload.Severity; got != tt.want {
				t.Errorf("severity %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPagerDutySendsNoDigest(t *testing.T) {
	pd := notifytest.NewPagerDuty(t, pagerDutyKey)
	receipt := mustSend(t, pagerDutyChannel(t, pd, pagerDutyKey), event(t, notify.DigestKind))
	if receipt.Status != "not sent" {
		t.Errorf("receipt %+v, want not sent", receipt)
	}
	if pd.Received() != 0 {
		t.Errorf("pagerduty received %d requests for a digest", pd.Received())
	}
}

func TestPagerDutyKeepsALongIncidentOneIncident(t *testing.T) {
	pd := notifytest.NewPagerDuty(t, pagerDutyKey)
	ch := pagerDutyChannel(t, pd, pagerDutyKey)
	long := "ottr/" + strings.Repeat("very-long-system-name.", 15)
	failed, recovered := event(t, notify.RotationFailed), event(t, notify.RotationRecovered)
	failed.Incident, recovered.Incident = long, long
	mustSend(t, ch, failed)
	mustSend(t, ch, recovered)
	events := pd.Events()
	if events[0].DedupKey != events[1].DedupKey || len(events[0].DedupKey) > 255 {
		t.Errorf("dedup_keys %q and %q, want one key of at most 255 characters", events[0].DedupKey, events[1].DedupKey)
	}
	if state := pd.Alert(events[0].DedupKey); state != "resolved" {
		t.Errorf("alert %s, want resolved", state)
	}
}

func TestPagerDutyRefusalsAreTold(t *testing.T) {
	pd := notifytest.NewPagerDuty(t, pagerDutyKey)
	testRefusals(t, pagerDutyChannel(t, pd, pagerDutyKey), pd.Server, pagerDutyKey)
}

func TestPagerDutyRefusingTheKeyIsFinal(t *testing.T) {
	pd := notifytest.NewPagerDuty(t, pagerDutyKey)
	other := "0THERKEY00TTR0000000000000000000"
	_, err := send(t, pagerDutyChannel(t, pd, other), event(t, notify.RotationFailed))
	assertFinal(t, err)
	assertSays(t, err, "pki-pager", "400", "Invalid routing key")
	assertNoSecret(t, err.Error(), other, pagerDutyKey)
}

// sample is the sample event of kind, escalated or not.
func sample(t *testing.T, samples []notify.Event, kind notify.Kind, escalated bool) notify.Event {
	t.Helper()
	for _, e := range samples {
		if e.Kind == kind && e.Escalated == escalated {
			return e
		}
	}
	t.Fatalf("no sample of %s (escalated %v)", kind, escalated)
	return notify.Event{}
}
