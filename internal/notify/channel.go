package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/config"
)

// ChannelKinds are the kinds of channel, as written in a channel's kind.
var channelKinds = []string{"slack", "webhook", "email", "pagerduty", "teams"}

// ChannelKinds lists the kinds of channel ottr has.
func ChannelKinds() []string { return append([]string(nil), channelKinds...) }

// ChannelOptions are what building a channel needs besides its settings.
type ChannelOptions struct {
	// Resolve reads a secret reference (env:NAME, file:PATH, aws-sm:,
	// vault:); required for every setting that holds a secret. A channel
	// with a secret in a store calls it at each send (BuildChannels), so
	// it should cache what it reads from a store, as secret.Resolver does.
	Resolve func(ref string) (string, error)
	// HTTPClient, if set, is what HTTP channels send with (tests point it
	// at emulators); default: a client with the channel's timeout that
	// checks TLS against ca_file or the system's roots, and follows no
	// redirect.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what a channel wants to say besides its errors.
	Logger *slog.Logger
}

// DefaultChannelTimeout bounds one delivery when a channel sets no timeout.
const DefaultChannelTimeout = 10 * time.Second

// NewChannel builds the channel named name from its settings, checking
// them and resolving its secrets now, so a missing secret is found at
// start rather than at the first failure.
func NewChannel(name string, c config.NotifyChannel, o ChannelOptions) (Channel, error) {
	s := channelSettings{name: name, NotifyChannel: c, ChannelOptions: o}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if !slices.Contains(channelKinds, c.Kind) {
		what := fmt.Sprintf("kind %q: no such kind of channel", c.Kind)
		if c.Kind == "" {
			what = "required"
		}
		return nil, s.errorf("kind", "%s (ottr has: %s)", what, strings.Join(channelKinds, ", "))
	}
	if err := s.checkSettingsApply(); err != nil {
		return nil, err
	}
	if s.Timeout < 0 {
		return nil, s.errorf("timeout", "%s is negative; leave it out for %s", s.Timeout, DefaultChannelTimeout)
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultChannelTimeout
	}
	switch c.Kind {
	case "slack":
		return newSlack(s)
	case "webhook":
		return newWebhook(s)
	case "email":
		return newEmail(s)
	case "pagerduty":
		return newPagerDuty(s)
	default:
		return newTeams(s)
	}
}

// channelSettings are one channel's settings and options, with what every
// kind needs to check and use them.
type channelSettings struct {
	name string
	config.NotifyChannel
	ChannelOptions
}

// errorf is an error about one setting, named as it is in ottr.yaml.
func (s channelSettings) errorf(setting, format string, args ...any) error {
	return fmt.Errorf("notifications.channels.%s.%s: %w", s.name, setting, fmt.Errorf(format, args...))
}

// settingKinds are the settings that belong to some kinds only. A setting
// given to another kind is a mistake, most likely a channel copied from
// another, and is refused rather than ignored.
var settingKinds = []struct {
	setting string
	given   func(config.NotifyChannel) bool
	kinds   []string
}{
	{"token", func(c config.NotifyChannel) bool { return c.Token != "" }, []string{"slack"}},
	{"channel", func(c config.NotifyChannel) bool { return c.Channel != "" }, []string{"slack"}},
	{"webhook_url", func(c config.NotifyChannel) bool { return c.WebhookURL != "" }, []string{"slack", "teams"}},
	{"url", func(c config.NotifyChannel) bool { return c.URL != "" }, []string{"slack", "webhook"}},
	{"secret", func(c config.NotifyChannel) bool { return c.Secret != "" }, []string{"webhook"}},
	{"smtp", func(c config.NotifyChannel) bool { return c.SMTP != config.NotifySMTP{} }, []string{"email"}},
	{"from", func(c config.NotifyChannel) bool { return c.From != "" }, []string{"email"}},
	{"to", func(c config.NotifyChannel) bool { return len(c.To) > 0 }, []string{"email"}},
	{"routing_key", func(c config.NotifyChannel) bool { return c.RoutingKey != "" }, []string{"pagerduty"}},
	{"events_url", func(c config.NotifyChannel) bool { return c.EventsURL != "" }, []string{"pagerduty"}},
}

func (s channelSettings) checkSettingsApply() error {
	for _, sk := range settingKinds {
		if sk.given(s.NotifyChannel) && !slices.Contains(sk.kinds, s.Kind) {
			return s.errorf(sk.setting, "not a setting of a %s channel (it is %s's)", s.Kind, strings.Join(sk.kinds, " and "))
		}
	}
	return nil
}

