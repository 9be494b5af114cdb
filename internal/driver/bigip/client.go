package bigip

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// client is a small typed client for the iControl REST calls the driver
// makes. It logs in once with a username and password, then sends the
// token in X-F5-Auth-Token: the password is never sent again and never
// appears in a URL.
type client struct {
	base     string // https://host:port
	http     *http.Client
	username string
	password string
	provider string
	log      *slog.Logger

	mu    sync.Mutex
	token string
}

// apiError is an error answer from the device. Message is F5's own
// "message", e.g. "01020036:3: The requested ClientSSL Profile
// (/Common/x) was not found.".
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
}

// isStatus reports whether err is an answer from the device with status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// errorBody is F5's error shape, for both /mgmt/tm and /mgmt/shared.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Paths of restjavad's own workers.
const (
	loginPath   = "/mgmt/shared/authn/login"
	tokensPath  = "/mgmt/shared/authz/tokens/"
	uploadsPath = "/mgmt/shared/file-transfer/uploads/"
	// coordinationHeader adds a request to a transaction.
	coordinationHeader = "X-F5-REST-Coordination-Id"
	tokenHeader        = "X-F5-Auth-Token"
)

func newClient(addr string, tlsConfig *tls.Config, timeout time.Duration, username, password, provider string, log *slog.Logger) *client {
	dialer := &net.Dialer{Timeout: 20 * time.Second, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 20 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &client{
		base:     "https://" + addr,
		http:     driver.NewHTTPClient(transport, timeout),
		username: username,
		password: password,
		provider: provider,
		log:      log,
	}
}

// login gets a token. The password travels only in this request's body.
func (c *client) login(ctx context.Context) error {
	body := map[string]string{"username": c.username, "password": c.password, "loginProviderName": c.provider}
	var res struct {
		Token struct {
			Token string `json:"token"`
		} `json:"token"`
	}
	if err := c.send(ctx, request{method: http.MethodPost, path: loginPath, body: body, out: &res, noAuth: true}); err != nil {
		return fmt.Errorf("log in as %s (loginProviderName %s): %w", c.username, c.provider, err)
	}
	if res.Token.Token == "" {
		return fmt.Errorf("log in as %s: the device returned no token", c.username)
	}
	c.mu.Lock()
	c.token = res.Token.Token
	c.mu.Unlock()
	return nil
}

// logout deletes the token on the device, so it cannot be used again.
func (c *client) logout(ctx context.Context) error {
	c.mu.Lock()
	token := c.token
	c.token = ""
	c.mu.Unlock()
	if token == "" {
		return nil
	}
	// F5 names the token to delete in the path. The token is dead once
	// this succeeds, and the path is never logged or put in an error.
	err := c.send(ctx, request{
		method: http.MethodDelete, path: tokensPath + token, display: tokensPath + "<token>",
		tokenOverride: token, noRelogin: true,
	})
	c.http.CloseIdleConnections()
	if isStatus(err, http.StatusUnauthorized) || isStatus(err, http.StatusNotFound) {
		// The token expired or is gone already: nothing left to revoke.
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the session token: %w", err)
	}
	return nil
}

// request is one API call.
type request struct {
	method string
	path   string
	// display replaces path in errors and logs when path holds a secret.
	display string
	// body is marshalled to JSON unless raw is set.
	body any
	raw  []byte
	// header adds request headers (Content-Range, coordination id).
	header http.Header
	out    any
	// noAuth: the login itself.
	noAuth bool
	// noRelogin: do not log in again on 401 (token deletion).
	noRelogin bool
	// tokenOverride authenticates with this token instead of c.token.
	tokenOverride string
}

// retries of an idempotent request after a transport error: httpd restarts
// when its certificate changes, dropping connections for a moment.
const getAttempts = 4

// send runs r. A 401 (token expired) leads to one new login and one retry;
// a GET that fails to reach the device is retried with backoff.
func (c *client) send(ctx context.Context, r request) error {
	if r.display == "" {
		r.display = r.path
	}
	payload := r.raw
	if payload == nil && r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return fmt.Errorf("%s %s: encode: %w", r.method, r.display, err)
		}
	}
	relogged := false
	for attempt := 1; ; attempt++ {
		status, respBody, err := c.roundTrip(ctx, r, payload)
		if err != nil {
			// A redirect is an answer, not a lost connection: asking
			// again gets it again.
			var redirect *driver.RedirectError
			if r.method == http.MethodGet && attempt < getAttempts && ctx.Err() == nil && !errors.As(err, &redirect) {
				c.log.Debug("bigip: retrying after a transport error", "path", r.display, "attempt", attempt, "error", err)
				if werr := sleep(ctx, backoff(attempt)); werr != nil {
					return fmt.Errorf("%s %s: %w", r.method, r.display, werr)
				}
				continue
			}
			return fmt.Errorf("%s %s: %w", r.method, r.display, c.scrub(err))
		}
		if status == http.StatusUnauthorized && !r.noAuth && !r.noRelogin && !relogged {
			// The token expired (default lifetime 20 minutes) during a
			// long rotation: log in again once.
			relogged = true
			if err := c.login(ctx); err != nil {
				return err
			}
			continue
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("%s %s: %w", r.method, r.display, c.errorFrom(status, respBody))
		}
		if r.out != nil && len(bytes.TrimSpace(respBody)) > 0 {
			if err := json.Unmarshal(respBody, r.out); err != nil {
				return fmt.Errorf("%s %s: decode the answer: %w", r.method, r.display, err)
			}
		}
		return nil
	}
}

