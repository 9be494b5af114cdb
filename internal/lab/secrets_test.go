package lab_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/app"
	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/testenv/output"
)

// TestNoSecretLeavesInAMessageAMetricOrALogLine runs a wave over a fleet of
// every kind of device, one of which fails, with notifications going to
// Slack and a signed webhook and the log at debug level as JSON, then
// looks for every secret of the configuration — device passwords and SSH
// keys, the TSIG key, the script driver's secret environment, the
// channels' token and signing secret — in every message, in the metrics
// ottr serves and in every log line.
func TestNoSecretLeavesInAMessageAMetricOrALogLine(t *testing.T) {
	ctx := context.Background()
	mixed := startMixedLab(t)
	const (
		slackToken = "xoxb-secret-scan-slack-token-31415"
		hookSecret = "secret-scan-webhook-signing-key-2718"
	)
	slack := notifytest.NewSlack(t, slackToken)
	hook := notifytest.NewWebhook(t, hookSecret)
	raw, err := os.ReadFile(mixed.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(t.TempDir(), "ottr.yaml")
	text := string(raw) + fmt.Sprintf(`notifications:
  external_url: https://ottr.example.com
  channels:
    slack: {kind: slack, token: env:SCAN_SLACK_TOKEN, channel: "#pki", url: %q, ca_file: %q}
    hook: {kind: webhook, url: %q, secret: env:SCAN_HOOK_SECRET, ca_file: %q}
log:
  format: json
  level: debug
`, slack.APIURL(), slack.CAFile(), hook.URL(), hook.CAFile())
	if err := os.WriteFile(configPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(configPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = filepath.Join(t.TempDir(), "ottr.db")
	env := func(name string) (string, bool) {
		switch name {
		case "SCAN_SLACK_TOKEN":
			return slackToken, true
		case "SCAN_HOOK_SECRET":
			return hookSecret, true
		}
		return os.LookupEnv(name)
	}
	logs := &output.Buffer{}
	var finished sync.WaitGroup
	finished.Add(len(mixed.Devices))
	ap, err := app.New(ctx, cfg, app.Options{
		Env:    env,
		Logger: jsonLogger(logs),
		Observer: func(e rotation.Event) {
			if e.Phase == "end" {
				finished.Done()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ap.Close()
	if err := ap.Store.ImportAssets(ctx, mixed.Assets); err != nil {
		t.Fatal(err)
	}
	// One device fails, so the messages carry a rotation's error.
	mixed.Hosts[0].FailReloads(true)

	q, sched, err := ap.Queue(ctx, app.QueueRole{Work: true, Scan: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sched.ScanOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(context.WithoutCancel(ctx))
	waitDone(t, "every rotation to end", &finished, 3*time.Minute)
	deadline := time.Now().Add(time.Minute)
	for len(slack.Messages()) == 0 || len(hook.Deliveries()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no message came: slack %d, webhook %d", len(slack.Messages()), len(hook.Deliveries()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	failed, err := ap.Store.ListRotations(ctx, store.RotationFilter{State: store.StateFailed})
	if err != nil || len(failed) != 1 {
		t.Fatalf("failed rotations %d (%v), want the broken device's", len(failed), err)
	}

	srv := httptest.NewServer(ap.Metrics.Handler())
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	places := map[string]string{"the metrics": string(scrape), "the log": logs.String()}
	for i, m := range slack.Messages() {
		places[fmt.Sprintf("Slack message %d", i+1)] = string(m.Body)
	}
	for i, d := range hook.Deliveries() {
		places[fmt.Sprintf("webhook delivery %d", i+1)] = string(d.Body) + fmt.Sprint(d.Header)
	}
	if !strings.Contains(places["the log"], `"level":"DEBUG"`) || !strings.Contains(places["the metrics"], "ottr_certificate_not_after_timestamp_seconds") {
		t.Fatal("the log or the metrics are not what this test means to search")
	}
	secrets := configSecrets(t, ap, cfg)
	secrets = append(secrets, slackToken, hookSecret)
	if len(secrets) < 8 {
		t.Fatalf("found only %d secrets in the lab's config; the search would prove little", len(secrets))
	}
	for _, s := range secrets {
		for place, content := range places {
			if strings.Contains(content, s) {
				t.Errorf("%s holds a secret of the config (%d characters, starting %q)", place, len(s), s[:4])
			}
		}
	}
}

// configSecrets resolves every secret reference of cfg: the credentials,
// the TSIG key and the route options a driver holds secret. A multi-line
// secret (a private key) counts line by line.
func configSecrets(t *testing.T, ap *app.App, cfg *config.Config) []string {
	t.Helper()
	var refs []string
	for _, c := range cfg.Credentials {
		refs = append(refs, c.Password, c.PrivateKey)
	}
	refs = append(refs, cfg.DNS.RFC2136.TSIGSecret)
	for _, r := range cfg.Routes {
		d, ok := ap.Drivers.Get(r.Driver)
		if !ok {
			continue
		}
		for _, name := range d.Schema().SecretNames() {
			if values, ok := r.Options[name].(map[string]any); ok {
				for _, v := range values {
					refs = append(refs, fmt.Sprint(v))
				}
			} else if v, ok := r.Options[name].(string); ok {
				refs = append(refs, v)
			}
		}
	}
	var out []string
	for _, ref := range refs {
		if ref == "" {
			continue
		}
		value, err := ap.Resolve(ref)
		if err != nil {
			t.Fatalf("resolve %s: %v", ref, err)
		}
		for _, line := range strings.Split(value, "\n") {
			if line = strings.TrimSpace(line); len(line) >= 12 && !strings.HasPrefix(line, "-----") {
				out = append(out, line)
			}
		}
	}
	return out
}

func waitDone(t *testing.T, what string, wg *sync.WaitGroup, limit time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func jsonLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
