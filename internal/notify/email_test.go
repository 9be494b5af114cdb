package notify_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/notify/notifytest"
	"github.com/ottr-go/ottr/internal/testenv"
	"github.com/ottr-go/ottr/internal/testenv/realserver"
)

const (
	smtpUser     = "ottr"
	smtpPassword = "smtp-pass-0ttr-never-shown"
)

// startSMTP starts Debian's aiosmtpd; the test fails, never skips, when it
// is not installed. Only go test -short skips it, without starting it.
func startSMTP(t *testing.T, cfg realserver.SMTPConfig) *realserver.SMTP {
	t.Helper()
	testenv.SkipInShort(t, testenv.RealServers)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := realserver.StartSMTP(ctx, cfg)
	if err != nil {
		t.Fatalf("start the SMTP server: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the SMTP server's log:\n%s", s.Log())
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// emailChannel is a channel that sends through s as smtpUser.
func emailChannel(t *testing.T, s *realserver.SMTP, tlsMode, password string) notify.Channel {
	return newChannel(t, "pki-mail", config.NotifyChannel{
		Kind: "email",
		SMTP: config.NotifySMTP{Host: s.Host, Port: s.Port, TLS: tlsMode, Username: smtpUser, Password: "env:SMTP_PASSWORD"},
		From: "ottr@example.com", To: []string{"pki@example.com", "oncall@example.com"},
		CAFile: s.CertPath,
	}, map[string]string{"SMTP_PASSWORD": password})
}

func TestEmailIsDeliveredOverSTARTTLSWithAuthAsTextAndHTML(t *testing.T) {
	s := startSMTP(t, realserver.SMTPConfig{Username: smtpUser, Password: smtpPassword})
	ch := emailChannel(t, s, "", smtpPassword)
	for _, e := range notifytest.SampleEvents(time.Now()) {
		t.Run(sampleName(e), func(t *testing.T) {
			receipt, got := sendOne(t, ch, e, func() []realserver.SMTPMessage { return messages(t, s) })
			if !strings.HasPrefix(receipt.Status, "250") || !strings.Contains(receipt.Detail, "pki@example.com") {
				t.Errorf("receipt %+v, want the server's 250 and the recipients", receipt)
			}
			if !got.TLS || got.Login != smtpUser {
				t.Errorf("the message came with TLS %v as %q, want over TLS as %q", got.TLS, got.Login, smtpUser)
			}
			if got.From != "ottr@example.com" || strings.Join(got.To, ",") != "pki@example.com,oncall@example.com" {
				t.Errorf("envelope from %q to %q", got.From, got.To)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
			if err != nil {
				t.Fatalf("the delivered message does not parse: %v\n%s", err, got.Data)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil {
				t.Fatal(err)
			}
			for header, want := range map[string]string{
				"Subject":        "[ottr] " + e.Summary,
				"From":           "<ottr@example.com>",
				"To":             "<pki@example.com>, <oncall@example.com>",
				"X-Ottr-Event":   string(e.Kind),
				"Auto-Submitted": "auto-generated",
			} {
				value := msg.Header.Get(header)
				if header == "Subject" {
					value = subject
				}
				if value != want {
					t.Errorf("%s: %q, want %q", header, value, want)
				}
			}
			if msg.Header.Get("Message-Id") == "" || msg.Header.Get("Date") == "" {
				t.Errorf("no Message-ID or Date: %v", msg.Header)
			}
			text, html := alternativeParts(t, msg)
			assertShows(t, text, append(wantShown(e), e.Link))
			assertShows(t, html, append(wantShown(e), `href="`+e.Link+`"`))
			if !strings.Contains(html, "<table") {
				t.Errorf("the HTML part has no table of facts:\n%s", html)
			}
		})
	}
}

func TestEmailOverImplicitTLS(t *testing.T) {
	s := startSMTP(t, realserver.SMTPConfig{TLS: "tls", Username: smtpUser, Password: smtpPassword})
	_, got := sendOne(t, emailChannel(t, s, "tls", smtpPassword), event(t, notify.RotationFailed), func() []realserver.SMTPMessage { return messages(t, s) })
	if !got.TLS || got.Login != smtpUser {
		t.Fatalf("the message came with TLS %v as %q, want over TLS as %s", got.TLS, got.Login, smtpUser)
	}
}

func TestEmailRefusesWhatWouldLeakOrNeverWork(t *testing.T) {
	testenv.SkipInShort(t, testenv.RealServers)
	t.Run("a server without STARTTLS", func(t *testing.T) {
		s := startSMTP(t, realserver.SMTPConfig{TLS: "none", Username: smtpUser, Password: smtpPassword})
		_, err := send(t, emailChannel(t, s, "starttls", smtpPassword), event(t, notify.RotationFailed))
		assertFinal(t, err)
		assertSays(t, err, "pki-mail", "STARTTLS", "unencrypted")
		assertNoSecret(t, err.Error(), smtpPassword)
		assertNothingDelivered(t, s)
	})
	t.Run("a wrong password", func(t *testing.T) {
		s := startSMTP(t, realserver.SMTPConfig{Username: smtpUser, Password: smtpPassword})
		wrong := "wrong-pass-0ttr-never-shown"
		_, err := send(t, emailChannel(t, s, "", wrong), event(t, notify.RotationFailed))
		assertFinal(t, err)
		assertSays(t, err, "pki-mail", "535")
		assertNoSecret(t, err.Error(), wrong, smtpPassword)
		assertNothingDelivered(t, s)
	})
	t.Run("a certificate from another CA", func(t *testing.T) {
		s := startSMTP(t, realserver.SMTPConfig{Username: smtpUser, Password: smtpPassword})
		ch := newChannel(t, "pki-mail", config.NotifyChannel{
			Kind: "email",
			SMTP: config.NotifySMTP{Host: s.Host, Port: s.Port, Username: smtpUser, Password: smtpPassword},
			From: "ottr@example.com", To: []string{"pki@example.com"},
		}, nil)
		_, err := send(t, ch, event(t, notify.RotationFailed))
		assertFinal(t, err)
		assertSays(t, err, "certificate", "ca_file")
		assertNoSecret(t, err.Error(), smtpPassword)
		assertNothingDelivered(t, s)
	})
	t.Run("a server that is down is retried", func(t *testing.T) {
		s := startSMTP(t, realserver.SMTPConfig{Username: smtpUser, Password: smtpPassword})
		ch := emailChannel(t, s, "", smtpPassword)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := send(t, ch, event(t, notify.RotationFailed))
		assertRetryable(t, err, 0)
		assertNoSecret(t, err.Error(), smtpPassword)
	})
}

func TestEmailWithoutTLSGoesOnlyToLoopback(t *testing.T) {
	s := startSMTP(t, realserver.SMTPConfig{TLS: "none", Username: smtpUser, Password: smtpPassword})
	_, got := sendOne(t, emailChannel(t, s, "none", smtpPassword), event(t, notify.RotationRecovered), func() []realserver.SMTPMessage { return messages(t, s) })
	if got.TLS || got.Login != smtpUser {
		t.Fatalf("the message came with TLS %v as %q, want without TLS as %s", got.TLS, got.Login, smtpUser)
	}
}

func assertNothingDelivered(t *testing.T, s *realserver.SMTP) {
	t.Helper()
	if n := len(messages(t, s)); n != 0 {
		t.Errorf("the server accepted %d messages", n)
	}
}

// messages are the messages s accepted.
func messages(t *testing.T, s *realserver.SMTP) []realserver.SMTPMessage {
	t.Helper()
	m, err := s.Messages()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// alternativeParts reads a multipart/alternative message's text/plain and
// text/html parts, decoded.
func alternativeParts(t *testing.T, msg *mail.Message) (text, html string) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		part, err := parts.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var body io.Reader = part
		if part.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body = quotedprintable.NewReader(part)
		}
		content, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		partType, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		types = append(types, partType)
		switch partType {
		case "text/plain":
			text = string(content)
		case "text/html":
			html = string(content)
		}
	}
	// The last part is the one a reader shows when it can.
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v, want text/plain then text/html", types)
	}
	return text, html
}
