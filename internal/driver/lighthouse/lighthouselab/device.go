// Package lighthouselab emulates an Opengear Lighthouse's REST API v3.7, for
// `ottr lab` and the lighthouse driver's tests: session login and logout
// (/sessions), the firmware version (/system/version), and the HTTPS
// certificate service (/services/https) with its certificate signing request
// generated on the device, the CSR download (?zip=true) and the certificate
// upload.
//
// Paths, verbs, JSON shapes and error bodies follow the published RAML
// specification of API v3.7 (opengear/oglhclient,
// og-rest-api-specification-v3-7.raml: {"error": [{"type", "code", "text",
// "args", "level"}]}). Where that document is silent the emulator can
// answer each way a real appliance might, so the driver is tested against
// all of them:
//
//   - the CSR download: the RAML says only that ?zip=true returns "a CSR
//     file" instead of the JSON details. Config.CSRDownload picks a zip
//     archive holding the request (the default, as the flag's name says), a
//     bare PEM request, or the JSON details of a release that ignores the
//     flag.
//   - the CSR's subject alternative names: no SAN field is in the v3.7 RAML;
//     later releases' CSR form has SANs ("subject_alternative_names" here).
//     Config.NoSANField refuses the field as the v3.7 API would.
//   - chains in https.cert: the RAML's example holds one certificate.
//     Config.KeepLeafOnly keeps only the first certificate of an upload.
//   - the web server restart that follows a certificate upload: the
//     listener really goes away for a random time between Config.RestartMin
//     and Config.RestartMax, refusing connections, then comes back on the
//     same address serving the new certificate.
//
// The API and the certificate being rotated share one TLS listener, as on
// the appliance: Addr and TLSAddr are the same. The private keys are made
// here, in Go, and never leave: the published example of GET
// /services/https shows a "key" member, which this emulator never sends;
// every response is scanned for a PEM private key (PrivateKeyExported).
package lighthouselab

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// APIBase is the path prefix of every API call.
const APIBase = "/api/v3.7"

// maxRecorded bounds the request log, so a long-running lab device does not
// grow without limit.
const maxRecorded = 1000

