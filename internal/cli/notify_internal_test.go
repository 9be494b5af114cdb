package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
)

// answering is a channel that answers every message with receipt or err,
// and keeps the last message.
type answering struct {
	receipt notify.Receipt
	err     error
	sent    notify.Event
}

func (a *answering) Name() string { return "hook" }
func (a *answering) Kind() string { return "webhook" }
func (a *answering) Send(_ context.Context, e notify.Event) (notify.Receipt, error) {
	a.sent = e
	return a.receipt, a.err
}

func TestNotifyTestPrintsTheAnswer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ottr.yaml")
	t.Setenv("OTTR_TEST_WEBHOOK_SECRET", "s3cret-for-signing")
	cfg := "notifications:\n  external_url: https://ottr.example.com\n  channels:\n    hook:\n      kind: webhook\n      url: https://hooks.example.com/ottr\n      secret: env:OTTR_TEST_WEBHOOK_SECRET\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		channel *answering
		want    string
		wantErr string
	}{
		{"prints what the channel answered", &answering{receipt: notify.Receipt{Status: "202 Accepted", Detail: "delivery 7f3a"}},
			"hook (webhook) took the sample message: 202 Accepted\n  delivery 7f3a\n", ""},
		{"fails with what the channel answered", &answering{err: &notify.RetryableError{Err: errors.New("503 Service Unavailable")}},
			"", "hook (webhook) did not take the sample message: 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			g := &globals{configPath: path, logLevel: "warn", stdout: &out, stderr: &errOut}
			var secret string
			build := func(_ string, c config.NotifyChannel, o notify.ChannelOptions) (notify.Channel, error) {
				var err error
				secret, err = o.Resolve(c.Secret)
				return tt.channel, err
			}
			cmd := newNotifyTestCmd(g, build)
			cmd.SetArgs([]string{"hook"})
			cmd.SetContext(context.Background())
			err := cmd.Execute()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if out.String() != tt.want {
				t.Errorf("printed %q, want %q", out.String(), tt.want)
			}
			if secret != "s3cret-for-signing" {
				t.Errorf("the channel was built with secret %q, want the environment's", secret)
			}
			if e := tt.channel.sent; !e.Test || e.Link != "https://ottr.example.com" {
				t.Errorf("sent %+v, want a sample marked as a test, linking to external_url", e)
			}
		})
	}
}
