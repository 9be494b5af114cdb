package notify_test

import (
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
)

func teamsChannel(t *testing.T, teams *notifytest.Teams, webhookURL string) notify.Channel {
	return newChannel(t, "pki-teams", config.NotifyChannel{
		Kind: "teams", WebhookURL: "env:TEAMS_WEBHOOK", CAFile: teams.CAFile(),
	}, map[string]string{"TEAMS_WEBHOOK": webhookURL})
}

func TestTeamsPostsEveryKindOfEventAsAnAdaptiveCard(t *testing.T) {
	teams := notifytest.NewTeams(t)
	ch := teamsChannel(t, teams, teams.WebhookURL())
	for _, e := range notifytest.SampleEvents(time.Now()) {
		t.Run(sampleName(e), func(t *testing.T) {
			receipt, m := sendOne(t, ch, e, teams.Messages)
			if len(m.Cards) != 1 {
				t.Fatalf("the message has %d cards, want 1", len(m.Cards))
			}
			assertShows(t, m.Shown(), wantShown(e))
			want := notifytest.Button{Text: "Open in ottr", URL: e.Link}
			if e.Rotation != nil {
				want.Text = "Open rotation #" + strconv.FormatInt(e.Rotation.ID, 10)
			}
			if got := m.Buttons(); len(got) != 1 || got[0] != want {
				t.Errorf("actions %+v, want one Action.OpenUrl %+v", got, want)
			}
			if receipt.Status != "202 Accepted" {
				t.Errorf("receipt %+v, want 202 Accepted", receipt)
			}
		})
	}
}

func TestTeamsColoursTheTitleBySeverity(t *testing.T) {
	teams := notifytest.NewTeams(t)
	ch := teamsChannel(t, teams, teams.WebhookURL())
	for _, tt := range []struct {
		kind notify.Kind
		want string
	}{
		{notify.RotationFailed, "Attention"},
		{notify.CertificateDrift, "Warning"},
		{notify.RotationRecovered, "Good"},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			_, m := sendOne(t, ch, event(t, tt.kind), teams.Messages)
			body := m.Cards[0]["body"].([]any)
			title := body[0].(map[string]any)
			if title["color"] != tt.want {
				t.Errorf("title %v, want colour %s", title, tt.want)
			}
		})
	}
}

func TestTeamsRefusalsAreTold(t *testing.T) {
	teams := notifytest.NewTeams(t)
	sig := sigOf(t, teams.WebhookURL())
	testRefusals(t, teamsChannel(t, teams, teams.WebhookURL()), teams.Server, teams.WebhookURL(), sig)
}

func TestTeamsRefusingTheSignatureIsFinalAndNotShown(t *testing.T) {
	teams := notifytest.NewTeams(t)
	u, err := url.Parse(teams.WebhookURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("sig", "forgedsignature0123456789")
	u.RawQuery = q.Encode()
	_, err = send(t, teamsChannel(t, teams, u.String()), event(t, notify.RotationFailed))
	assertFinal(t, err)
	assertSays(t, err, "pki-teams", "401")
	assertNoSecret(t, err.Error(), "forgedsignature0123456789", u.Path)
}

func sigOf(t *testing.T, webhookURL string) string {
	t.Helper()
	u, err := url.Parse(webhookURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("sig")
}
