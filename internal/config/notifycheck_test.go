package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// hooks is a notifications section with two valid channels, to which the
// cases add their own lines.
const hooks = `notifications:
  channels:
    audit:
      kind: webhook
      url: https://hooks.example.com/ottr
      secret: env:OTTR_WEBHOOK_SECRET
    pager:
      kind: pagerduty
      routing_key: file:pagerduty.key
`

func TestNotificationRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "accepts a channel of every kind and first-match rules",
			yaml: hooks + `    chat:
      kind: slack
      token: env:OTTR_SLACK_TOKEN
      channel: "#pki"
    hook:
      kind: slack
      webhook_url: env:OTTR_SLACK_WEBHOOK
    mail:
      kind: email
      smtp: {host: smtp.example.com, username: ottr, password: env:OTTR_SMTP_PASSWORD}
      from: ottr@example.com
      to: [pki@example.com, "PKI Team <pki-team@example.com>"]
    teams:
      kind: teams
      webhook_url: file:/etc/ottr/teams.url
  rules:
    - events: [rotation.failed]
      match: {data_center: dc1, labels: {team: network}}
      channels: [pager, chat]
    - channels: [audit]
  external_url: https://ottr.example.com/
  digest: {at: "08:30"}
  drift_check: {interval: 6h, concurrency: 20}
`,
		},
		{
			name: "refuses a secret written out, without repeating it",
			yaml: hooks + `    chat:
      kind: slack
      token: xoxb-1234-secret
      channel: "#pki"
`,
			want: []string{"ottr.yaml:12: notifications.channels.chat.token: holds a secret written out in the configuration, which is refused here: write env:NAME or file:PATH to read it from the environment or a file, or aws-sm:NAME#key or vault:MOUNT/PATH#key to read it from a secret store; the value is not repeated here"},
		},
		{
			name: "refuses a malformed env reference",
			yaml: strings.Replace(hooks, "env:OTTR_WEBHOOK_SECRET", "env:OTTR-SECRET", 1),
			want: []string{"ottr.yaml:6: notifications.channels.audit.secret: an env: reference needs an environment variable name of letters, digits and underscores, such as env:OTTR_DEVICE_PASSWORD"},
		},
		{
			name: "refuses a webhook over plain http to a remote host",
			yaml: strings.Replace(hooks, "https://hooks.example.com/ottr", "http://hooks.example.com/ottr", 1),
			want: []string{"ottr.yaml:5: notifications.channels.audit.url: must use https://; http:// is only allowed to a loopback host such as 127.0.0.1"},
		},
		{
			name: "accepts a webhook over plain http on loopback",
			yaml: strings.Replace(hooks, "https://hooks.example.com/ottr", "http://127.0.0.1:9000/ottr", 1),
		},
		{
			name: "refuses a URL that is not one, or carries a password",
			yaml: strings.Replace(hooks, "https://hooks.example.com/ottr", "hooks.example.com", 1) +
				"      events_url: https://user:hunter2@events.example.com/v2/enqueue\n",
			want: []string{
				"ottr.yaml:5: notifications.channels.audit.url: must be an https:// URL, such as https://hooks.example.com/ottr",
				"ottr.yaml:10: notifications.channels.pager.events_url: must not carry a user name or password",
			},
		},
		{
			name: "refuses an external URL over plain http",
			yaml: hooks + "  external_url: http://ottr.example.com\n",
			want: []string{"ottr.yaml:10: notifications.external_url: must use https://; http:// is only allowed to a loopback host such as 127.0.0.1"},
		},
		{
			name: "refuses a rule naming an unknown channel",
			yaml: hooks + "  rules:\n    - events: [digest]\n      channels: [audit, slack]\n",
			want: []string{`ottr.yaml:12: notifications.rules[0].channels[1]: "slack" is not a configured channel (configured: audit, pager)`},
		},
		{
			name: "refuses a rule with no channel",
			yaml: hooks + "  rules:\n    - events: [digest]\n",
			want: []string{"ottr.yaml:11: notifications.rules[0].channels: is required: the names of the channels the rule sends to (configured: audit, pager)"},
		},
		{
			name: "names what each kind of channel needs",
			yaml: `notifications:
  channels:
    chat: {kind: slack, token: env:T}
    both: {kind: slack, token: env:T, channel: "#x", webhook_url: env:W}
    hook: {kind: webhook}
    mail: {kind: email, smtp: {password: env:P}}
    pager: {kind: pagerduty}
    teams: {kind: teams}
`,
			want: []string{
				`ottr.yaml:3: notifications.channels.chat.channel: is required for a slack channel: the Slack channel the bot posts to, such as "#pki-alerts"`,
				"ottr.yaml:4: notifications.channels.both.webhook_url: goes with no token: a slack channel posts with a bot token or through an incoming webhook, not both",
				"ottr.yaml:5: notifications.channels.hook.url: is required for a webhook channel: the address the events are posted to, such as https://hooks.example.com/ottr",
				"ottr.yaml:5: notifications.channels.hook.secret: is required for a webhook channel: the key the body is signed with (HMAC-SHA256), as env:NAME or file:PATH",
				"ottr.yaml:6: notifications.channels.mail.smtp.host: is required for an email channel: the SMTP server, such as smtp.example.com",
				"ottr.yaml:6: notifications.channels.mail.smtp.username: is required when smtp.password is set: the login the password belongs to",
				"ottr.yaml:6: notifications.channels.mail.from: is required for an email channel: the sender's address, such as ottr@example.com",
				"ottr.yaml:6: notifications.channels.mail.to: is required for an email channel: the addresses to write to, such as [pki-team@example.com]",
				"ottr.yaml:7: notifications.channels.pager.routing_key: is required for a pagerduty channel: the Events API v2 integration key, as env:NAME or file:PATH",
				"ottr.yaml:8: notifications.channels.teams.webhook_url: is required for a teams channel: the Workflows webhook's URL, which is its credential, as env:NAME or file:PATH",
			},
		},
		{
			name: "refuses SMTP in clear to a remote server and bad addresses",
			yaml: `notifications:
  channels:
    mail:
      kind: email
      smtp: {host: smtp.example.com, tls: none}
      from: ottr
      to: [pki@example.com, nobody]
`,
			want: []string{
				"ottr.yaml:5: notifications.channels.mail.smtp.tls: none sends mail and password in clear: it is only allowed to a loopback host such as 127.0.0.1; use starttls or tls",
				`ottr.yaml:6: notifications.channels.mail.from: "ottr" is not an email address such as ottr@example.com`,
				`ottr.yaml:7: notifications.channels.mail.to[1]: "nobody" is not an email address such as pki-team@example.com`,
			},
		},
		{
			name: "refuses an unknown way to secure SMTP",
			yaml: "notifications:\n  channels:\n    mail:\n      kind: email\n      smtp: {host: 127.0.0.1, tls: ssl}\n      from: ottr@example.com\n      to: [pki@example.com]\n",
			want: []string{`ottr.yaml:5: notifications.channels.mail.smtp.tls: "ssl" is not a way to secure SMTP; use starttls, tls (implicit, port 465) or none (loopback only)`},
		},
		{
			name: "refuses a channel name that cannot be typed on a command line",
			yaml: "notifications:\n  channels:\n    pki slack:\n      kind: teams\n      webhook_url: env:W\n",
			want: []string{`ottr.yaml:3: notifications.channels.pki slack: channel name "pki slack" must start with a letter or digit and hold only letters, digits, '.', '_' and '-'`},
		},
		{
			name: "refuses bad thresholds",
			yaml: hooks + `  failure: {escalate_after: -1, escalate_days_left: -2}
  expiry:
    days: [30, 0, 14, 30]
  drift_check: {interval: 10s, concurrency: 2000}
`,
			want: []string{
				"ottr.yaml:10: notifications.failure.escalate_after: must be at least 1 failure, got -1",
				"ottr.yaml:10: notifications.failure.escalate_days_left: must be between 1 and 399 days, got -2",
				"ottr.yaml:12: notifications.expiry.days[1]: must be between 1 and 399 days, got 0",
				"ottr.yaml:12: notifications.expiry.days[3]: 30 days is listed twice",
				"ottr.yaml:13: notifications.drift_check.interval: must be 0 (off) or at least 1m0s, got 10s",
				"ottr.yaml:13: notifications.drift_check.concurrency: must be between 1 and 1000, got 2000",
			},
		},
		{
			name: "refuses a digest time that is not HH:MM",
			yaml: hooks + "  digest:\n    at: \"8:30pm\"\n",
			want: []string{`ottr.yaml:11: notifications.digest.at: "8:30pm" is not a time of day: write HH:MM in UTC, such as "08:30"`},
		},
		{
			name: "refuses a delivery timeout over five minutes",
			yaml: hooks + "      timeout: 1h\n",
			want: []string{"ottr.yaml:10: notifications.channels.pager.timeout: must be positive and at most 5m0s, got 1h0m0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkProblems(t, tt.yaml, tt.want...) })
	}
}