// secret resolves the reference in setting; an empty reference is
// "required", and so is a reference that reads as empty.
func (s channelSettings) secret(setting, ref string) (string, error) {
	if ref == "" {
		return "", s.errorf(setting, "required")
	}
	if s.Resolve == nil {
		return "", s.errorf(setting, "no secret resolver to read it with")
	}
	value, err := s.Resolve(ref)
	if err != nil {
		return "", s.errorf(setting, "%w", err)
	}
	if value == "" {
		return "", s.errorf(setting, "the secret it names is empty")
	}
	return value, nil
}

// endpoint checks an address a channel posts to: https, or http to a
// loopback address only, where nothing on the network can read it. The
// address is never shown: Slack's and Teams' webhook addresses are their
// credentials, and a receiver's may carry a token.
func (s channelSettings) endpoint(setting, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	const notShown = " (the value is not shown: it may hold a credential)"
	switch {
	case err != nil, u.Host == "" || u.Opaque != "":
		return nil, s.errorf(setting, "not an absolute http(s) URL"+notShown)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return nil, s.errorf(setting, "http:// sends the message unencrypted: use https://, or http:// only to a loopback address"+notShown)
	default:
		return nil, s.errorf(setting, "scheme %q: want https://", u.Scheme)
	}
	if u.Fragment != "" {
		return nil, s.errorf(setting, "a URL with a #fragment; the fragment is never sent, leave it out"+notShown)
	}
	return u, nil
}

// isLoopback reports whether host is this machine by its name or address,
// without asking DNS.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// rootCAs reads ca_file; nil (the system's roots) when none is set.
func (s channelSettings) rootCAs() (*x509.CertPool, error) {
	if s.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, s.errorf("ca_file", "%w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, s.errorf("ca_file", "%s holds no PEM certificate", s.CAFile)
	}
	return pool, nil
}

// tlsConfig checks a server's certificate against ca_file or the system's
// roots.
func (s channelSettings) tlsConfig(serverName string) (*tls.Config, error) {
	roots, err := s.rootCAs()
	if err != nil {
		return nil, err
	}
	return &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}

// httpClient is the channel's client: ChannelOptions.HTTPClient when set,
// otherwise one of its own with the channel's timeout and TLS roots that
// follows no redirect. A redirect would carry the message, and the headers
// that authenticate it, to an address nobody configured; the 3xx answer
// comes back instead, and poster.post refuses it.
func (s channelSettings) httpClient() (*http.Client, error) {
	if s.HTTPClient != nil {
		return s.HTTPClient, nil
	}
	tlsConfig, err := s.tlsConfig("")
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	return &http.Client{
		Transport:     transport,
		Timeout:       s.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// poster sends a channel's JSON to its endpoint and tells the answer
// apart: accepted, refused for now (a *RetryableError) or refused for good.
// Its errors show the endpoint as scheme://host only, and never a secret.
type poster struct {
	// prefix starts every error: the channel's kind and name.
	prefix string
	client *http.Client
	url    string
	// shown is the endpoint as errors show it.
	shown   string
	secrets secrets
	now     func() time.Time
}

// newPoster builds the poster of a channel that posts to u; secrets are
// the values its errors must never show (urlSecrets(u) when the address
// itself is a credential).
func (s channelSettings) newPoster(u *url.URL, secrets secrets) (*poster, error) {
	client, err := s.httpClient()
	if err != nil {
		return nil, err
	}
	return &poster{
		prefix:  s.errorPrefix(),
		client:  client,
		url:     u.String(),
		shown:   u.Scheme + "://" + u.Host,
		secrets: secrets,
		now:     s.Now,
	}, nil
}

// postToSecretURL builds the poster of a channel whose address, read from
// the reference in setting, is a credential itself (Slack's and Teams'
// webhooks, and perhaps a receiver's); more are its other secrets.
func (s channelSettings) postToSecretURL(setting, ref string, more ...string) (*poster, error) {
	raw, err := s.secret(setting, ref)
	if err != nil {
		return nil, err
	}
	u, err := s.endpoint(setting, raw)
	if err != nil {
		return nil, err
	}
	return s.newPoster(u, append(urlSecrets(u), more...))
}

// errorPrefix starts a delivery error: the layer, the kind and the name.
func (s channelSettings) errorPrefix() string {
	return fmt.Sprintf("notify: %s channel %s", s.Kind, s.name)
}

// answer is what an endpoint answered with a 2xx.
type answer struct {
	Status string
	Header http.Header
	Body   []byte
}

// maxAnswer bounds the answer read: vendors answer with a few hundred
// bytes, and a proxy's error page says nothing more past this.
const maxAnswer = 64 << 10

// post sends body as JSON with header added.
func (p *poster) post(ctx context.Context, body []byte, header http.Header) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return answer{}, fmt.Errorf("%s: %s", p.prefix, p.secrets.redact(err.Error()))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "ottr")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return answer{}, p.sendError(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return answer{}, &RetryableError{Err: fmt.Errorf("%s: POST %s: read the answer: %w", p.prefix, p.shown, p.secrets.scrub(err))}
	}
	a := answer{Status: resp.Status, Header: resp.Header, Body: got}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return a, nil
	}
	return a, p.refused(resp.StatusCode, resp.Status, resp.Header, got)
}

