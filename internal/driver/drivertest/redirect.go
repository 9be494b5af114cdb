package drivertest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
)

// Endpoint is an HTTPS server the suite starts in a device's place, for
// Harness.AimAt to point the device's target at.
type Endpoint struct {
	// Host and Port are where it listens: 127.0.0.1 and a free port.
	Host string
	Port int
	// URL is https://Host:Port.
	URL string
	// CAFile is a PEM file holding the root its certificate chains to.
	// The certificate names the asset's names, localhost and 127.0.0.1.
	CAFile string
}

// AimByAPIPort is a Harness.AimAt for drivers that reach their device at
// the asset's ip_address and the route's api_port, and trust the route's
// ca_file.
func AimByAPIPort(target driver.Target, e Endpoint) driver.Target {
	options := make(map[string]any, len(target.Options)+2)
	maps.Copy(options, target.Options)
	options["api_port"] = e.Port
	options["ca_file"] = e.CAFile
	target.Options = options
	target.Asset.IPAddress = e.Host
	return target
}

// redirectCase is one place a device's redirect points to.
type redirectCase struct {
	name string
	// to is the origin and path prefix of the Location, given the
	// device's own URL and those of the two other listeners.
	to func(device, otherTLS, otherPlain *url.URL) url.URL
}

var redirectCases = []redirectCase{
	{"to another port", func(_, other, _ *url.URL) url.URL { return *other }},
	{"to another host", func(_, other, _ *url.URL) url.URL {
		return url.URL{Scheme: other.Scheme, Host: net.JoinHostPort("localhost", other.Port())}
	}},
	{"from HTTPS to plain HTTP", func(_, _, plain *url.URL) url.URL { return *plain }},
	{"to another path on the same address", func(device, _, _ *url.URL) url.URL {
		return url.URL{Scheme: device.Scheme, Host: device.Host, Path: "/moved"}
	}},
}

// RunRedirects checks that no credential follows a redirect. In the
// device's place, an HTTPS server with a certificate the driver trusts
// answers every request with 307 to another address: another port, another
// host, plain HTTP, another path on the same address. The driver must fail
// with the shared client's *driver.RedirectError, whose text names the
// device, the status and where it pointed without the Location's query or
// user info; and it must send nothing more: the other addresses see no
// connection at all (so no password, API key or token), the device no
// second request. Both other addresses would be accepted by a driver that
// follows: the HTTPS one presents a certificate for the device's names.
//
// Run calls it; a driver whose first call differs with its options (an SSM
// instance found by its tag or by its ID) runs it once more for each.
func RunRedirects(t *testing.T, h Harness) {
	t.Helper()
	if h.Driver == nil || h.NewDevice == nil || h.AimAt == nil {
		t.Fatal("drivertest: RunRedirects needs Driver, NewDevice and AimAt")
	}
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "redirect-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, rc := range redirectCases {
		t.Run(rc.name, func(t *testing.T) { checkRedirect(t, h, ca, caFile, rc) })
	}
}

func (s *suite) redirects(t *testing.T) {
	if s.h.AimAt == nil {
		t.Skip("the harness has no AimAt: the driver speaks no HTTP")
	}
	RunRedirects(t, s.h)
}

