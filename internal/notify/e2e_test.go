package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/secret"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
	"github.com/ottr-go/ottr/internal/testenv/realserver"
)

// TestTwoServeProcessesTellAStreakOnce runs the scenario on the
// lab: a device fails three rotations in a row, then recovers, while two
// ottr processes of the serve role share one PostgreSQL database, each
// running rotations, deciding notifications and delivering them. Each of
// the two channels gets exactly one failure, one escalation and one
// recovery.
func TestTwoServeProcessesTellAStreakOnce(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	databaseURL := pg.NewDatabase(t)
	l, err := lab.Start(ctx, lab.Options{Devices: 1, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// Every kind of channel, each against its vendor's emulator (the
	// e-mail against a real SMTP server), each asked to come back later
	// once along the way.
	const (
		slackToken  = "xoxb-e2e-slack-token-0123456789"
		hookSecret  = "e2e-hook-signing-secret"
		pdKey       = "e2ee2ee2ee2ee2ee2ee2ee2ee2ee2e01"
		smtpUser    = "ottr"
		smtpSecret  = "e2e-smtp-password-42"
		retryAfter1 = time.Second
	)
	slack := notifytest.NewSlack(t, slackToken)
	hook := notifytest.NewWebhook(t, hookSecret)
	pager := notifytest.NewPagerDuty(t, pdKey)
	teams := notifytest.NewTeams(t)
	for _, s := range []*notifytest.Server{slack.Server, hook.Server, pager.Server, teams.Server} {
		s.FailNext(1, http.StatusTooManyRequests, retryAfter1)
	}
	smtp, err := realserver.StartSMTP(ctx, realserver.SMTPConfig{Username: smtpUser, Password: smtpSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer smtp.Close()
	raw, err := os.ReadFile(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(l.Dir, "notify.yaml")
	text := string(raw) + fmt.Sprintf(`notifications:
  external_url: https://ottr.example.com
  channels:
    slack: {kind: slack, token: env:E2E_SLACK_TOKEN, channel: "#pki", url: %q, ca_file: %q}
    hook: {kind: webhook, url: %q, secret: env:E2E_HOOK_SECRET, ca_file: %q}
    pager: {kind: pagerduty, routing_key: env:E2E_PD_KEY, events_url: %q, ca_file: %q}
    teams: {kind: teams, webhook_url: env:E2E_TEAMS_URL, ca_file: %q}
    mail:
      kind: email
      smtp: {host: %s, port: %d, username: %s, password: env:E2E_SMTP_PASSWORD}
      from: ottr@example.com
      to: [pki@example.com]
      ca_file: %q
`, slack.APIURL(), slack.CAFile(), hook.URL(), hook.CAFile(), pager.EventsURL(), pager.CAFile(), teams.CAFile(),
		smtp.Host, smtp.Port, smtpUser, smtp.CertPath)
	if err := os.WriteFile(configPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = databaseURL
	if _, err := secret.LoadOrCreateKey(cfg.MasterKeyFile); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"E2E_SLACK_TOKEN": slackToken, "E2E_HOOK_SECRET": hookSecret, "E2E_PD_KEY": pdKey,
		"E2E_TEAMS_URL": teams.WebhookURL(), "E2E_SMTP_PASSWORD": smtpSecret,
	}
	env := func(name string) (string, bool) {
		if v, ok := secrets[name]; ok {
			return v, true
		}
		return os.LookupEnv(name)
	}

	// The device is held back from the scheduler, so the four rotations
	// are the ones this test asks for, as the API would.
	device := l.Assets[0]
	heldBack := time.Now().Add(time.Hour)
	device.NextAttemptAt = &heldBack
	var processes []*app.App
	var queues []*queue.Queue
	for i := range 2 {
		ap, err := app.New(ctx, cfg, app.Options{Env: env})
		if err != nil {
			t.Fatal(err)
		}
		defer ap.Close()
		if i == 0 {
			if err := ap.Store.CreateAsset(ctx, device); err != nil {
				t.Fatal(err)
			}
		}
		q, _, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer q.Stop(context.WithoutCancel(ctx))
		processes, queues = append(processes, ap), append(queues, q)
	}

	db, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	jobsNotDone := func(kind string) int {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state <> 'completed'`, kind).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	host := l.Hosts[0]
	host.FailReloads(true)
	for i, wantState := range []store.State{store.StateFailed, store.StateFailed, store.StateFailed, store.StateSucceeded} {
		if wantState == store.StateSucceeded {
			host.FailReloads(false)
		}
		// Each process creates a rotation in turn; either may run it.
		ap, q := processes[i%2], queues[i%2]
		rot, err := ap.Runner.Create(ctx, device.SystemName, store.TriggerAPI, true, q.EnqueueFunc(device.DataCenter, time.Time{}))
		if err != nil {
			t.Fatal(err)
		}
		// The job ends after the rotation has told what it is news for.
		waitFor(fmt.Sprintf("rotation %d's job", i+1), func() bool { return jobsNotDone("rotation") == 0 })
		got, err := ap.Store.GetRotation(ctx, rot.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != wantState {
			t.Fatalf("rotation %d ended %s (%s), want %s", i+1, got.State, got.Error, wantState)
		}
	}
	mails := func() []realserver.SMTPMessage {
		m, err := smtp.Messages()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	waitFor("every delivery", func() bool {
		// PagerDuty gets no escalation delivered after the recovery (it
		// would open a new incident): two or three events.
		return jobsNotDone("notification") == 0 && len(slack.Messages()) == 3 && len(hook.Deliveries()) == 3 &&
			len(pager.Events()) >= 2 && len(teams.Messages()) == 3 && len(mails()) == 3
	})

	privateKey, err := os.ReadFile(filepath.Join(l.Dir, "id_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	// What each channel shows, by message: the text a person reads.
	shown := map[string][]string{}
	for _, m := range slack.Messages() {
		shown["slack"] = append(shown["slack"], m.Shown())
	}
	for _, d := range hook.Deliveries() {
		shown["hook"] = append(shown["hook"], string(d.Body))
	}
	for _, e := range pager.Events() {
		// The routing key is PagerDuty's credential in every request:
		// what a person reads is the action and the payload.
		payload, err := json.Marshal(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		shown["pager"] = append(shown["pager"], e.EventAction+" "+string(payload))
	}
	for _, m := range teams.Messages() {
		shown["teams"] = append(shown["teams"], m.Shown())
	}
	for _, m := range mails() {
		shown["mail"] = append(shown["mail"], string(m.Data))
	}
	forbidden := append(strings.Fields(string(privateKey)), l.TSIGSecret, slackToken, hookSecret, pdKey, smtpSecret, teams.WebhookURL())
	for channel, messages := range shown {
		var told []string
		for _, m := range messages {
			told = append(told, whatItTells(m))
			if !strings.HasPrefix(m, "resolve ") && (!strings.Contains(m, device.SystemName) || !strings.Contains(m, device.IPAddress)) {
				t.Errorf("%s: a message does not name the device and its address: %s", channel, m)
			}
			for _, s := range forbidden {
				if len(s) >= 16 && strings.Contains(m, s) {
					t.Errorf("%s: a message holds a secret: %s", channel, m)
				}
			}
		}
		// Deliveries are independent jobs: a retried one arrives late.
		if channel == "pager" {
			checkPagerDuty(t, told)
			continue
		}
		slices.Sort(told)
		want := []string{"escalation", "first failure", "recovery"}
		if strings.Join(told, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s was told: %s; want exactly one %s", channel, strings.Join(told, ", "), strings.Join(want, ", one "))
		}
	}
	// PagerDuty: the streak is one incident, resolved by the recovery.
	keys := map[string]bool{}
	for _, e := range pager.Events() {
		keys[e.DedupKey] = true
	}
	for key := range keys {
		if len(keys) != 1 || pager.Alert(key) != "resolved" {
			t.Errorf("PagerDuty incidents %v; %q is %q after the recovery, want one, resolved", keys, key, pager.Alert(key))
		}
	}
}

// checkPagerDuty checks what PagerDuty was told, in the order it was
// told: failure triggers (a retried one may come too late and is then not
// sent: after the resolve it would open a new incident), then the
// recovery, last and once.
func checkPagerDuty(t *testing.T, told []string) {
	t.Helper()
	n := len(told)
	ok := n >= 2 && told[n-1] == "recovery"
	for _, m := range told[:max(n-1, 0)] {
		ok = ok && (m == "first failure" || m == "escalation")
	}
	if !ok {
		t.Errorf("PagerDuty was told, in order: %s; want failure triggers, then the recovery last", strings.Join(told, ", "))
	}
}

// whatItTells classifies a message by what a person reads in it.
func whatItTells(message string) string {
	switch {
	case strings.HasPrefix(message, "resolve "), strings.Contains(message, "recovered"), strings.Contains(message, "succeeded after"):
		return "recovery"
	case strings.Contains(message, "escalated"), strings.Contains(message, "still failing"):
		return "escalation"
	case strings.Contains(message, "failed"):
		return "first failure"
	}
	return "something else"
}
