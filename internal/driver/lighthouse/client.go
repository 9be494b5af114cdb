package lighthouse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// apiBase is the path prefix of the API version the driver speaks.
const apiBase = "/api/v3.7"

// maxResponse bounds what the client reads of one answer.
const maxResponse = 4 << 20

// errNoPendingCSR is the appliance's answer to a CSR download when no CSR
// waits for its certificate.
var errNoPendingCSR = errors.New("the appliance has no pending certificate signing request")

// APIError is an error answer of the Lighthouse API: its HTTP status and
// the messages of its {"error": [...]} list.
type APIError struct {
	StatusCode int
	Messages   []Message
	// Body holds the start of an answer that was not Lighthouse's error
	// JSON (a proxy's page, say), for the error text.
	Body string
}

// Message is one entry of a Lighthouse error list.
type Message struct {
	Type  int    `json:"type"`
	Code  int    `json:"code"`
	Level int    `json:"level"`
	Text  string `json:"text"`
}

func (e *APIError) Error() string {
	if len(e.Messages) == 0 {
		if e.Body != "" {
			return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Body)
		}
		return fmt.Sprintf("HTTP %d", e.StatusCode)
	}
	texts := make([]string, len(e.Messages))
	for i, m := range e.Messages {
		texts[i] = fmt.Sprintf("%s (code %d)", m.Text, m.Code)
	}
	return fmt.Sprintf("%s (HTTP %d)", strings.Join(texts, "; "), e.StatusCode)
}

// hasCode reports whether the appliance answered with the given code.
func (e *APIError) hasCode(code int) bool {
	for _, m := range e.Messages {
		if m.Code == code {
			return true
		}
	}
	return false
}

// Lighthouse error codes the client acts on.
const (
	codeInvalidSession   = 43
	codeNotFound         = 29
	codePermission       = 47
	codeInvalidParameter = 48
	codeInvalidValue     = 50
)

// client is a small typed client for the Lighthouse REST API calls the
// driver makes. The session token travels only in the Authorization
// header, except in the one documented place it cannot avoid: the logout
// path. No URL, error or log line carries the password or the token.
type client struct {
	base     url.URL
	http     *http.Client
	username string
	password string
	token    string
	log      *slog.Logger
}

// httpsDetails is the body of GET /services/https that the driver reads.
// It names no "key" member: the reference's example shows one, and the
// driver never decodes it.
type httpsDetails struct {
	CommonName string `json:"common_name"`
	Cert       string `json:"cert"`
	ValidTo    string `json:"valid_to"`
	// CSR describes the pending request; absent (or null) when none is.
	CSR json.RawMessage `json:"csr"`
}

// pendingCSR reports whether the details show a pending request.
func (h *httpsDetails) pendingCSR() bool {
	return len(h.CSR) > 0 && string(h.CSR) != "null"
}

// systemVersion is the body of GET /system/version.
type systemVersion struct {
	RESTAPIVersion  string `json:"rest_api_version"`
	FirmwareVersion string `json:"firmware_version"`
}

// csrRequest is the https.csr object that asks for a new key and CSR.
type csrRequest struct {
	// CSR is "new".
	CSR        string `json:"csr"`
	CommonName string `json:"common_name"`
	// SANs is not in the v3.7 reference; later releases' CSR form takes
	// subject alternative names.
	SANs      []string `json:"subject_alternative_names,omitempty"`
	KeyLength int      `json:"key_length"`
	subjectFields
}

// login opens a session: POST /sessions.
func (c *client) login(ctx context.Context) error {
	var out struct {
		Session string `json:"session"`
		State   string `json:"state"`
	}
	body := map[string]string{"username": c.username, "password": c.password}
	if err := c.do(ctx, call{method: http.MethodPost, path: "/sessions", body: body, out: &out}); err != nil {
		return err
	}
	if out.Session == "" {
		return fmt.Errorf("the appliance opened no session (state %q)", out.State)
	}
	// The token goes into the logout path as it is.
	if strings.Trim(out.Session, "0123456789abcdefABCDEF-_") != "" {
		return errors.New("the appliance returned a session ID that is not a token")
	}
	c.token = out.Session
	return nil
}

// logout ends the session: DELETE /sessions/{id}.
func (c *client) logout(ctx context.Context) error {
	if c.token == "" {
		return nil
	}
	err := c.do(ctx, call{method: http.MethodDelete, path: "/sessions/" + c.token, display: "/sessions/{session}", auth: true})
	c.token = ""
	return err
}

// https reads the certificate details: GET /services/https.
func (c *client) https(ctx context.Context) (*httpsDetails, error) {
	var out struct {
		HTTPS httpsDetails `json:"https"`
	}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/services/https", out: &out, auth: true, renew: true}); err != nil {
		return nil, err
	}
	return &out.HTTPS, nil
}

// version reads the firmware and REST API versions: GET /system/version.
func (c *client) version(ctx context.Context) (*systemVersion, error) {
	var out struct {
		SystemVersion systemVersion `json:"system_version"`
	}
	if err := c.do(ctx, call{method: http.MethodGet, path: "/system/version", out: &out, auth: true, renew: true}); err != nil {
		return nil, err
	}
	return &out.SystemVersion, nil
}

// requestCSR asks the appliance for a new key and CSR: PUT /services/https
// with https.csr.csr "new".
func (c *client) requestCSR(ctx context.Context, r csrRequest) error {
	r.CSR = "new"
	body := map[string]any{"https": map[string]any{"csr": r}}
	return c.do(ctx, call{method: http.MethodPut, path: "/services/https", body: body, auth: true, renew: true})
}