// sendError is a request that got no answer: the network, the timeout or
// TLS. http.Client's *url.Error names the whole request URL, a webhook's
// credential, so only what it wraps is kept. Only a certificate that does
// not check is final: it checks no better next time.
func (p *poster) sendError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	err = fmt.Errorf("%s: POST %s: %w", p.prefix, p.shown, p.secrets.scrub(err))
	if isCertificateError(err) {
		return fmt.Errorf("%w (set ca_file to the CA that issued the server's certificate)", err)
	}
	return &RetryableError{Err: err}
}

// isCertificateError reports whether err is a TLS certificate that did not
// check.
func isCertificateError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid)
}

// refused is the error for a non-2xx answer: 408, 429 and 5xx are worth
// trying again, after Retry-After when the answer gives one; the rest are
// final.
func (p *poster) refused(code int, status string, header http.Header, body []byte) error {
	err := fmt.Errorf("%s: POST %s answered %s%s", p.prefix, p.shown, status, p.said(body))
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		return &RetryableError{After: retryAfter(header.Get("Retry-After"), p.now()), Err: err}
	case code >= 300 && code < 400:
		return fmt.Errorf("%w; ottr follows no redirect, so the message and its credentials go only to the configured address: set it to the address that answers", err)
	}
	return err
}

// said is what an answer's body says, for an error: the vendor's message,
// short and without secrets, or nothing.
func (p *poster) said(body []byte) string {
	msg := vendorMessage(body)
	if msg == "" {
		return ""
	}
	return ": " + truncate(p.secrets.redact(msg), 300)
}

// vendorMessage finds the message in a vendor's error answer: Slack's
// webhooks answer a word in plain text, Slack's Web API {"error": ...},
// Teams {"error": {"code", "message"}}, PagerDuty {"message", "errors"}.
// An HTML page (a proxy's) says nothing worth showing.
func vendorMessage(body []byte) string {
	text := strings.TrimSpace(string(body))
	if text == "" || strings.HasPrefix(text, "<") {
		return ""
	}
	var doc struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Errors  []string        `json:"errors"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return strings.Join(strings.Fields(text), " ")
	}
	var parts []string
	var word string
	var nested struct{ Code, Message string }
	switch {
	case json.Unmarshal(doc.Error, &word) == nil && word != "":
		parts = append(parts, word)
	case json.Unmarshal(doc.Error, &nested) == nil:
		parts = append(parts, strings.TrimSpace(nested.Code+" "+nested.Message))
	}
	if doc.Message != "" {
		parts = append(parts, doc.Message)
	}
	parts = append(parts, doc.Errors...)
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), ": ")
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date;
// zero when absent or past.
func retryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if seconds, err := strconv.Atoi(strings.TrimSpace(value)); err == nil {
		return max(time.Duration(seconds)*time.Second, 0)
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(at.Sub(now), 0)
	}
	return 0
}

// secrets are values no error may show.
type secrets []string

// minSecretLen keeps short values out of redaction: replacing "a" or "42"
// everywhere would garble an error without hiding anything.
const minSecretLen = 6

// urlSecrets are the parts of an address that may be its credential: the
// path (Slack's webhook), the query and each of its values (Teams' sig),
// and any user info.
func urlSecrets(u *url.URL) secrets {
	s := secrets{u.String(), u.EscapedPath(), u.Path, u.RawQuery}
	for _, values := range u.Query() {
		s = append(s, values...)
	}
	if u.User != nil {
		s = append(s, u.User.String())
		if password, ok := u.User.Password(); ok {
			s = append(s, password)
		}
	}
	return s
}

// redact replaces every secret in text, longest first so a secret that
// contains another goes whole.
func (s secrets) redact(text string) string {
	sorted := slices.SortedFunc(slices.Values(s), func(a, b string) int { return len(b) - len(a) })
	for _, secret := range sorted {
		if len(secret) >= minSecretLen && secret != "/" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return text
}

// scrub returns err when its text holds no secret, so callers can still
// test it with errors.Is; otherwise only its redacted text.
func (s secrets) scrub(err error) error {
	text := err.Error()
	if redacted := s.redact(text); redacted != text {
		return errors.New(redacted)
	}
	return err
}
