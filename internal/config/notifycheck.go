package config

import (
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits of the notifications section.
const (
	defaultEscalateAfter    = 3
	defaultEscalateDaysLeft = 7
	defaultDriftConcurrency = 10
	defaultNotifyTimeout    = 10 * time.Second
	defaultSMTPPort         = 587
	implicitTLSPort         = 465
	defaultPagerDutyURL     = "https://events.pagerduty.com/v2/enqueue"
	minDriftInterval        = time.Minute
	maxDriftConcurrency     = 1000
	maxNotifyTimeout        = 5 * time.Minute
	exampleHookURL          = "https://hooks.example.com/ottr"
	exampleExternalURL      = "https://ottr.example.com"
)

// SMTP security modes (NotifySMTP.TLS).
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNone     = "none"
)

// defaultExpiryDays are the days before notAfter a coming expiry is told at.
var defaultExpiryDays = []int{30, 14, 7, 3, 1}

// NotifySecret is one secret setting of a channel: its reference, and the
// setting's path below the channel ("token", "smtp.password").
type NotifySecret struct {
	Setting string
	Ref     string
}

// Secrets returns the secret settings the channel sets, in a fixed order.
// Each Ref is a reference (env:NAME, file:PATH) once the configuration
// has been validated.
func (c NotifyChannel) Secrets() []NotifySecret {
	var out []NotifySecret
	for _, s := range []NotifySecret{
		{"token", c.Token}, {"webhook_url", c.WebhookURL}, {"secret", c.Secret},
		{"routing_key", c.RoutingKey}, {"smtp.password", c.SMTP.Password},
	} {
		if s.Ref != "" {
			out = append(out, s)
		}
	}
	return out
}

// Clock returns the time of day At names, and false when At is empty (no
// digest) or not a valid HH:MM.
func (d NotifyDigest) Clock() (hour, minute int, ok bool) {
	m := clockPattern.FindStringSubmatch(d.At)
	if m == nil {
		return 0, 0, false
	}
	hour, _ = strconv.Atoi(m[1])
	minute, _ = strconv.Atoi(m[2])
	return hour, minute, true
}

var clockPattern = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)

// withDefaults fills the notification settings left unset and makes file:
// references and ca_file relative to baseDir.
func (n *Notifications) withDefaults(baseDir string) {
	n.ExternalURL = strings.TrimRight(n.ExternalURL, "/")
	if n.Failure.EscalateAfter == 0 {
		n.Failure.EscalateAfter = defaultEscalateAfter
	}
	if n.Failure.EscalateDaysLeft == 0 {
		n.Failure.EscalateDaysLeft = defaultEscalateDaysLeft
	}
	if n.Expiry.Days == nil {
		n.Expiry.Days = slices.Clone(defaultExpiryDays)
	}
	if n.DriftCheck.Concurrency == 0 {
		n.DriftCheck.Concurrency = defaultDriftConcurrency
	}
	for name, c := range n.Channels {
		if c.Timeout == 0 {
			c.Timeout = defaultNotifyTimeout
		}
		if c.Kind == "email" {
			if c.SMTP.TLS == "" {
				c.SMTP.TLS = SMTPStartTLS
			}
			if c.SMTP.Port == 0 {
				c.SMTP.Port = defaultSMTPPort
				if c.SMTP.TLS == SMTPTLS {
					c.SMTP.Port = implicitTLSPort
				}
			}
		}
		if c.Kind == "pagerduty" && c.EventsURL == "" {
			c.EventsURL = defaultPagerDutyURL
		}
		c.Token = resolveSecretRef(baseDir, c.Token)
		c.WebhookURL = resolveSecretRef(baseDir, c.WebhookURL)
		c.Secret = resolveSecretRef(baseDir, c.Secret)
		c.RoutingKey = resolveSecretRef(baseDir, c.RoutingKey)
		c.SMTP.Password = resolveSecretRef(baseDir, c.SMTP.Password)
		c.CAFile = resolvePath(baseDir, c.CAFile)
		n.Channels[name] = c
	}
}

// channelName is what a channel may be called: it is typed on the command
// line ('ottr notify test NAME') and kept in delivery jobs.
var channelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// checkNotifications checks the notifications section. The kinds of
// channel and of event are checked by the notify package, which owns them
// (notify.CheckConfig); the rest is checked here.
func (k *checker) checkNotifications() {
	n := k.c.Notifications
	if n.ExternalURL != "" {
		if reason := checkHTTPS(n.ExternalURL, exampleExternalURL); reason != "" {
			k.add("notifications.external_url", "%s", reason)
		}
	}
	for _, name := range k.c.inFileOrder("notifications.channels", maps.Keys(n.Channels)) {
		path := join("notifications.channels", name)
		if !channelName.MatchString(name) {
			k.add(path, "channel name %q must start with a letter or digit and hold only letters, digits, '.', '_' and '-'", name)
		}
		k.checkChannel(path, n.Channels[name])
	}
	for i, r := range n.Rules {
		path := fmt.Sprintf("notifications.rules[%d]", i)
		if len(r.Channels) == 0 {
			k.add(path+".channels", "is required: the names of the channels the rule sends to (configured: %s)", listOrNone(slices.Sorted(maps.Keys(n.Channels))))
		}
		for j, ch := range r.Channels {
			if _, ok := n.Channels[ch]; !ok {
				k.add(fmt.Sprintf("%s.channels[%d]", path, j), "%q is not a configured channel (configured: %s)", ch, listOrNone(slices.Sorted(maps.Keys(n.Channels))))
			}
		}
	}
	if f := n.Failure; f.EscalateAfter < 1 {
		k.add("notifications.failure.escalate_after", "must be at least 1 failure, got %d", f.EscalateAfter)
	}
	if d := n.Failure.EscalateDaysLeft; d < 0 || d >= maxFixedDays {
		k.add("notifications.failure.escalate_days_left", "must be between 1 and %d days, got %d", maxFixedDays-1, d)
	}
	seen := map[int]bool{}
	for i, d := range n.Expiry.Days {
		path := fmt.Sprintf("notifications.expiry.days[%d]", i)
		switch {
		case d < 1 || d >= maxFixedDays:
			k.add(path, "must be between 1 and %d days, got %d", maxFixedDays-1, d)
		case seen[d]:
			k.add(path, "%d days is listed twice", d)
		}
		seen[d] = true
	}
	if dc := n.DriftCheck; dc.Interval != 0 && dc.Interval < minDriftInterval {
		k.add("notifications.drift_check.interval", "must be 0 (off) or at least %v, got %v", minDriftInterval, dc.Interval)
	}
	if c := n.DriftCheck.Concurrency; c < 1 || c > maxDriftConcurrency {
		k.add("notifications.drift_check.concurrency", "must be between 1 and %d, got %d", maxDriftConcurrency, c)
	}
	if at := n.Digest.At; at != "" {
		if _, _, ok := n.Digest.Clock(); !ok {
			k.add("notifications.digest.at", "%q is not a time of day: write HH:MM in UTC, such as \"08:30\"", at)
		}
	}
}