// Config describes one emulated Lighthouse. Zero values mean the documented
// defaults.
type Config struct {
	// Name is the appliance's host name: the CN and SAN of its initial
	// self-signed certificate.
	Name string
	// Addr is the listen address, a loopback IP and a port. Default
	// "127.0.0.1:0" (a free port, kept across restarts).
	Addr string
	// Listen opens the device's listening sockets; nil: net.Listen("tcp",
	// addr). The lab passes one that puts its devices on sockets they
	// share (internal/lab/addrmux), so a large fleet does not need a file
	// descriptor per device and port.
	Listen func(addr string) (net.Listener, error)
	// Username and Password are the only login accepted.
	Username string
	Password string
	// InitialCertificate is served at start; nil means a self-signed
	// ECDSA P-256 certificate for Name.
	InitialCertificate *tls.Certificate
	// RestartMin and RestartMax bound how long the web server is away
	// after a certificate upload; each restart picks a random duration in
	// between. Defaults 100ms and 500ms.
	RestartMin time.Duration
	RestartMax time.Duration
	// NoSANField makes the CSR form refuse subject_alternative_names, as
	// the v3.7 API describes it (Lighthouse 21.x, Ottr's target).
	NoSANField bool
	// CSRDownload is what GET /services/https?zip=true answers with.
	// Default CSRZip.
	CSRDownload CSRDownload
	// KeepLeafOnly makes an upload keep only the first certificate of
	// https.cert, as a release that takes no chain would.
	KeepLeafOnly bool
	// DenyHTTPS gives the account a role without the HTTPS certificate
	// settings: every /services/https call is answered 403 "Permission
	// denied" (code 47), as the RAML documents for such users.
	DenyHTTPS bool
	// Firmware is the firmware version GET /system/version reports.
	// Default "21.Q3.1".
	Firmware string
	// Now dates the initial certificate. Default time.Now.
	Now func() time.Time
	// Logger receives a debug line per request and restart. Default:
	// discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.RestartMin <= 0 {
		c.RestartMin = 100 * time.Millisecond
	}
	if c.RestartMax < c.RestartMin {
		c.RestartMax = max(c.RestartMin, 500*time.Millisecond)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CSRDownload == "" {
		c.CSRDownload = CSRZip
	}
	if c.Firmware == "" {
		c.Firmware = "21.Q3.1"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// CSRDownload is a form of the answer to GET /services/https?zip=true.
type CSRDownload string

// The answers a CSR download may get.
const (
	// CSRZip is a zip archive (application/zip) holding the request as a
	// PEM file named after the appliance.
	CSRZip CSRDownload = "zip"
	// CSRPEM is the PEM request itself.
	CSRPEM CSRDownload = "pem"
	// CSRDetails is the JSON certificate details, as from a release that
	// ignores the zip flag.
	CSRDetails CSRDownload = "details"
)

func (c Config) validate() error {
	switch {
	case c.CSRDownload != CSRZip && c.CSRDownload != CSRPEM && c.CSRDownload != CSRDetails:
		return fmt.Errorf("CSRDownload %q is not %q, %q or %q", c.CSRDownload, CSRZip, CSRPEM, CSRDetails)
	case c.Name == "":
		return errors.New("no Name")
	case c.Username == "" || c.Password == "":
		return errors.New("no Username or Password: the appliance would accept anyone")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", c.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("address %q is not a loopback address", c.Addr)
	}
	return nil
}

// Request is one API request as the emulator received it, for tests that
// check what a client sends where.
type Request struct {
	Method string
	// URL is the path and query, as sent.
	URL    string
	Header http.Header
	// Members are the members of the https object of a PUT
	// /services/https ("cert", "csr"), sorted.
	Members []string
}

// Device is one running emulated Lighthouse.
type Device struct {
	cfg       Config
	addr      string
	tlsConfig *tls.Config
	handler   http.Handler

	// served is the certificate the web server presents.
	served atomic.Pointer[tls.Certificate]

	mu           sync.Mutex
	current      boundCertificate
	pending      *pendingCSR
	sessions     map[string]string // session ID -> user
	requests     []Request
	failInstalls bool
	restarts     int
	closed       bool
	down         bool
	server       *http.Server
	comeBack     *time.Timer

	exported atomic.Bool
	wg       sync.WaitGroup
}

// boundCertificate is the certificate the HTTPS service is configured with.
type boundCertificate struct {
	chain []*x509.Certificate
	key   crypto.Signer
}

// Start starts the appliance's web server. It runs until Close or until ctx
// ends.
func Start(ctx context.Context, cfg Config) (*Device, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lab lighthouse: %w", err)
	}
	d := &Device{cfg: cfg, sessions: map[string]string{}}
	initial := cfg.InitialCertificate
	if initial == nil {
		var err error
		if initial, err = selfSigned(cfg.Name, cfg.Now()); err != nil {
			return nil, fmt.Errorf("lab lighthouse %s: initial certificate: %w", cfg.Name, err)
		}
	}
	bound, err := bindable(initial)
	if err != nil {
		return nil, fmt.Errorf("lab lighthouse %s: initial certificate: %w", cfg.Name, err)
	}
	d.bind(bound)
	d.tlsConfig = &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return d.served.Load(), nil },
		MinVersion:     tls.VersionTLS12,
	}
	d.handler = d.routes()

	d.mu.Lock()
	defer d.mu.Unlock()
	ln, err := cfg.listen(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("lab lighthouse %s: listen: %w", cfg.Name, err)
	}
	d.addr = ln.Addr().String()
	d.serveLocked(ln)
	context.AfterFunc(ctx, func() { _ = d.Close() })
	return d, nil
}

// bindable checks that c has a key and parses its chain.
func bindable(c *tls.Certificate) (boundCertificate, error) {
	key, ok := c.PrivateKey.(crypto.Signer)
	if !ok || len(c.Certificate) == 0 {
		return boundCertificate{}, errors.New("the certificate has no chain or no private key")
	}
	chain := make([]*x509.Certificate, len(c.Certificate))
	for i, der := range c.Certificate {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return boundCertificate{}, err
		}
		chain[i] = cert
	}
	return boundCertificate{chain: chain, key: key}, nil
}

// bind makes b the configured certificate; new handshakes present it.
func (d *Device) bind(b boundCertificate) {
	der := make([][]byte, len(b.chain))
	for i, c := range b.chain {
		der[i] = c.Raw
	}
	d.current = b
	d.served.Store(&tls.Certificate{Certificate: der, PrivateKey: b.key, Leaf: b.chain[0]})
}

// serveLocked starts a web server on ln. d.mu is held.
func (d *Device) serveLocked(ln net.Listener) {
	srv := &http.Server{
		Handler:           d.handler,
		TLSConfig:         d.tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		// Handshakes cut short by restarts are expected; keep them out
		// of the process's standard error.
		ErrorLog: log.New(discard{}, "", 0),
	}
	d.server, d.down = srv, false
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = srv.ServeTLS(ln, "", "")
	}()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// restartWebServer stops the web server, as the appliance does after a
