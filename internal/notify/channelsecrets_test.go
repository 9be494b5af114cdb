package notify_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
	"github.com/ottr-go/ottr/internal/secret/stores"

	"github.com/ottr-go/ottr/internal/testenv"
)

// buildStored builds the channels of channelsYAML (the notifications'
// channels block) with a configuration whose secrets come from the
// Secrets Manager emulator, cached for a minute by clock.
func buildStored(t *testing.T, sm *awssmlab.Server, clock *testenv.Clock, channelsYAML string) (map[string]notify.Channel, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ottr.yaml")
	yaml := `secrets:
  cache_ttl: 1m
  aws:
    region: ` + sm.Region() + `
    endpoint: ` + sm.URL() + `
    access_key_id: env:LAB_AWS_ACCESS_KEY_ID
    secret_access_key: env:LAB_AWS_SECRET_ACCESS_KEY
notifications:
  channels:
` + channelsYAML
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LAB_AWS_ACCESS_KEY_ID": sm.AccessKeyID(), "LAB_AWS_SECRET_ACCESS_KEY": sm.SecretAccessKey()}
	resolver, err := stores.New(cfg.Secrets, stores.Options{
		Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return notify.BuildChannels(cfg, nil, notify.NewChannel, notify.ChannelOptions{Resolve: resolver.Resolve})
}

// storedSlack is a Slack channel whose bot token is Ottr's raw-string
// secret in Secrets Manager.
func storedSlack(t *testing.T, sm *awssmlab.Server, slack *notifytest.Slack, clock *testenv.Clock) map[string]notify.Channel {
	t.Helper()
	channels, err := buildStored(t, sm, clock, `    pki:
      kind: slack
      token: aws-sm:prod/otter/slack
      channel: "#pki-alerts"
      url: `+slack.APIURL()+`
      ca_file: `+slack.CAFile()+`
`)
	if err != nil {
		t.Fatalf("building the channels with the store: %v", err)
	}
	return channels
}

func TestAChannelWhoseStoreIsDownIsBuiltAndDeliversOnceTheStoreIsBack(t *testing.T) {
	const token = "xoxb-3333-4444-ottrstoredtoken"
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: map[string]string{"prod/otter/slack": token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	sm.SetDown(true)
	slack := notifytest.NewSlack(t, token)
	clock := testenv.NewClock(time.Now())

	channels := storedSlack(t, sm, slack, clock)
	ch := channels["pki"]
	if ch == nil || ch.Name() != "pki" || ch.Kind() != "slack" {
		t.Fatalf("got channels %v, want the slack channel pki", channels)
	}

	e := event(t, notify.RotationFailed)
	_, err = send(t, ch, e)
	if err == nil {
		t.Fatal("delivered while the store was down")
	}
	assertRetryable(t, err, 0)
	assertSays(t, err, "notifications.channels.pki.token", "aws-sm:prod/otter/slack")
	assertNoSecret(t, err.Error(), token)
	if n := len(slack.Messages()); n != 0 {
		t.Fatalf("Slack got %d messages while the store was down", n)
	}

	sm.SetDown(false)
	mustSend(t, ch, e)
	if n := len(slack.Messages()); n != 1 {
		t.Fatalf("Slack got %d messages once the store was back, want 1", n)
	}
}

func TestAChannelUsesATokenRotatedInTheStoreOnceTheCacheExpires(t *testing.T) {
	const oldToken, newToken = "xoxb-5555-6666-ottrtokenbefore", "xoxb-7777-8888-ottrtokenafter"
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: map[string]string{"prod/otter/slack": oldToken}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	// Slack has the rotated token already: the old one is refused.
	slack := notifytest.NewSlack(t, newToken)
	clock := testenv.NewClock(time.Now())
	ch := storedSlack(t, sm, slack, clock)["pki"]
	e := event(t, notify.RotationFailed)

	_, err = send(t, ch, e)
	assertSays(t, err, "invalid_auth")

	sm.Put("prod/otter/slack", newToken)
	_, err = send(t, ch, e)
	assertSays(t, err, "invalid_auth")
	if n := len(slack.Messages()); n != 0 {
		t.Fatalf("Slack took %d messages with the cached token", n)
	}

	clock.Add(time.Minute + time.Second)
	mustSend(t, ch, e)
	if n := len(slack.Messages()); n != 1 {
		t.Fatalf("Slack got %d messages after the cache expired, want 1 with the rotated token", n)
	}
	var reads int
	for _, c := range sm.Calls() {
		if c.Operation == "GetSecretValue" && c.SecretID == "prod/otter/slack" {
			reads++
		}
	}
	if reads != 2 {
		t.Errorf("the store was read %d times, want 2: once at start and once when the cache expired", reads)
	}
}

func TestAChannelSettingThatIsWrongIsToldAtStartWhenTheStoreAnswers(t *testing.T) {
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: map[string]string{"prod/otter/slack": "xoxb-1-2-ottr"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	_, err = buildStored(t, sm, testenv.NewClock(time.Now()), `    pki:
      kind: slack
      token: aws-sm:prod/otter/slack
      channel: "#pki-alerts"
      url: http://slack.example.com/api
`)
	var cfgErr *config.Error
	if !errors.As(err, &cfgErr) || !strings.Contains(err.Error(), "notifications.channels.pki.url: http:// sends the message unencrypted") {
		t.Errorf("got %v, want the unencrypted address told at its line", err)
	}
}
