package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/lab"
	"github.com/ottr-go/ottr/internal/secret/awssm/awssmlab"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv/realserver"
)

// attempt is one attempt to deliver, as app.Options.Delivered tells it.
type attempt struct {
	channel string
	err     error
	final   bool
}

// A serve process starts while the Secrets Manager holding its e-mail
// channel's SMTP password is down; the delivery of a failed rotation then
// fails, naming the reference, and is retried, and the retry made once the
// store is back reaches the SMTP server.
func TestServeStartsWhileAChannelsStoreIsDownAndDeliversOnceItIsBack(t *testing.T) {
	ctx := context.Background()
	const smtpUser, smtpPassword = "ottr", "smtp-Stored-Password-5e1c"
	smtp, err := realserver.StartSMTP(ctx, realserver.SMTPConfig{Username: smtpUser, Password: smtpPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer smtp.Close()
	sm, err := awssmlab.Start(awssmlab.Config{Secrets: map[string]string{"prod/otter/smtp": smtpPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	sm.SetDown(true)
	l, err := lab.Start(ctx, lab.Options{Devices: 1, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	raw, err := os.ReadFile(l.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(l.Dir, "stored-secrets.yaml")
	text := string(raw) + fmt.Sprintf(`secrets:
  aws:
    region: %s
    endpoint: %s
    access_key_id: env:LAB_AWS_ACCESS_KEY_ID
    secret_access_key: env:LAB_AWS_SECRET_ACCESS_KEY
notifications:
  channels:
    mail:
      kind: email
      smtp: {host: %s, port: %d, username: %s, password: aws-sm:prod/otter/smtp}
      from: ottr@example.com
      to: [pki@example.com]
      ca_file: %q
`, sm.Region(), sm.URL(), smtp.Host, smtp.Port, smtpUser, smtp.CertPath)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	env := map[string]string{"LAB_AWS_ACCESS_KEY_ID": sm.AccessKeyID(), "LAB_AWS_SECRET_ACCESS_KEY": sm.SecretAccessKey()}
	var mu sync.Mutex
	var attempts []attempt
	ap, err := app.New(ctx, cfg, app.Options{
		Env: func(name string) (string, bool) { v, ok := env[name]; return v, ok },
		Delivered: func(channel, _ string, err error, final bool) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, attempt{channel, err, final})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ap.Close()
	// The device is held back from the scheduler: the one rotation is
	// the test's.
	device := l.Assets[0]
	heldBack := time.Now().Add(time.Hour)
	device.NextAttemptAt = &heldBack
	if err := ap.Store.CreateAsset(ctx, device); err != nil {
		t.Fatal(err)
	}
	q, _, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatalf("serve did not start while the secret store was down: %v", err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(context.WithoutCancel(ctx))
	seen := func() []attempt {
		mu.Lock()
		defer mu.Unlock()
		return append([]attempt(nil), attempts...)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(3 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; attempts so far: %+v", what, seen())
			}
		}
	}

	l.Hosts[0].FailReloads(true)
	if _, err := ap.Runner.Create(ctx, device.SystemName, store.TriggerAPI, true, q.EnqueueFunc(device.DataCenter, time.Time{})); err != nil {
		t.Fatal(err)
	}
	waitFor("the first delivery attempt", func() bool { return len(seen()) > 0 })
	first := seen()[0]
	if first.channel != "mail" || first.err == nil || first.final {
		t.Fatalf("first attempt %+v, want mail's, failed and to be retried", first)
	}
	for _, want := range []string{"notifications.channels.mail.smtp.password", "aws-sm:prod/otter/smtp"} {
		if !strings.Contains(first.err.Error(), want) {
			t.Errorf("the failed delivery says %q, want it to name %s", first.err, want)
		}
	}
	if strings.Contains(first.err.Error(), smtpPassword) {
		t.Errorf("the failed delivery shows the password: %v", first.err)
	}

	sm.SetDown(false)
	messages := func() []realserver.SMTPMessage {
		m, err := smtp.Messages()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	waitFor("the retried delivery to reach the SMTP server", func() bool { return len(messages()) == 1 })
	if m := messages()[0]; m.Login != smtpUser || !strings.Contains(string(m.Data), device.SystemName) {
		t.Errorf("the mail came as %q and says:\n%s\nwant it logged in as %s and naming %s", m.Login, m.Data, smtpUser, device.SystemName)
	}
	// The attempt is told once the server has taken the mail.
	waitFor("the retried delivery to be told as sent", func() bool {
		a := seen()
		return a[len(a)-1].err == nil
	})
}
