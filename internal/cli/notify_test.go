package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// notifyWorkspace writes an ottr.yaml with the given notifications section.
func notifyWorkspace(t *testing.T, notifications string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ottr.yaml")
	if err := os.WriteFile(path, []byte("data_dir: data\n"+notifications), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNotifyTestRefuses(t *testing.T) {
	tests := []struct {
		name          string
		notifications string
		channel       string
		want          string
		code          int
	}{
		{
			name:    "a channel that is not configured",
			channel: "pki-slack",
			want:    `no channel named "pki-slack" in notifications.channels`,
			code:    3,
		},
		{
			name:          "a channel whose secret is not set, naming its line",
			notifications: "notifications:\n  channels:\n    hook:\n      kind: webhook\n      url: https://hooks.example.com/ottr\n      secret: env:OTTR_TEST_UNSET_WEBHOOK_SECRET\n",
			channel:       "hook",
			want:          "ottr.yaml:7: notifications.channels.hook.secret: environment variable OTTR_TEST_UNSET_WEBHOOK_SECRET is not set",
			code:          2,
		},
		{
			name:          "an unknown kind of channel, naming its line",
			notifications: "notifications:\n  channels:\n    hook:\n      kind: discord\n",
			channel:       "hook",
			want:          `ottr.yaml:5: notifications.channels.hook.kind: "discord" is not a kind of channel; use one of slack, webhook, email, pagerduty, teams`,
			code:          2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := notifyWorkspace(t, tt.notifications)
			out, errOut, code := run(t, "", "-c", cfg, "notify", "test", tt.channel)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
}
