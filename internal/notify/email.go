package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Ports an SMTP channel uses when it sets none.
const (
	// DefaultSMTPPort is submission, for STARTTLS (and none).
	DefaultSMTPPort = 587
	// DefaultSMTPSPort is submissions, for implicit TLS.
	DefaultSMTPSPort = 465
)

// emailChannel sends a multipart/alternative message, plain text and HTML,
// through an SMTP server.
type emailChannel struct {
	name    string
	prefix  string
	host    string
	port    int
	from    string
	to      []string
	options []gomail.Option
	secrets secrets
	now     func() time.Time
}

var _ Channel = (*emailChannel)(nil)

func newEmail(s channelSettings) (Channel, error) {
	smtp := s.SMTP
	if smtp.Host == "" {
		return nil, s.errorf("smtp.host", "required: the SMTP server to send through")
	}
	if smtp.Port < 0 || smtp.Port > 65535 {
		return nil, s.errorf("smtp.port", "%d is not a TCP port", smtp.Port)
	}
	if err := checkAddress(s, "from", s.From); err != nil {
		return nil, err
	}
	if len(s.To) == 0 {
		return nil, s.errorf("to", "required: at least one address to send to")
	}
	for i, to := range s.To {
		if err := checkAddress(s, fmt.Sprintf("to[%d]", i), to); err != nil {
			return nil, err
		}
	}
	c := &emailChannel{name: s.name, prefix: s.errorPrefix(), host: smtp.Host, port: smtp.Port, from: s.From, to: s.To, now: s.Now}
	tlsConfig, err := s.tlsConfig(smtp.Host)
	if err != nil {
		return nil, err
	}
	c.options = []gomail.Option{gomail.WithTimeout(s.Timeout), gomail.WithTLSConfig(tlsConfig)}
	switch smtp.TLS {
	case "", "starttls":
		c.options = append(c.options, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		c.options = append(c.options, gomail.WithSSL())
		if c.port == 0 {
			c.port = DefaultSMTPSPort
		}
	case "none":
		if !isLoopback(smtp.Host) {
			return nil, s.errorf("smtp.tls", "none sends mail and the password unencrypted, so it is only for a server on loopback (localhost, 127.0.0.1, ::1); use starttls or tls for %s", smtp.Host)
		}
		c.options = append(c.options, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, s.errorf("smtp.tls", "%q: want starttls (the default), tls or none", smtp.TLS)
	}
	if c.port == 0 {
		c.port = DefaultSMTPPort
	}
	c.options = append(c.options, gomail.WithPort(c.port))
	switch {
	case smtp.Username == "" && smtp.Password != "":
		return nil, s.errorf("smtp.username", "required with a password")
	case smtp.Username != "":
		password, err := s.secret("smtp.password", smtp.Password)
		if err != nil {
			return nil, err
		}
		c.secrets = secrets{password}
		// Over TLS, the strongest mechanism both sides have. Without TLS
		// go-mail offers no mechanism that sends the password, so PLAIN
		// is asked for by name: the server is on loopback, checked above.
		auth := gomail.SMTPAuthAutoDiscover
		if smtp.TLS == "none" {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		c.options = append(c.options, gomail.WithSMTPAuth(auth), gomail.WithUsername(smtp.Username), gomail.WithPassword(password))
	}
	return c, nil
}

// checkAddress refuses what is not one e-mail address.
func checkAddress(s channelSettings, setting, address string) error {
	if address == "" {
		return s.errorf(setting, "required: an e-mail address")
	}
	if _, err := mail.ParseAddress(address); err != nil {
		return s.errorf(setting, "%q is not an e-mail address: %w", address, err)
	}
	return nil
}

func (c *emailChannel) Name() string { return c.name }
func (c *emailChannel) Kind() string { return "email" }

// Send delivers e to every address in to, in one message.
func (c *emailChannel) Send(ctx context.Context, e Event) (Receipt, error) {
	msg, err := c.message(e)
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: %w", c.prefix, err)
	}
	client, err := gomail.NewClient(c.host, c.options...)
	if err != nil {
		return Receipt{}, fmt.Errorf("%s: %w", c.prefix, c.secrets.scrub(err))
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return Receipt{}, c.sendError(err)
	}
	// go-mail keeps the reply to the end of DATA without its code, which
	// on success is always 250.
	return Receipt{Status: "250 " + msg.ServerResponse(), Detail: "to " + strings.Join(c.to, ", ")}, nil
}

// message is e as a multipart/alternative e-mail.
func (c *emailChannel) message(e Event) (*gomail.Msg, error) {
	m := render(e)
	msg := gomail.NewMsg()
	if err := msg.From(c.from); err != nil {
		return nil, err
	}
	if err := msg.To(c.to...); err != nil {
		return nil, err
	}
	msg.Subject("[ottr] " + m.Summary)
	msg.SetDateWithValue(c.now())
	msg.SetMessageID()
	msg.SetUserAgent("ottr")
	// RFC 3834: a machine wrote this, so no autoresponder answers it.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(WebhookEventHeader, string(e.Kind))
	if e.Key != "" {
		msg.SetGenHeader(WebhookDeliveryHeader, e.Key)
	}
	if m.Severity == severityCritical {
		msg.SetImportance(gomail.ImportanceHigh)
	}
	html, err := emailHTML(m)
	if err != nil {
		return nil, err
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.plainText())
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}

// sendError is a delivery the server refused or never took. SMTP says
// itself what passes: a 4xx reply is temporary, a 5xx permanent; a
// connection that failed may work later; a certificate that does not
// check, or a server without STARTTLS, will not.
func (c *emailChannel) sendError(err error) error {
	shown := fmt.Errorf("%s: smtp %s: %w", c.prefix, net.JoinHostPort(c.host, fmt.Sprint(c.port)), c.secrets.scrub(err))
	var (
		send    *gomail.SendError
		reply   *textproto.Error
		network net.Error
	)
	switch {
	case isCertificateError(err):
		return fmt.Errorf("%w (set ca_file to the CA that issued the server's certificate)", shown)
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return fmt.Errorf("%s: smtp %s offers no STARTTLS, and without it the password and the message would cross the network unencrypted: "+
			"use a server that offers it, or smtp.tls: tls for one that speaks TLS from the start", c.prefix, net.JoinHostPort(c.host, fmt.Sprint(c.port)))
	case errors.As(err, &send):
		if send.IsTemp() {
			return &RetryableError{Err: shown}
		}
		return shown
	case errors.As(err, &reply):
		if reply.Code >= 400 && reply.Code < 500 {
			return &RetryableError{Err: shown}
		}
		return shown
	case errors.As(err, &network), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &RetryableError{Err: shown}
	}
	return shown
}

// emailPage is the HTML part: the same words as the text part, as a table.
var emailPage = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; font-size: 14px; color: #222;">
<h2 style="margin: 0 0 8px 0; color: {{.Color}};">{{.Title}}</h2>
{{if ne .Summary .Title}}<p>{{.Summary}}</p>
{{end}}{{if .Facts}}<table style="border-collapse: collapse;">
{{range .Facts}}<tr><th style="text-align: left; padding: 2px 16px 2px 0; vertical-align: top;">{{.Label}}</th><td style="padding: 2px 0;">{{.Value}}</td></tr>
{{end}}</table>
{{end}}{{if .Error}}<h3 style="margin: 16px 0 4px 0;">Error</h3>
<pre style="white-space: pre-wrap; background: #f4f4f4; padding: 8px;">{{.Error}}</pre>
{{end}}{{range .Lists}}<h3 style="margin: 16px 0 4px 0;">{{.Title}}</h3>
<ul>{{range .Lines}}<li>{{.}}</li>{{end}}</ul>
{{end}}{{if .Link}}<p><a href="{{.Link}}" style="display: inline-block; padding: 8px 14px; background: #1d4ed8; color: #fff; text-decoration: none; border-radius: 4px;">{{.LinkText}}</a></p>
{{end}}<p style="color: #777; font-size: 12px;">{{.Footer}}</p>
</body></html>
`))

// emailColors are the title's colour by severity.
var emailColors = map[severity]string{
	severityCritical: "#b91c1c",
	severityError:    "#b91c1c",
	severityWarning:  "#b45309",
	severityInfo:     "#15803d",
}

func emailHTML(m message) (string, error) {
	type shownList struct {
		Title string
		Lines []string
	}
	page := struct {
		message
		Color  string
		Lists  []shownList
		Footer string
	}{message: m, Color: emailColors[m.Severity], Footer: m.footer()}
	for _, l := range m.Lists {
		page.Lists = append(page.Lists, shownList{Title: l.Title, Lines: l.lines()})
	}
	var b bytes.Buffer
	if err := emailPage.Execute(&b, page); err != nil {
		return "", fmt.Errorf("html part: %w", err)
	}
	return b.String(), nil
}