// downloadCSR fetches the pending CSR file: GET /services/https?zip=true.
func (c *client) downloadCSR(ctx context.Context) ([]byte, error) {
	var out []byte
	err := c.do(ctx, call{method: http.MethodGet, path: "/services/https", query: url.Values{"zip": {"true"}}, out: &out, auth: true, renew: true})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound && apiErr.hasCode(codeNotFound) {
		return nil, errNoPendingCSR
	}
	return out, err
}

// uploadCertificate installs a chain for the pending CSR: PUT
// /services/https with https.cert.
func (c *client) uploadCertificate(ctx context.Context, chainPEM string) error {
	body := map[string]any{"https": map[string]string{"cert": chainPEM}}
	return c.do(ctx, call{method: http.MethodPut, path: "/services/https", body: body, auth: true, renew: true})
}

// call is one API request.
type call struct {
	method string
	path   string
	// display is the path as errors show it, for paths that hold a
	// secret; empty means path.
	display string
	query   url.Values
	body    any
	// out is a *[]byte for raw answers; JSON is decoded into anything
	// else; nil discards the answer.
	out any
	// auth sends the session token.
	auth bool
	// renew logs in again and resends the call once when the session has
	// expired: sessions may not outlive a web server restart.
	renew bool
}

// do sends one request and decodes its answer or error.
func (c *client) do(ctx context.Context, r call) error {
	if r.display == "" {
		r.display = r.path
	}
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("%s %s: encode: %w", r.method, r.display, err)
		}
	}
	status, answer, err := c.send(ctx, r, payload)
	if err != nil {
		return fmt.Errorf("%s %s: %w", r.method, r.display, err)
	}
	if status == http.StatusUnauthorized && r.renew && parseError(status, answer).hasCode(codeInvalidSession) {
		c.log.Debug("lighthouse: session expired; logging in again")
		if err := c.login(ctx); err != nil {
			return err
		}
		if status, answer, err = c.send(ctx, r, payload); err != nil {
			return fmt.Errorf("%s %s: %w", r.method, r.display, err)
		}
	}
	if status < 200 || status > 299 {
		apiErr := parseError(status, answer)
		// An answer that is not Lighthouse's (a proxy's page) is quoted;
		// whatever it echoes, the secrets stay out.
		if apiErr.Body != "" {
			apiErr.Body = c.quote(answer)
		}
		return fmt.Errorf("%s %s: %w", r.method, r.display, apiErr)
	}
	return c.decode(r, answer)
}

// decode reads a successful answer into r.out.
func (c *client) decode(r call, answer []byte) error {
	// The reference shows a "key" member in the certificate details.
	// Whatever the appliance sends, the driver keeps no private key: JSON
	// is decoded into types that name no key, raw bodies holding one are
	// refused, and the answer's bytes are wiped once read.
	defer clear(answer)
	holdsKey := bytes.Contains(answer, []byte("PRIVATE KEY"))
	switch dst := r.out.(type) {
	case nil:
	case *[]byte:
		if holdsKey {
			return fmt.Errorf("%s %s: the answer held a private key; the driver discarded it", r.method, r.display)
		}
		*dst = bytes.Clone(answer)
	default:
		if err := json.Unmarshal(answer, r.out); err != nil {
			return fmt.Errorf("%s %s: decode the answer: %w", r.method, r.display, err)
		}
	}
	if holdsKey {
		c.log.Warn("lighthouse: the appliance's answer held a private key; the driver ignored it", "call", r.method+" "+r.display)
	}
	return nil
}

// send performs one HTTP exchange. Transport errors are returned without
// the URL, which for the logout holds the session token.
func (c *client) send(ctx context.Context, r call, payload []byte) (int, []byte, error) {
	u := c.base
	u.Path += r.path
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return 0, nil, errors.New("cannot build the request")
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.auth {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, fmt.Errorf("read the answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

// parseError turns an error answer into an *APIError.
func parseError(status int, answer []byte) *APIError {
	e := &APIError{StatusCode: status}
	var list struct {
		Error []Message `json:"error"`
	}
	if json.Unmarshal(answer, &list) == nil && len(list.Error) > 0 {
		e.Messages = list.Error
		return e
	}
	e.Body = quote(answer)
	return e
}

// maxQuote bounds how much of an answer an error quotes.
const maxQuote = 200

// privateKeyPEM matches a PEM private key, also one cut short (the
// reference's examples end keys in "...").
var privateKeyPEM = regexp.MustCompile(`-----BEGIN[A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END[A-Z ]*PRIVATE KEY-----|$)`)

// quote renders the start of an answer for an error: private keys and the
// given secrets redacted, whitespace collapsed, at most maxQuote
// characters.
func quote(answer []byte, secrets ...string) string {
	if !printable(answer) {
		head := answer[:min(len(answer), 16)]
		return fmt.Sprintf("%d bytes that are not text, starting % x", len(answer), head)
	}
	text := privateKeyPEM.ReplaceAllString(string(answer), "[private key redacted]")
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	text = strings.Join(strings.Fields(strings.ToValidUTF8(text, "?")), " ")
	if runes := []rune(text); len(runes) > maxQuote {
		text = string(runes[:maxQuote]) + "…"
	}
	return text
}

// printable reports whether b is text: UTF-8 without control characters
// other than white space.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// quote is quote with the client's password and session token redacted.
func (c *client) quote(answer []byte) string {
	return quote(answer, c.password, c.token)
}