func TestNotificationDefaults(t *testing.T) {
	c, err := Parse([]byte(hooks+`    mail:
      kind: email
      smtp: {host: smtp.example.com}
      from: ottr@example.com
      to: [pki@example.com]
    mail465:
      kind: email
      smtp: {host: smtp.example.com, tls: tls}
      from: ottr@example.com
      to: [pki@example.com]
  external_url: https://ottr.example.com/
`), "/etc/ottr/ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notifications
	checks := []struct {
		name      string
		got, want any
	}{
		{"escalates after three failures", n.Failure.EscalateAfter, 3},
		{"escalates with fewer than seven days left", n.Failure.EscalateDaysLeft, 7},
		{"tells of expiry at 30, 14, 7, 3 and 1 days", slices.Equal(n.Expiry.Days, []int{30, 14, 7, 3, 1}), true},
		{"checks no served certificate", n.DriftCheck.Interval, time.Duration(0)},
		{"would check ten devices at once", n.DriftCheck.Concurrency, 10},
		{"sends no digest", n.Digest.At, ""},
		{"gives a delivery ten seconds", n.Channels["audit"].Timeout, 10 * time.Second},
		{"posts to PagerDuty's own Events API", n.Channels["pager"].EventsURL, "https://events.pagerduty.com/v2/enqueue"},
		{"reads a relative secret file beside the config", n.Channels["pager"].RoutingKey, "file:/etc/ottr/pagerduty.key"},
		{"sends mail with STARTTLS", n.Channels["mail"].SMTP.TLS, "starttls"},
		{"sends mail on port 587", n.Channels["mail"].SMTP.Port, 587},
		{"sends mail over implicit TLS on port 465", n.Channels["mail465"].SMTP.Port, 465},
		{"links without a trailing slash", n.ExternalURL, "https://ottr.example.com"},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	t.Run("keeps an empty list of expiry days", func(t *testing.T) {
		c, err := Parse([]byte("notifications:\n  expiry:\n    days: []\n"), "ottr.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if d := c.Notifications.Expiry.Days; d == nil || len(d) != 0 {
			t.Errorf("days %v, want an empty list: no expiry is told", d)
		}
	})
}

func TestDigestClock(t *testing.T) {
	for at, want := range map[string][3]int{"00:00": {0, 0, 1}, "08:30": {8, 30, 1}, "23:59": {23, 59, 1}, "24:00": {}, "8:30": {}, "": {}} {
		h, m, ok := NotifyDigest{At: at}.Clock()
		if got := [3]int{h, m, map[bool]int{true: 1}[ok]}; got != want {
			t.Errorf("Clock of %q = %v, want %v", at, got, want)
		}
	}
}
