package notify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/secret"
)

// fakeChannel delivers nothing; it remembers what it was built with.
type fakeChannel struct {
	name, kind string
	secret     string
}

func (c *fakeChannel) Name() string { return c.name }
func (c *fakeChannel) Kind() string { return c.kind }
func (c *fakeChannel) Send(context.Context, Event) (Receipt, error) {
	return Receipt{Status: "200 OK"}, nil
}

// buildFake builds fake channels, resolving the first secret as a real
// constructor would.
func buildFake(name string, c config.NotifyChannel, o ChannelOptions) (Channel, error) {
	ch := &fakeChannel{name: name, kind: c.Kind}
	if s := c.Secrets(); len(s) > 0 {
		value, err := o.Resolve(s[0].Ref)
		if err != nil {
			return nil, err
		}
		ch.secret = value
	}
	return ch, nil
}

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "ottr.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCheckConfig(t *testing.T) {
	cfg := parse(t, `notifications:
  channels:
    chat:
      kind: slak
      token: env:T
    blank:
      webhook_url: env:W
  rules:
    - events: [rotation.failed, rotation.fail]
      channels: [chat]
`)
	err := CheckConfig(cfg)
	var cfgErr *config.Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("got %v, want a *config.Error", err)
	}
	want := []string{
		`ottr.yaml:4: notifications.channels.chat.kind: "slak" is not a kind of channel; use one of slack, webhook, email, pagerduty, teams`,
		`ottr.yaml:6: notifications.channels.blank.kind: is required: one of slack, webhook, email, pagerduty, teams`,
		`ottr.yaml:9: notifications.rules[0].events[1]: "rotation.fail" is not a kind of event; use one of rotation.failed, rotation.rolled_back, rotation.recovered, certificate.expiring, certificate.drift, digest`,
	}
	for i, line := range strings.Split(err.Error(), "\n") {
		if i >= len(want) || !strings.HasSuffix(line, want[i]) {
			t.Errorf("problem %d: %q", i, line)
		}
	}
	if got := len(cfgErr.Problems); got != len(want) {
		t.Errorf("%d problems, want %d:\n%v", got, len(want), err)
	}
	if err := CheckConfig(parse(t, "notifications:\n  channels:\n    hook: {kind: webhook, url: https://h.example.com, secret: env:S}\n")); err != nil {
		t.Errorf("a valid configuration: %v", err)
	}
}

func TestBuildChannels(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "pagerduty.key")
	if err := os.WriteFile(keyFile, []byte("R0UTINGKEY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, `notifications:
  channels:
    chat:
      kind: slack
      token: env:OTTR_TEST_SLACK_TOKEN
      channel: "#pki"
    pager:
      kind: pagerduty
      routing_key: file:`+keyFile+`
    hook:
      kind: webhook
      url: https://hooks.example.com/ottr
      secret: file:`+filepath.Join(dir, "missing")+`
`)
	env := map[string]string{}
	resolve := func(ref string) (string, error) {
		return secret.NewResolver(secret.ResolverOptions{Env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}).Resolve(ref)
	}
	o := ChannelOptions{Resolve: resolve}

	t.Run("names every secret that cannot be read, at its line", func(t *testing.T) {
		_, err := BuildChannels(cfg, nil, buildFake, o)
		if err == nil {
			t.Fatal("built channels whose secrets are missing")
		}
		got := strings.Split(err.Error(), "\n")
		if len(got) != 2 ||
			!strings.Contains(got[0], "ottr.yaml:5: notifications.channels.chat.token: environment variable OTTR_TEST_SLACK_TOKEN is not set: provide it to the processes that send notifications") ||
			!strings.Contains(got[1], "ottr.yaml:13: notifications.channels.hook.secret: read secret file: open "+filepath.Join(dir, "missing")) {
			t.Errorf("got:\n%v", err)
		}
	})

	t.Run("builds the named channels only", func(t *testing.T) {
		channels, err := BuildChannels(cfg, []string{"pager"}, buildFake, o)
		if err != nil {
			t.Fatal(err)
		}
		if ch, ok := channels["pager"].(*fakeChannel); len(channels) != 1 || !ok || ch.secret != "R0UTINGKEY" {
			t.Errorf("got %+v, want the pager channel with its key read from the file", channels)
		}
	})

	t.Run("refuses a channel that is not configured", func(t *testing.T) {
		_, err := BuildChannels(cfg, []string{"teams"}, buildFake, o)
		if err == nil || !strings.Contains(err.Error(), `no channel named "teams"`) || !strings.Contains(err.Error(), "configured: chat, hook, pager") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("reports the constructor's refusal at the channel's line", func(t *testing.T) {
		env["OTTR_TEST_SLACK_TOKEN"] = "xoxb-1"
		refuse := func(name string, c config.NotifyChannel, o ChannelOptions) (Channel, error) {
			return nil, errors.New("notifications.channels." + name + ": the token is not a bot token (xoxb-)")
		}
		_, err := BuildChannels(cfg, []string{"chat"}, refuse, o)
		if err == nil || !strings.HasSuffix(err.Error(), "ottr.yaml:3: notifications.channels.chat: the token is not a bot token (xoxb-)") {
			t.Errorf("got %v", err)
		}
	})
}
