package config

import "time"

// Notifications tell people what needs them (internal/notify).
type Notifications struct {
	// ExternalURL is where people reach this ottr (the public address of
	// its API and web UI); messages link to the web UI's page of a rotation
	// or an asset under it. Empty: no links.
	ExternalURL string `yaml:"external_url"`
	// Channels are the destinations, by name.
	Channels map[string]NotifyChannel `yaml:"channels"`
	// Rules choose the channels of each event, like routes: the first rule
	// that matches an event gives its channels, and an event no rule
	// matches goes nowhere. With no rules, every event goes to every
	// channel.
	Rules []NotifyRule `yaml:"rules"`
	// Failure says when a failure streak is told again, escalated.
	Failure NotifyFailure `yaml:"failure"`
	// Expiry says when a certificate's coming expiry is told.
	Expiry NotifyExpiry `yaml:"expiry"`
	// DriftCheck checks every asset's served certificate periodically.
	DriftCheck NotifyDriftCheck `yaml:"drift_check"`
	// Digest sends one summary a day.
	Digest NotifyDigest `yaml:"digest"`
}

// NotifyChannel is one destination. Kind says which of the other fields
// apply; every secret is a reference (env:NAME or file:PATH).
type NotifyChannel struct {
	// Kind is slack, webhook, email, pagerduty or teams.
	Kind string `yaml:"kind"`

	// Slack: Token (a bot token, chat.postMessage to Channel), or
	// WebhookURL (an incoming webhook).
	Token   string `yaml:"token"`
	Channel string `yaml:"channel"`
	// WebhookURL is the Slack incoming webhook, or the Teams Workflows
	// webhook (a secret: its URL is its credential).
	WebhookURL string `yaml:"webhook_url"`

	// Webhook: URL receives the event as JSON, signed with Secret
	// (HMAC-SHA256 over the timestamp and the body). Slack with a token:
	// URL is the Web API's base, default https://slack.com/api.
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`

	// Email: SMTP is the server; From and To the addresses.
	SMTP NotifySMTP `yaml:"smtp"`
	From string     `yaml:"from"`
	To   []string   `yaml:"to"`

	// PagerDuty: RoutingKey is the Events API v2 integration key;
	// EventsURL defaults to PagerDuty's own.
	RoutingKey string `yaml:"routing_key"`
	EventsURL  string `yaml:"events_url"`

	// CAFile, if set, is the PEM bundle the destination's TLS
	// certificate is checked against (default: the system's roots).
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one delivery. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// NotifySMTP is an SMTP server.
type NotifySMTP struct {
	Host string `yaml:"host"`
	// Port defaults to 587.
	Port int `yaml:"port"`
	// TLS is starttls (the default: refuse a server without it),
	// tls (implicit, port 465) or none (only on loopback).
	TLS      string `yaml:"tls"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// NotifyRule sends the events it matches to its channels.
type NotifyRule struct {
	// Events are the kinds it takes; empty: every kind.
	Events []string `yaml:"events"`
	// Match narrows it to some assets; empty fields match any.
	Match NotifyMatch `yaml:"match"`
	// Channels are the names of the channels it sends to.
	Channels []string `yaml:"channels"`
}

// NotifyMatch selects assets.
type NotifyMatch struct {
	DataCenter string            `yaml:"data_center"`
	Platform   string            `yaml:"platform"`
	Labels     map[string]string `yaml:"labels"`
}

// NotifyFailure says when a failure streak escalates.
type NotifyFailure struct {
	// EscalateAfter is the failure count of a streak that is told again.
	// Default 3.
	EscalateAfter int `yaml:"escalate_after"`
	// EscalateDaysLeft escalates a streak as soon as the certificate has
	// fewer days left than this. Default 7.
	EscalateDaysLeft int `yaml:"escalate_days_left"`
}

// NotifyExpiry says when a coming expiry is told.
type NotifyExpiry struct {
	// Days are the thresholds before notAfter. Default (when absent) 30,
	// 14, 7, 3, 1; an empty list tells of no expiry.
	Days []int `yaml:"days"`
}

// NotifyDriftCheck checks every asset's served certificate.
type NotifyDriftCheck struct {
	// Interval between checks, at least a minute; 0 (the default) turns
	// the check off.
	Interval time.Duration `yaml:"interval"`
	// Concurrency is how many devices are checked at once. Default 10.
	Concurrency int `yaml:"concurrency"`
}

// NotifyDigest sends one summary a day.
type NotifyDigest struct {
	// At is the time of day (HH:MM, UTC) it is sent; empty (the default)
	// sends none.
	At string `yaml:"at"`
}