// checkChannel checks what one channel of a known kind needs; settings of
// an unknown kind are left alone (notify.CheckConfig reports the kind).
func (k *checker) checkChannel(path string, c NotifyChannel) {
	for _, s := range c.Secrets() {
		if isLiteralSecret(s.Ref) {
			k.add(path+"."+s.Setting, "holds a secret written out in the configuration, which is refused here: write env:NAME or file:PATH to read it from the environment or a file, or aws-sm:NAME#key or vault:MOUNT/PATH#key to read it from a secret store; the value is not repeated here")
			continue
		}
		k.checkSecretRef(path+"."+s.Setting, s.Ref)
	}
	required := func(setting, what string) {
		k.add(path+"."+setting, "is required for a %s channel: %s", c.Kind, what)
	}
	switch c.Kind {
	case "slack":
		switch {
		case c.Token == "" && c.WebhookURL == "":
			required("token", "a bot token with chat:write as env:NAME or file:PATH (and channel), or set webhook_url to an incoming webhook")
		case c.Token != "" && c.WebhookURL != "":
			k.add(path+".webhook_url", "goes with no token: a slack channel posts with a bot token or through an incoming webhook, not both")
		case c.Token != "" && c.Channel == "":
			required("channel", `the Slack channel the bot posts to, such as "#pki-alerts"`)
		}
	case "webhook":
		if c.URL == "" {
			required("url", "the address the events are posted to, such as "+exampleHookURL)
		} else if reason := checkHTTPS(c.URL, exampleHookURL); reason != "" {
			k.add(path+".url", "%s", reason)
		}
		if c.Secret == "" {
			required("secret", "the key the body is signed with (HMAC-SHA256), as env:NAME or file:PATH")
		}
	case "email":
		k.checkEmail(path, c)
	case "pagerduty":
		if c.RoutingKey == "" {
			required("routing_key", "the Events API v2 integration key, as env:NAME or file:PATH")
		}
		if reason := checkHTTPS(c.EventsURL, defaultPagerDutyURL); reason != "" {
			k.add(path+".events_url", "%s", reason)
		}
	case "teams":
		if c.WebhookURL == "" {
			required("webhook_url", "the Workflows webhook's URL, which is its credential, as env:NAME or file:PATH")
		}
	}
	if c.Timeout <= 0 || c.Timeout > maxNotifyTimeout {
		k.add(path+".timeout", "must be positive and at most %v, got %v", maxNotifyTimeout, c.Timeout)
	}
}

func (k *checker) checkEmail(path string, c NotifyChannel) {
	s := c.SMTP
	if s.Host == "" {
		k.add(path+".smtp.host", "is required for an email channel: the SMTP server, such as smtp.example.com")
	}
	if s.Port < 1 || s.Port > 65535 {
		k.add(path+".smtp.port", "must be between 1 and 65535, got %d", s.Port)
	}
	switch s.TLS {
	case SMTPStartTLS, SMTPTLS:
	case SMTPNone:
		if s.Host != "" && !isLoopback(s.Host) {
			k.add(path+".smtp.tls", "none sends mail and password in clear: it is only allowed to a loopback host such as 127.0.0.1; use starttls or tls")
		}
	default:
		k.add(path+".smtp.tls", "%q is not a way to secure SMTP; use starttls, tls (implicit, port 465) or none (loopback only)", s.TLS)
	}
	if s.Password != "" && s.Username == "" {
		k.add(path+".smtp.username", "is required when smtp.password is set: the login the password belongs to")
	}
	if c.From == "" {
		k.add(path+".from", "is required for an email channel: the sender's address, such as ottr@example.com")
	} else if !isAddress(c.From) {
		k.add(path+".from", "%q is not an email address such as ottr@example.com", c.From)
	}
	if len(c.To) == 0 {
		k.add(path+".to", "is required for an email channel: the addresses to write to, such as [pki-team@example.com]")
	}
	for i, to := range c.To {
		if !isAddress(to) {
			k.add(fmt.Sprintf("%s.to[%d]", path, i), "%q is not an email address such as pki-team@example.com", to)
		}
	}
}

// isAddress reports whether s is a bare address (pki@example.com); a name
// with it ("PKI <pki@example.com>") is accepted too.
func isAddress(s string) bool {
	_, err := mail.ParseAddress(s)
	return err == nil
}
