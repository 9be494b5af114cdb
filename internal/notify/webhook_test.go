package notify_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
)

const webhookSecret = "whsec-ottr-test-0123456789"

func webhookChannel(t *testing.T, hook *notifytest.Webhook, secret string) notify.Channel {
	return newChannel(t, "audit-hook", config.NotifyChannel{
		Kind: "webhook", URL: hook.URL(), Secret: "env:HOOK_SECRET", CAFile: hook.CAFile(),
	}, map[string]string{"HOOK_SECRET": secret})
}

func TestWebhookDeliversTheEventAsSignedJSON(t *testing.T) {
	hook := notifytest.NewWebhook(t, webhookSecret)
	ch := webhookChannel(t, hook, webhookSecret)
	for _, e := range notifytest.SampleEvents(time.Now()) {
		t.Run(sampleName(e), func(t *testing.T) {
			receipt, d := sendOne(t, ch, e, hook.Deliveries)
			want, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e, d.Event) {
				got, _ := json.Marshal(d.Event)
				t.Errorf("the receiver decoded\n%s\nwant\n%s", got, want)
			}
			if string(d.Body) != string(want) {
				t.Errorf("body\n%s\nwant the event's JSON\n%s", d.Body, want)
			}
			for header, want := range map[string]string{
				notify.WebhookEventHeader:    string(e.Kind),
				notify.WebhookDeliveryHeader: e.Key,
			} {
				if got := d.Header.Get(header); got != want {
					t.Errorf("%s: %q, want %q", header, got, want)
				}
			}
			if receipt.Status != "204 No Content" || receipt.Detail != "delivery "+e.Key {
				t.Errorf("receipt %+v, want 204 No Content and the delivery's key", receipt)
			}
		})
	}
}

func TestWebhookSignsTheTimeOfSending(t *testing.T) {
	hook := notifytest.NewWebhook(t, webhookSecret)
	sentAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	ch, err := notify.NewChannel("audit-hook", config.NotifyChannel{
		Kind: "webhook", URL: hook.URL(), Secret: webhookSecret, CAFile: hook.CAFile(),
	}, notify.ChannelOptions{Resolve: secretsFrom(nil), Now: func() time.Time { return sentAt }})
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, ch, event(t, notify.RotationFailed))
	got := hook.Deliveries()[0].Header.Get(notify.WebhookTimestampHeader)
	if want := strconv.FormatInt(sentAt.Unix(), 10); got != want {
		t.Errorf("%s: %s, want %s", notify.WebhookTimestampHeader, got, want)
	}
}

func TestWebhookReceiverRefusesWhatItCannotVerify(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		sentAt time.Time
	}{
		{"another secret", "whsec-someone-else-9876543210", time.Now()},
		{"a delivery signed too long ago, replayed", webhookSecret, time.Now().Add(-2 * notifytest.WebhookTolerance)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hook := notifytest.NewWebhook(t, webhookSecret)
			ch, err := notify.NewChannel("audit-hook", config.NotifyChannel{
				Kind: "webhook", URL: hook.URL(), Secret: tt.secret, CAFile: hook.CAFile(),
			}, notify.ChannelOptions{Resolve: secretsFrom(nil), Now: func() time.Time { return tt.sentAt }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = send(t, ch, event(t, notify.RotationFailed))
			assertFinal(t, err)
			assertSays(t, err, "audit-hook", "401")
			assertNoSecret(t, err.Error(), tt.secret)
			if n := len(hook.Deliveries()); n != 0 {
				t.Errorf("the receiver accepted %d deliveries", n)
			}
		})
	}
}

func TestWebhookRefusalsAreTold(t *testing.T) {
	hook := notifytest.NewWebhook(t, webhookSecret)
	testRefusals(t, webhookChannel(t, hook, webhookSecret), hook.Server, webhookSecret)
}
