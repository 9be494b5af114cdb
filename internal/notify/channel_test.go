package notify_test

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
)

func TestNewChannelRefusesBadSettingsNamingTheSetting(t *testing.T) {
	noPEM := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(noPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const secretValue = "s3cret-value-never-shown"
	vars := map[string]string{"SET": secretValue, "SHORT_KEY": "abc123", "EMPTY": ""}
	smtp := config.NotifySMTP{Host: "smtp.example.com"}
	tests := []struct {
		name string
		c    config.NotifyChannel
		want []string
	}{
		{"no kind", config.NotifyChannel{}, []string{"ch.kind: required", "slack, webhook, email, pagerduty, teams"}},
		{"an unknown kind", config.NotifyChannel{Kind: "opsgenie"}, []string{"ch.kind:", `"opsgenie"`, "no such kind"}},
		{"a setting of another kind", config.NotifyChannel{Kind: "slack", Token: "env:SET", Channel: "#a", RoutingKey: "env:SET"},
			[]string{"ch.routing_key: not a setting of a slack channel", "pagerduty"}},
		{"a negative timeout", config.NotifyChannel{Kind: "teams", WebhookURL: "https://example.com/x", Timeout: -1}, []string{"ch.timeout:"}},
		{"slack with neither token nor webhook", config.NotifyChannel{Kind: "slack"}, []string{"ch.token: required", "webhook_url"}},
		{"slack with both", config.NotifyChannel{Kind: "slack", Token: "env:SET", WebhookURL: "env:SET"}, []string{"ch.webhook_url:", "not both"}},
		{"slack token without a channel", config.NotifyChannel{Kind: "slack", Token: "env:SET"}, []string{"ch.channel: required"}},
		{"slack token that is not set", config.NotifyChannel{Kind: "slack", Token: "env:UNSET", Channel: "#a"},
			[]string{"ch.token:", "UNSET is not set"}},
		{"slack token that reads empty", config.NotifyChannel{Kind: "slack", Token: "env:EMPTY", Channel: "#a"}, []string{"ch.token:", "empty"}},
		{"slack webhook over http", config.NotifyChannel{Kind: "slack", WebhookURL: "http://hooks.example.com/services/" + secretValue},
			[]string{"ch.webhook_url:", "https://", "loopback"}},
		{"slack webhook with a channel", config.NotifyChannel{Kind: "slack", WebhookURL: "env:SET", Channel: "#a"}, []string{"ch.channel:", "leave channel out"}},
		{"webhook without url", config.NotifyChannel{Kind: "webhook", Secret: "env:SET"}, []string{"ch.url: required"}},
		{"webhook without secret", config.NotifyChannel{Kind: "webhook", URL: "https://hooks.example.com/ottr"}, []string{"ch.secret: required"}},
		{"webhook to a relative url", config.NotifyChannel{Kind: "webhook", URL: "/ottr?token=" + secretValue, Secret: "env:SET"},
			[]string{"ch.url:", "not an absolute"}},
		{"webhook to ftp", config.NotifyChannel{Kind: "webhook", URL: "ftp://example.com/x", Secret: "env:SET"}, []string{"ch.url:", `"ftp"`}},
		{"teams without webhook_url", config.NotifyChannel{Kind: "teams"}, []string{"ch.webhook_url: required"}},
		{"pagerduty without routing_key", config.NotifyChannel{Kind: "pagerduty"}, []string{"ch.routing_key: required"}},
		{"pagerduty with a short key", config.NotifyChannel{Kind: "pagerduty", RoutingKey: "env:SHORT_KEY"}, []string{"ch.routing_key:", "6 characters", "32"}},
		{"pagerduty events_url over http", config.NotifyChannel{Kind: "pagerduty", RoutingKey: "R0UT1NGKEY0TTR0000000000000000AB", EventsURL: "http://events.example.com/v2/enqueue"},
			[]string{"ch.events_url:", "https://"}},
		{"email without a server", config.NotifyChannel{Kind: "email", From: "ottr@example.com", To: []string{"pki@example.com"}}, []string{"ch.smtp.host: required"}},
		{"email without from", config.NotifyChannel{Kind: "email", SMTP: smtp, To: []string{"pki@example.com"}}, []string{"ch.from: required"}},
		{"email to nobody", config.NotifyChannel{Kind: "email", SMTP: smtp, From: "ottr@example.com"}, []string{"ch.to: required"}},
		{"email to a bad address", config.NotifyChannel{Kind: "email", SMTP: smtp, From: "ottr@example.com", To: []string{"pki@example.com", "pki team"}},
			[]string{"ch.to[1]:", `"pki team"`}},
		{"email unencrypted to another host", config.NotifyChannel{Kind: "email", SMTP: config.NotifySMTP{Host: "smtp.example.com", TLS: "none"}, From: "ottr@example.com", To: []string{"pki@example.com"}},
			[]string{"ch.smtp.tls:", "loopback", "smtp.example.com"}},
		{"email with an unknown tls", config.NotifyChannel{Kind: "email", SMTP: config.NotifySMTP{Host: "smtp.example.com", TLS: "ssl"}, From: "ottr@example.com", To: []string{"pki@example.com"}},
			[]string{"ch.smtp.tls:", `"ssl"`, "starttls"}},
		{"email password without a user", config.NotifyChannel{Kind: "email", SMTP: config.NotifySMTP{Host: "smtp.example.com", Password: "env:SET"}, From: "ottr@example.com", To: []string{"pki@example.com"}},
			[]string{"ch.smtp.username: required"}},
		{"email user whose password is not set", config.NotifyChannel{Kind: "email", SMTP: config.NotifySMTP{Host: "smtp.example.com", Username: "ottr", Password: "env:UNSET"}, From: "ottr@example.com", To: []string{"pki@example.com"}},
			[]string{"ch.smtp.password:", "UNSET"}},
		{"a ca_file without a certificate", config.NotifyChannel{Kind: "teams", WebhookURL: "https://example.com/x", CAFile: noPEM}, []string{"ch.ca_file:", "no PEM certificate"}},
		{"a ca_file that is missing", config.NotifyChannel{Kind: "teams", WebhookURL: "https://example.com/x", CAFile: noPEM + ".missing"}, []string{"ch.ca_file:", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := notify.NewChannel("ch", tt.c, notify.ChannelOptions{Resolve: secretsFrom(vars)})
			assertSays(t, err, append([]string{"notifications.channels."}, tt.want...)...)
			if err != nil {
				assertNoSecret(t, err.Error(), secretValue)
			}
		})
	}
}

func TestNewChannelTakesEveryKind(t *testing.T) {
	c := map[string]config.NotifyChannel{
		"slack":     {Kind: "slack", Token: "env:T", Channel: "#pki"},
		"webhook":   {Kind: "webhook", URL: "https://hooks.example.com/ottr", Secret: "env:T"},
		"email":     {Kind: "email", SMTP: config.NotifySMTP{Host: "localhost", TLS: "none"}, From: "ottr@example.com", To: []string{"pki@example.com"}},
		"pagerduty": {Kind: "pagerduty", RoutingKey: "R0UT1NGKEY0TTR0000000000000000AB"},
		"teams":     {Kind: "teams", WebhookURL: "http://127.0.0.1:8080/workflows/x"},
	}
	kinds := notify.ChannelKinds()
	if len(kinds) != len(c) {
		t.Fatalf("ChannelKinds() = %v; this test covers %d", kinds, len(c))
	}
	for _, kind := range kinds {
		newChannel(t, "ch-"+kind, c[kind], map[string]string{"T": "xoxb-token-value"})
	}
}

// TestHTTPChannelsRefuseWhatTheyMustNotFollow runs against servers that
// answer in ways no vendor should: the channel's address and credential
// stay where they were configured.
func TestHTTPChannelsRefuseWhatTheyMustNotFollow(t *testing.T) {
	var followed []string
	elsewhere := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed = append(followed, r.URL.Path)
	}))
	defer elsewhere.Close()
	redirecting := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/stolen?sig=secret-in-location", http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	teams := notifytest.NewTeams(t)

	t.Run("a redirect is final and names no address", func(t *testing.T) {
		hookURL := redirecting.URL + "/workflows/abc/invoke?sig=signature-of-the-hook"
		ch := newChannel(t, "pki-teams", config.NotifyChannel{Kind: "teams", WebhookURL: hookURL, CAFile: caFileOf(t, redirecting)}, nil)
		_, err := send(t, ch, event(t, notify.RotationFailed))
		assertFinal(t, err)
		assertSays(t, err, "307", "no redirect")
		assertNoSecret(t, err.Error(), "signature-of-the-hook", "secret-in-location", elsewhere.URL)
		if len(followed) > 0 {
			t.Errorf("the channel followed the redirect to %v", followed)
		}
	})
	t.Run("a certificate from another CA is final", func(t *testing.T) {
		ch := newChannel(t, "pki-teams", config.NotifyChannel{Kind: "teams", WebhookURL: teams.WebhookURL()}, nil)
		_, err := send(t, ch, event(t, notify.RotationFailed))
		assertFinal(t, err)
		assertSays(t, err, "certificate", "ca_file")
		assertNoSecret(t, err.Error(), sigOf(t, teams.WebhookURL()))
		if len(teams.Messages()) != 0 {
			t.Error("teams got a message over a connection whose certificate did not check")
		}
	})
	t.Run("a server that is down is retried", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		hookURL := "http://" + addr + "/workflows/abc/invoke?sig=signature-of-the-hook"
		ch := newChannel(t, "pki-teams", config.NotifyChannel{Kind: "teams", WebhookURL: hookURL}, nil)
		_, err = send(t, ch, event(t, notify.RotationFailed))
		assertRetryable(t, err, 0)
		assertSays(t, err, "pki-teams", addr)
		assertNoSecret(t, err.Error(), "signature-of-the-hook", "/workflows/abc")
	})
	t.Run("a 400 is final and says what the vendor said", func(t *testing.T) {
		refusing := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"InvalidTemplate","message":"The card is not valid"}}`))
		}))
		defer refusing.Close()
		ch := newChannel(t, "pki-teams", config.NotifyChannel{Kind: "teams", WebhookURL: refusing.URL + "/x?sig=signature-of-the-hook", CAFile: caFileOf(t, refusing)}, nil)
		_, err := send(t, ch, event(t, notify.RotationFailed))
		assertFinal(t, err)
		assertSays(t, err, "400 Bad Request", "InvalidTemplate", "The card is not valid")
	})
}

// caFileOf writes the test server's certificate as a ca_file.
func caFileOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