// certificate upload, and brings it back after a random pause. Shutdown
// closes the listener at once, so new connections are refused, and lets
// the upload's own response finish first.
func (d *Device) restartWebServer() {
	defer d.wg.Done()
	d.mu.Lock()
	if d.closed || d.down {
		d.mu.Unlock()
		return
	}
	srv := d.server
	d.down = true
	d.restarts++
	pause := d.cfg.RestartMin
	if spread := d.cfg.RestartMax - d.cfg.RestartMin; spread > 0 {
		pause += mathrand.N(spread)
	}
	d.mu.Unlock()
	d.cfg.Logger.Debug("lab lighthouse: web server restarting", "name", d.cfg.Name, "pause", pause)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(ctx)
	cancel()
	_ = srv.Close()

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.comeBack = time.AfterFunc(pause, d.listenAgain)
}

// listenAgain reopens the listener on the same address after a restart.
func (d *Device) listenAgain() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || !d.down {
		return
	}
	ln, err := d.cfg.listen(d.addr)
	if err != nil {
		// Another process took the port in the pause; try again soon.
		d.cfg.Logger.Warn("lab lighthouse: cannot listen again", "name", d.cfg.Name, "err", err)
		d.comeBack = time.AfterFunc(50*time.Millisecond, d.listenAgain)
		return
	}
	d.serveLocked(ln)
	d.cfg.Logger.Debug("lab lighthouse: web server back", "name", d.cfg.Name)
}

// Name returns the appliance's host name.
func (d *Device) Name() string { return d.cfg.Name }

// Addr returns the API address, "IP:port".
func (d *Device) Addr() string { return d.addr }

// TLSAddr returns where the bound certificate is served: the API's own
// address, as on the appliance.
func (d *Device) TLSAddr() string { return d.addr }

// APIPort returns the port of Addr.
func (d *Device) APIPort() int {
	_, port, _ := net.SplitHostPort(d.addr)
	p, _ := strconv.Atoi(port)
	return p
}

// RouteOptions returns the lighthouse driver options a route to this
// appliance needs besides ca_file: its API port.
func (d *Device) RouteOptions() map[string]any {
	return map[string]any{"api_port": d.APIPort()}
}

// PrivateKeyExported reports whether any response carried a PEM private
// key.
func (d *Device) PrivateKeyExported() bool { return d.exported.Load() }

// FailInstalls makes certificate uploads fail (true) with the appliance's
// kind of error, or work again (false). A failed upload changes nothing:
// the pending CSR and its key stay.
func (d *Device) FailInstalls(fail bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failInstalls = fail
}

// FailureMessage is text the error of a failed upload contains.
func (d *Device) FailureMessage() string { return failedInstallText }

// Served returns the chain the web server presents, leaf first.
func (d *Device) Served() []*x509.Certificate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*x509.Certificate(nil), d.current.chain...)
}

// HasPendingCSR reports whether a CSR waits for its certificate.
func (d *Device) HasPendingCSR() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending != nil
}

// Restarts returns how many times the web server restarted.
func (d *Device) Restarts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarts
}

// Sessions returns how many sessions are open.
func (d *Device) Sessions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.sessions)
}

// ExpireSessions ends every open session, as a session timeout or a
// reboot does; their next call is answered "Invalid session ID.".
func (d *Device) ExpireSessions() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.sessions)
}

// Requests returns the requests received so far (at most the last 1000).
func (d *Device) Requests() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Request(nil), d.requests...)
}

// Calls returns the requests received so far in the form of the driver's
// request table: "GET /api/v3.7/services/https?zip=true", "PUT
// /api/v3.7/services/https https.csr", "DELETE /api/v3.7/sessions/<id>".
func (d *Device) Calls() []string {
	var calls []string
	for _, r := range d.Requests() {
		call := r.Method + " " + r.URL
		for _, m := range r.Members {
			call += " https." + m
		}
		calls = append(calls, call)
	}
	return calls
}

// Close stops the web server, also during a restart, and waits for it. It
// is safe to call twice.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	if d.comeBack != nil {
		d.comeBack.Stop()
	}
	srv := d.server
	down := d.down
	d.mu.Unlock()
	var err error
	if !down {
		err = srv.Close()
	}
	d.wg.Wait()
	return err
}

// selfSigned makes the appliance's factory certificate: ECDSA P-256, one
// year, for name.
func selfSigned(name string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Opengear"}},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// listen opens a listening socket on addr, through Listen when set.
func (c Config) listen(addr string) (net.Listener, error) {
	if c.Listen != nil {
		return c.Listen(addr)
	}
	return net.Listen("tcp", addr)
}
