package notify_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
)

const slackToken = "xoxb-1111-2222-ottrtesttoken"

// slackWithToken is a channel posting with chat.postMessage to the
// emulator, its token read from the environment.
func slackWithToken(t *testing.T, slack *notifytest.Slack, token string) notify.Channel {
	return newChannel(t, "pki-slack", config.NotifyChannel{
		Kind: "slack", Token: "env:SLACK_TOKEN", Channel: "#pki-alerts", URL: slack.APIURL(), CAFile: slack.CAFile(),
	}, map[string]string{"SLACK_TOKEN": token})
}

func slackWithWebhook(t *testing.T, slack *notifytest.Slack) notify.Channel {
	return newChannel(t, "pki-slack-hook", config.NotifyChannel{
		Kind: "slack", WebhookURL: "env:SLACK_WEBHOOK", CAFile: slack.CAFile(),
	}, map[string]string{"SLACK_WEBHOOK": slack.WebhookURL()})
}

func TestSlackPostsEveryKindOfEventAsBlocksWithAButton(t *testing.T) {
	slack := notifytest.NewSlack(t, slackToken)
	channels := map[string]notify.Channel{
		"chat.postMessage": slackWithToken(t, slack, slackToken),
		"webhook":          slackWithWebhook(t, slack),
	}
	for via, ch := range channels {
		for _, e := range notifytest.SampleEvents(time.Now()) {
			t.Run(via+" "+sampleName(e), func(t *testing.T) {
				receipt, m := sendOne(t, ch, e, slack.Messages)
				if m.Via != via {
					t.Errorf("the message came through %s, want %s", m.Via, via)
				}
				if via == "chat.postMessage" {
					if m.Channel != "#pki-alerts" {
						t.Errorf("posted to channel %q, want #pki-alerts", m.Channel)
					}
					if !strings.Contains(receipt.Detail, "ts 1700000000.") {
						t.Errorf("receipt %+v does not name the message's ts", receipt)
					}
				}
				if m.Text != e.Summary {
					t.Errorf("fallback text %q, want the summary %q", m.Text, e.Summary)
				}
				assertShows(t, m.Shown(), wantShown(e))
				want := []notifytest.Button{{Text: "Open in ottr", URL: e.Link}}
				if e.Rotation != nil {
					want[0].Text = "Open rotation #" + strconv.FormatInt(e.Rotation.ID, 10)
				}
				if got := m.Buttons(); len(got) != 1 || got[0] != want[0] {
					t.Errorf("buttons %+v, want %+v", got, want)
				}
				if receipt.Status != "200 OK" {
					t.Errorf("receipt status %q, want 200 OK", receipt.Status)
				}
			})
		}
	}
}

func TestSlackStartsWithAHeaderNamingWhatHappened(t *testing.T) {
	slack := notifytest.NewSlack(t, slackToken)
	ch := slackWithToken(t, slack, slackToken)
	e := event(t, notify.RotationFailed)
	mustSend(t, ch, e)
	var body struct {
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(slack.Messages()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Blocks) == 0 || body.Blocks[0].Type != "header" {
		t.Fatalf("the first block is not a header: %+v", body.Blocks)
	}
	if want := "Rotation failed: " + e.Asset.SystemName; body.Blocks[0].Text.Text != want {
		t.Errorf("header %q, want %q", body.Blocks[0].Text.Text, want)
	}
}

func TestSlackRefusalsAreTold(t *testing.T) {
	slack := notifytest.NewSlack(t, slackToken)
	t.Run("chat.postMessage", func(t *testing.T) {
		testRefusals(t, slackWithToken(t, slack, slackToken), slack.Server, slackToken)
	})
	t.Run("webhook", func(t *testing.T) {
		testRefusals(t, slackWithWebhook(t, slack), slack.Server, slack.WebhookURL(), webhookSecretPart(slack.WebhookURL()))
	})
}

func TestSlackRefusingTheTokenIsFinalAndSaysHowToFixIt(t *testing.T) {
	slack := notifytest.NewSlack(t, slackToken)
	wrong := "xoxb-9999-8888-revokedtoken"
	_, err := send(t, slackWithToken(t, slack, wrong), event(t, notify.RotationFailed))
	assertFinal(t, err)
	assertSays(t, err, "pki-slack", "invalid_auth", "token")
	assertNoSecret(t, err.Error(), wrong, slackToken)
	if n := len(slack.Messages()); n != 0 {
		t.Errorf("slack posted %d messages with a wrong token", n)
	}
}

func TestSlackWebhookThatIsGoneIsFinalAndNotShown(t *testing.T) {
	slack := notifytest.NewSlack(t, slackToken)
	gone := strings.TrimSuffix(slack.APIURL(), "/api") + "/services/T0OTTR/B0GONE/deletedwebhooksecret"
	ch := newChannel(t, "pki-slack-hook", config.NotifyChannel{Kind: "slack", WebhookURL: gone, CAFile: slack.CAFile()}, nil)
	_, err := send(t, ch, event(t, notify.RotationFailed))
	assertFinal(t, err)
	assertSays(t, err, "404", "no_service")
	assertNoSecret(t, err.Error(), "deletedwebhooksecret", "B0GONE")
}

// webhookSecretPart is the last part of a Slack webhook's path: its
// secret.
func webhookSecretPart(u string) string { return u[strings.LastIndex(u, "/")+1:] }

func TestSlackFitsALongErrorAndABadDayInItsLimits(t *testing.T) {
	slack := notifytest.NewSlack(t, slackToken)
	ch := slackWithToken(t, slack, slackToken)

	failed := event(t, notify.RotationFailed)
	failed.Rotation.Error = "install: " + strings.Repeat("device said no; ", 400)
	_, m := sendOne(t, ch, failed, slack.Messages)
	assertShows(t, m.Shown(), []string{"install: device said no", "…"})

	digest := event(t, notify.DigestKind)
	digest.Digest.Failed = nil
	for i := range 25 {
		digest.Digest.Failed = append(digest.Digest.Failed, notify.Asset{SystemName: "fw" + strconv.Itoa(i) + ".example.com"})
	}
	_, m = sendOne(t, ch, digest, slack.Messages)
	assertShows(t, m.Shown(), []string{"fw0.example.com", "fw19.example.com", "and 5 more"})
	if strings.Contains(m.Shown(), "fw20.example.com") {
		t.Error("the digest lists more than 20 failed assets")
	}
}