func checkRedirect(t *testing.T, h Harness, ca *TestCA, caFile string, rc redirectCase) {
	ctx := checkContext(t)
	d := h.NewDevice(t)
	// Valid for every address the suite starts, so that a driver that
	// follows a redirect gets as far as sending its request.
	cert, err := ca.Certificate(ctx, append(d.Target.Asset.Names(), "localhost", "127.0.0.1", "::1")...)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{d.Credentials.Password, url.QueryEscape(d.Credentials.Password)}

	otherTLS := startWitness(t, cert, secrets)
	otherPlain := startWitness(t, nil, secrets)
	marker := randomMarker(t)
	device := &witness{secrets: secrets}
	// pointedTo is where the device points a request for path; the error
	// shows it as it is.
	pointedTo := func(path string) url.URL {
		to := rc.to(device.url(), otherTLS.url(), otherPlain.url())
		to.Path += path
		return to
	}
	device.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := device.record(r); n > 1 {
			// Already wrong; ending here keeps a driver that follows
			// redirects on the same address from looping.
			http.Error(w, "drivertest: a request after a redirect", http.StatusConflict)
			return
		}
		to := pointedTo(r.URL.Path)
		// The Location carries what an error must never show: user info
		// and a query string.
		to.User = url.UserPassword("ottr", marker)
		to.RawQuery = url.Values{"token": {marker}}.Encode()
		w.Header().Set("Location", to.String())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	device.start(t, cert)
	endpoint := Endpoint{Host: device.url().Hostname(), URL: device.srv.URL, CAFile: caFile}
	endpoint.Port, _ = strconv.Atoi(device.url().Port())

	err = openAndRead(ctx, h.Driver, h.AimAt(d.Target, endpoint), d.Credentials)
	if err == nil {
		t.Fatal("the driver worked with a device that answers every request with a redirect")
	}
	t.Logf("the driver's error: %v", err)
	msg := err.Error()
	paths := device.paths()
	if len(paths) != 1 {
		t.Errorf("the device got %d requests (%s), want exactly 1: after a redirect the driver must send nothing (%v)", len(paths), device.describe(), err)
	}
	for name, w := range map[string]*witness{"HTTPS": otherTLS, "plain HTTP": otherPlain} {
		if n := w.conns.Load(); n != 0 {
			t.Errorf("the other %s address got %d connections, want none; it saw %s", name, n, w.describe())
		}
	}
	var redirect *driver.RedirectError
	if !errors.As(err, &redirect) {
		t.Errorf("the error does not come from driver.NewHTTPClient's refusal (a *driver.RedirectError): %v", err)
	}
	wants := []string{device.srv.URL, "HTTP 307"}
	if len(paths) > 0 {
		to := pointedTo(paths[0])
		wants = append(wants, to.String())
	}
	for _, want := range wants {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}
	if d.Credentials.Password != "" && strings.Contains(msg, d.Credentials.Password) {
		t.Errorf("the error carries the password: %v", err)
	}
	if strings.Contains(msg, marker) {
		t.Errorf("the error carries the Location's user info or query (%s): %v", marker, err)
	}
}

// openAndRead opens a session and, for drivers that log in lazily, reads
// the current certificate; it returns the first error.
func openAndRead(ctx context.Context, drv driver.Driver, target driver.Target, creds driver.Credentials) error {
	sess, err := drv.Open(ctx, target, creds)
	if err != nil {
		return err
	}
	defer func() { _ = sess.Close() }()
	_, err = sess.CurrentCertificate(ctx)
	return err
}

func randomMarker(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "ottr-redirect-" + hex.EncodeToString(b)
}

// witness is a listener that counts the connections it accepts and keeps
// what each request carried.
type witness struct {
	srv     *httptest.Server
	conns   atomic.Int32
	secrets []string

	mu sync.Mutex
	// seen describes each request, with its path in paths.
	seen, seenPaths []string
}

// startWitness starts a witness that answers 200 to everything: over TLS
// with cert, or plain HTTP when cert is nil.
func startWitness(t *testing.T, cert *tls.Certificate, secrets []string) *witness {
	w := &witness{secrets: secrets}
	w.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _ = w.record(r) }))
	w.start(t, cert)
	return w
}

func (w *witness) start(t *testing.T, cert *tls.Certificate) {
	w.srv.Listener = &countingListener{Listener: w.srv.Listener, conns: &w.conns}
	if cert == nil {
		w.srv.Start()
	} else {
		w.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
		w.srv.StartTLS()
	}
	t.Cleanup(w.srv.Close)
}

func (w *witness) url() *url.URL {
	u, _ := url.Parse(w.srv.URL)
	return u
}

// record keeps a request's method, path, header names and whether it
// carried a secret, and returns how many requests it has kept.
func (w *witness) record(r *http.Request) int {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	carried := string(body) + " " + r.URL.String()
	for _, values := range r.Header {
		carried += " " + strings.Join(values, " ")
	}
	line := r.Method + " " + r.URL.Path + " (headers " + strings.Join(slices.Sorted(maps.Keys(r.Header)), ", ") + ")"
	for _, s := range w.secrets {
		if s != "" && strings.Contains(carried, s) {
			line += " carrying the password"
			break
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, line)
	w.seenPaths = append(w.seenPaths, r.URL.Path)
	return len(w.seen)
}

func (w *witness) paths() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.seenPaths)
}

func (w *witness) describe() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) == 0 {
		return "no complete request"
	}
	return strings.Join(w.seen, "; ")
}

// countingListener counts accepted connections: a driver that follows a
// redirect is caught even when it gives up before sending a request.
type countingListener struct {
	net.Listener
	conns *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.conns.Add(1)
	}
	return c, err
}