func (c *client) roundTrip(ctx context.Context, r request, payload []byte) (int, []byte, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base+r.path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil && r.raw == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if !r.noAuth {
		token := r.tokenOverride
		if token == "" {
			c.mu.Lock()
			token = c.token
			c.mu.Unlock()
		}
		req.Header.Set(tokenHeader, token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, respBody, nil
}

// errorFrom makes an apiError of an error answer, keeping F5's message.
func (c *client) errorFrom(status int, body []byte) error {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Message != "" {
		return &apiError{Status: status, Message: c.scrubText(eb.Message)}
	}
	text := http.StatusText(status)
	if len(bytes.TrimSpace(body)) > 0 {
		text = abbreviate(string(body))
	}
	return &apiError{Status: status, Message: c.scrubText(text)}
}

// scrubText removes the password and the token from text the device or the
// network stack produced, should either ever echo them.
func (c *client) scrubText(s string) string {
	c.mu.Lock()
	token := c.token
	c.mu.Unlock()
	for _, secret := range []string{c.password, token} {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "<redacted>")
		}
	}
	return s
}

func (c *client) scrub(err error) error {
	if s := c.scrubText(err.Error()); s != err.Error() {
		return errors.New(s)
	}
	return err
}

// upload sends data to /var/config/rest/downloads/<name> in chunks, each
// with its Content-Range, and returns the file's path on the device.
func (c *client) upload(ctx context.Context, name string, data []byte) (string, error) {
	const chunk = 512 << 10
	if len(data) == 0 {
		return "", fmt.Errorf("upload %s: nothing to upload", name)
	}
	var res struct {
		LocalFilePath string `json:"localFilePath"`
	}
	for start := 0; start < len(data); start += chunk {
		end := min(start+chunk, len(data))
		h := http.Header{}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Range", fmt.Sprintf("%d-%d/%d", start, end-1, len(data)))
		if err := c.send(ctx, request{method: http.MethodPost, path: uploadsPath + name, raw: data[start:end], header: h, out: &res}); err != nil {
			return "", err
		}
	}
	if res.LocalFilePath == "" {
		res.LocalFilePath = "/var/config/rest/downloads/" + name
	}
	return res.LocalFilePath, nil
}

// backoff is the wait before retry or poll number attempt: 100ms doubling,
// at most 5s.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond << min(attempt-1, 6)
	return min(d, 5*time.Second)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// tmPath is the URL path of an object of a /mgmt/tm collection:
// /Common/x.crt -> /mgmt/tm/sys/crypto/cert/~Common~x.crt.
func tmPath(collection, fullPath string) string {
	return "/mgmt/tm/" + collection + "/" + strings.ReplaceAll(fullPath, "/", "~")
}

// txHeader adds a request to transaction id (0: none).
func txHeader(id int64) http.Header {
	if id == 0 {
		return nil
	}
	return http.Header{coordinationHeader: []string{strconv.FormatInt(id, 10)}}
}
