package notify

import (
	"context"
	"strings"
	"testing"
)

func TestATestMessageSaysNothingHappened(t *testing.T) {
	days := 3
	e := Event{Kind: RotationFailed, Test: true, Asset: &Asset{SystemName: "fw1.example.com", DaysLeft: &days}}
	if got := title(e); !strings.HasPrefix(got, "Test message from ottr") || !strings.Contains(got, "fw1.example.com") {
		t.Errorf("title %q: want it marked as a test, naming the device", got)
	}
}

func TestADigestCountsWhatItDoesNotList(t *testing.T) {
	d := Digest{States: map[string]int{"ok": 70}, Failed: []Asset{{SystemName: "a"}, {SystemName: "b"}}, FailedTotal: 70}
	lists := digestLists(d)
	failed := strings.Join(lists[1].lines(), "\n")
	if !strings.Contains(failed, "and 68 more") {
		t.Errorf("failed list:\n%s\nwant the 68 assets the digest did not list counted", failed)
	}
}

// countingChannel counts what it is asked to send.
type countingChannel struct {
	kind string
	sent int
}

func (c *countingChannel) Name() string { return c.kind }
func (c *countingChannel) Kind() string { return c.kind }
func (c *countingChannel) Send(context.Context, Event) (Receipt, error) {
	c.sent++
	return Receipt{Status: "ok"}, nil
}

type claimedKeys map[string]bool

func (c claimedKeys) ClaimedNotifications(_ context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, k := range keys {
		out[k] = c[k]
	}
	return out, nil
}

func TestAFailureDeliveredAfterItsRecoveryIsNotTriggeredInPagerDuty(t *testing.T) {
	pd, slack := &countingChannel{kind: "pagerduty"}, &countingChannel{kind: "slack"}
	d := NewDispatcher(map[string]Channel{"pd": pd, "slack": slack}, nil, nil).
		WithClaims(claimedKeys{recoveredKey("fw1.example.com/never"): true})
	late := Event{Kind: RotationFailed, Incident: "fw1.example.com/never"}
	for _, channel := range []string{"pd", "slack"} {
		if err := d.Deliver(context.Background(), Delivery{Channel: channel, Event: late}, 1, false); err != nil {
			t.Fatal(err)
		}
	}
	if pd.sent != 0 {
		t.Error("PagerDuty got a trigger for a streak that has recovered: it would open a new incident")
	}
	if slack.sent != 1 {
		t.Error("Slack did not get the failure: it happened, and the message says when")
	}
	open := Event{Kind: RotationFailed, Incident: "fw2.example.com/never"}
	if err := d.Deliver(context.Background(), Delivery{Channel: "pd", Event: open}, 1, false); err != nil || pd.sent != 1 {
		t.Errorf("a failure of a streak still open: sent %d, err %v; want it triggered", pd.sent, err)
	}
}
