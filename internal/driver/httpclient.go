package driver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NewHTTPClient returns the client a driver speaks HTTP to a device with.
// It follows no redirect, not even one to the same address: a device's
// 301, 302, 303, 307 or 308 ends the exchange with a *RedirectError, and
// nothing is sent to where it pointed. Credentials travel in request bodies
// (PAN-OS keygen, the BIG-IP and Lighthouse logins), which a 307 or 308
// sends again, and in headers that Go's client keeps on a redirect to
// another port or scheme of the same host name (Authorization) or to any
// host at all (X-PAN-KEY, X-F5-Auth-Token). No device API a driver speaks
// redirects its calls in normal operation, so a redirect means a wrong
// address or something in between, and the fix is the asset's address.
//
// timeout bounds each exchange; zero means none.
func NewHTTPClient(transport http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: refuseRedirects{next: transport},
		Timeout:   timeout,
		// Never reached: the transport already turned the redirect into
		// an error. Should that ever change, the 3xx answer comes back
		// as it is rather than being followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RedirectError is a device's answer that pointed elsewhere; the driver's
// HTTP client did not follow it. It names no query string and no
// credential, and is final: asking again gets the same answer.
type RedirectError struct {
	// StatusCode is the answer's HTTP status.
	StatusCode int
	// From is the address that answered, scheme://host:port.
	From string
	// To is where the answer pointed, scheme://host:port/path, or "" when
	// it named no usable Location.
	To string
}

func (e *RedirectError) Error() string {
	to := "without a usable Location"
	if e.To != "" {
		to = "pointing to " + e.To
	}
	return fmt.Sprintf("%s answered HTTP %d %s %s; ottr follows no redirect from a device, "+
		"so its credentials go only to the address configured for it: point the asset "+
		"(its address and port, or the route's endpoint) at the final address",
		e.From, e.StatusCode, http.StatusText(e.StatusCode), to)
}

// refuseRedirects turns redirect answers into a *RedirectError. It works
// below http.Client rather than in its CheckRedirect because the client
// puts the raw Location header, query and user info included, into the
// error CheckRedirect's error comes back in.
type refuseRedirects struct{ next http.RoundTripper }

func (t refuseRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || !isRedirect(resp.StatusCode) {
		return resp, err
	}
	// Read a little so the connection can be reused, as http.Client does
	// before following.
	_, _ = io.CopyN(io.Discard, resp.Body, 2<<10)
	_ = resp.Body.Close()
	redirect := &RedirectError{StatusCode: resp.StatusCode, From: origin(req.URL)}
	if to, err := resp.Location(); err == nil {
		redirect.To = shownLocation(to, req)
	}
	return nil, redirect
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport underneath.
func (t refuseRedirects) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// isRedirect reports whether http.Client would follow an answer with status.
func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// origin is u's scheme://host:port, the port filled in from the scheme.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

// maxShownPath bounds the path a RedirectError shows: a device chooses it.
const maxShownPath = 200

// shownLocation is to as an error may show it: scheme://host:port/path,
// without user info or query. A device may echo the request's path into
// its Location, and a logout names its session's token in the path, so
// every word the request carried in a header is masked too.
func shownLocation(to *url.URL, req *http.Request) string {
	path := to.EscapedPath()
	for _, values := range req.Header {
		for _, v := range values {
			for _, word := range strings.Fields(v) {
				if len(word) >= 8 {
					path = strings.ReplaceAll(path, word, "[redacted]")
				}
			}
		}
	}
	if len(path) > maxShownPath {
		path = path[:maxShownPath] + "…"
	}
	return origin(to) + path
}
