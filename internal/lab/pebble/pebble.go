// Package pebble runs Let's Encrypt's Pebble test CA inside the process, for
// `ottr lab` and for end-to-end tests: a real ACME server with DNS-01
// validation against the lab DNS server, profiles, ARI and EAB.
//
// Pebble's validation authority starts goroutines it never stops and is
// tuned through environment variables, so start one CA per process (tests:
// in TestMain) and share it. The lab mends one Pebble fault on the way in:
// see fileUnderDERSerial.
package pebble

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Profile is an ACME certificate profile the CA offers.
type Profile struct {
	Description string
	// Validity is the lifetime of certificates issued under the profile.
	Validity time.Duration
	// PromoteCommonName copies the first name into the subject common
	// name, as Let's Encrypt's "classic" profile does.
	PromoteCommonName bool
}

// DefaultProfiles are the profiles offered when Config.Profiles is empty:
// "default" issues 90-day certificates with a common name, "shortlived"
// 160-hour ones (about 6 days) without, like Let's Encrypt's.
func DefaultProfiles() map[string]Profile {
	return map[string]Profile{
		"default":    {Description: "90-day certificates with a common name", Validity: 90 * 24 * time.Hour, PromoteCommonName: true},
		"shortlived": {Description: "160-hour certificates", Validity: 160 * time.Hour},
	}
}

// Config tunes Start. The zero value of every field means its documented
// default, except DNSResolver, which is required.
type Config struct {
	// Addr is where the ACME server listens (HTTPS). Default
	// "127.0.0.1:0", a free port.
	Addr string
	// DNSResolver is the host:port the validation authority sends DNS-01
	// queries to (over TCP), normally the lab DNS server. Required, so
	// validation never reaches the internet.
	DNSResolver string
	// Profiles offered, by name. Default: DefaultProfiles(). Pebble picks
	// one at random for an order that names none, so clients should name
	// one.
	Profiles map[string]Profile
	// KeyAlgorithm of the CA's keys: "ecdsa" (default) or "rsa".
	KeyAlgorithm string
	// ChainLength is the number of intermediates between root and leaf.
	// Default 1.
	ChainLength int
	// AlternateRoots is how many alternate chains (other roots, same
	// intermediate key) the CA offers, for preferred-chain tests.
	AlternateRoots int
	// RequireEAB makes new accounts present an external account binding
	// with one of EABKeys.
	RequireEAB bool
	// EABKeys maps EAB key IDs to base64url HMAC keys.
	EABKeys map[string]string
	// AuthzReusePercent is how often a valid authorization is reused for a
	// new order. Default 0: every order goes through DNS-01.
	AuthzReusePercent int
	// ValidationTime is how long a challenge the CA has validated stays
	// "processing" (its authorization "pending") before it turns valid, as
	// at a public CA, which validates from several network vantage points
	// before it answers. Clients then poll, honouring Retry-After, as they
	// must with a real CA. Default 0: valid as soon as validated.
	ValidationTime time.Duration
	// NoRetryAfter makes the CA answer challenges, authorizations and
	// orders without a Retry-After, as Debian's pebble and some private
	// CAs do, so clients poll at their own pace. Renewal information and
	// refused new orders keep theirs. Default false: Retry-After: 1.
	NoRetryAfter bool
	// Logger receives Pebble's log at debug level. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if len(c.Profiles) == 0 {
		c.Profiles = DefaultProfiles()
	}
	if c.KeyAlgorithm == "" {
		c.KeyAlgorithm = "ecdsa"
	}
	if c.ChainLength <= 0 {
		c.ChainLength = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// CA is a running embedded Pebble.
type CA struct {
	dirURL string
	tls    *tlsIdentity
	ca     *ca.CAImpl
	db     *db.MemoryStore
	server *http.Server
	orders atomic.Int64
	issued atomic.Int64
	// refusals answers the next new-order requests with a problem.
	refusals atomic.Pointer[refusal]
	// ariRetryAfter, when positive, replaces the Retry-After of renewal
	// information answers (whole seconds).
	ariRetryAfter atomic.Int64
	replacedMu    sync.Mutex
	replaced      []string
	serial        sync.Mutex
	// unused are the connections that have not sent a request yet.
	unusedMu sync.Mutex
	unused   map[net.Conn]struct{}
	// afterAnswer is told of every request the CA has handled.
	afterAnswer atomic.Pointer[func(path string)]
	// validationTime is Config.ValidationTime, in nanoseconds.
	validationTime atomic.Int64
	// noRetryAfter is Config.NoRetryAfter.
	noRetryAfter atomic.Bool
	served       chan error
	closing      sync.Once

	// counter keeps the orders Counts reports (counts.go).
	counter orderCounter
}

// The Pebble paths ottr watches; Pebble does not export them.
const (
	newOrderPath    = "/order-plz"
	orderPath       = "/my-order/"
	challengePath   = "/chalZ/"
	renewalInfoPath = "/draft-ietf-acme-ari-03/renewalInfo/"
)

// maxRequestBody bounds what the lab reads of a request before it waits
// its turn; an ACME request is a JWS of a few kilobytes.
const maxRequestBody = 1 << 20

// maxOrderBody bounds the new-order request read to find its "replaces".
const maxOrderBody = 1 << 20

// Start builds a CA with fresh roots and serves its ACME directory over
// HTTPS until Close. It sets Pebble's tuning environment variables
// (PEBBLE_VA_NOSLEEP, PEBBLE_WFE_NONCEREJECT, PEBBLE_AUTHZREUSE) for the
// whole process. ctx bounds the start-up only.
func Start(ctx context.Context, cfg Config) (*CA, error) {
	cfg = cfg.withDefaults()
	if cfg.DNSResolver == "" {
		return nil, errors.New("pebble: DNSResolver is required, so DNS-01 validation stays in the lab")
	}
	if _, _, err := net.SplitHostPort(cfg.DNSResolver); err != nil {
		return nil, fmt.Errorf("pebble: DNSResolver %q: %w", cfg.DNSResolver, err)
	}
	if cfg.KeyAlgorithm != "ecdsa" && cfg.KeyAlgorithm != "rsa" {
		return nil, fmt.Errorf("pebble: key algorithm %q: want ecdsa or rsa", cfg.KeyAlgorithm)
	}
	profiles, err := pebbleProfiles(cfg.Profiles)
	if err != nil {
		return nil, err
	}
	for kid, key := range cfg.EABKeys {
		if _, err := base64.RawURLEncoding.DecodeString(key); err != nil || kid == "" || key == "" {
			// Checked before anything starts; the key stays out of the error.
			return nil, fmt.Errorf("pebble: EAB key %q: the HMAC key must be unpadded base64url", kid)
		}
	}

	// Pebble reads its tuning from the environment in va.New and wfe.New.
	// Validation at full speed, no deliberately rejected nonces, and
	// authorization reuse only when asked make the lab fast and
	// deterministic. This is the lab, so setting them process-wide is
	// acceptable.
	for name, value := range map[string]string{
		"PEBBLE_VA_NOSLEEP":      "1",
		"PEBBLE_WFE_NONCEREJECT": "0",
		"PEBBLE_AUTHZREUSE":      strconv.Itoa(min(max(cfg.AuthzReusePercent, 0), 100)),
	} {
		if err := os.Setenv(name, value); err != nil {
			return nil, fmt.Errorf("pebble: set %s: %w", name, err)
		}
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("pebble: listen: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		// Listening on every interface; clients on this host use loopback.
		host = "127.0.0.1"
	}
	identity, err := newTLSIdentity(host)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}

	pebbleLog := slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	store := db.NewMemoryStore()
	authority := ca.New(pebbleLog, store, "", cfg.KeyAlgorithm, cfg.AlternateRoots, cfg.ChainLength, profiles)
	// HTTP-01 and TLS-ALPN-01 ports are 0: ottr only solves DNS-01, and
	// the validator must not dial anything else.
	validator := va.New(pebbleLog, 0, 0, false, cfg.DNSResolver, store)
	for kid, key := range cfg.EABKeys {
		if err := store.AddExternalAccountKeyByID(kid, key); err != nil {
			_ = ln.Close()
			// Pebble's own error quotes the key; this one does not.
			return nil, fmt.Errorf("pebble: EAB key %q: rejected", kid)
		}
	}
	// A one-second Retry-After on pending authorizations and orders lets
	// clients that honour it poll quickly.
	frontEnd := wfe.New(pebbleLog, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, cfg.RequireEAB, 1, 1)

	c := &CA{
		dirURL: "https://" + net.JoinHostPort(host, port) + wfe.DirectoryPath,
		tls:    identity,
		ca:     authority,
		db:     store,
		served: make(chan error, 1),
	}
	c.SetValidationTime(cfg.ValidationTime)
	c.SetNoRetryAfter(cfg.NoRetryAfter)
	c.server = &http.Server{
		ConnState:         c.trackConn,
		Handler:           c.counted(c.instrument(frontEnd.Handler())),
		TLSConfig:         identity.serverConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() { c.served <- c.server.ServeTLS(ln, "", "") }()
	cfg.Logger.Info("pebble: ACME directory", "url", c.dirURL, "dns_resolver", cfg.DNSResolver)
	return c, nil
}

func pebbleProfiles(in map[string]Profile) (map[string]ca.Profile, error) {
	out := make(map[string]ca.Profile, len(in))
	for name, p := range in {
		if p.Validity < time.Second {
			return nil, fmt.Errorf("pebble: profile %q: validity %s is too short", name, p.Validity)
		}
		out[name] = ca.Profile{
			Description:       p.Description,
			PromoteCommonName: p.PromoteCommonName,
			ValidityPeriod:    uint64(p.Validity / time.Second),
		}
	}
	return out, nil
}

// instrument counts new orders and adds a Retry-After to challenge
// responses. Pebble answers a challenge POST with "processing" and no
// Retry-After, which makes lego wait 5 s before it looks again; validation
// here takes milliseconds.
func (c *CA) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pebble's in-memory store takes its locks in different orders on
		// different paths (the store, then an authorization, when it looks
		// for one to reuse; an authorization, then the store, elsewhere),
		// and some handlers take a read lock twice (see settle.go). With
		// hundreds of orders in flight that deadlocks the whole CA. Its
		// handlers are quick, so running one at a time, together with the
		// work it leaves to Pebble's goroutines, costs little and makes a
		// lab of thousands of devices safe.
		// The body is read before the wait, so the server notices a
		// client that goes away meanwhile (it cancels r's context once the
		// body is read and the connection closes).
		if r.Body != nil {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
			if err != nil {
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		c.serial.Lock()
		defer c.serial.Unlock()
		if r.Context().Err() != nil {
			// The client went away while the request waited for the
			// lock. A public CA takes requests as they come and drops
			// the work of a client that is gone (its back-end calls take
			// the request's context); handling this one would create an
			// order for a process that no longer exists, only because
			// this lab runs one request at a time.
			return
		}
		if after := c.afterAnswer.Load(); after != nil {
			defer (*after)(r.URL.Path)
		}
		if r.Method != http.MethodPost {
			if secs := c.ariRetryAfter.Load(); secs > 0 && strings.HasPrefix(r.URL.Path, renewalInfoPath) {
				w = &statusRecorder{ResponseWriter: w, forceRetryAfter: strconv.FormatInt(secs, 10)}
			}
			next.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == newOrderPath && c.refuse(w) {
			return
		}
		if c.noRetryAfter.Load() {
			w = &statusRecorder{ResponseWriter: w, dropRetryAfter: true}
		}
		var replaces string
		if r.URL.Path == newOrderPath {
			replaces = peekReplaces(r)
			c.fileUnderDERSerial(replaces)
		}
		if c.challengePending(r.URL.Path) {
			c.startValidation(next, w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		if strings.HasPrefix(r.URL.Path, challengePath) {
			rec.retryAfter = "1"
		}
		next.ServeHTTP(rec, r)
		if rec.status == http.StatusOK && strings.HasPrefix(r.URL.Path, finalizePath) {
			c.awaitIssuance(strings.TrimPrefix(r.URL.Path, finalizePath))
		}
		if r.URL.Path == newOrderPath && rec.status == http.StatusCreated {
			c.orders.Add(1)
			if replaces != "" {
				c.replacedMu.Lock()
				c.replaced = append(c.replaced, replaces)
				c.replacedMu.Unlock()
			}
		}
	})
}

// Problem is an ACME problem document the CA answers with.
type Problem struct {
	// Status is the HTTP status: 429 for a rate limit, 403 for a policy,
	// 503 for a CA that is down.
	Status int
	// Type is the ACME error type, such as
	// urn:ietf:params:acme:error:rateLimited.
	Type   string
	Detail string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

type refusal struct {
	problem   Problem
	remaining atomic.Int64
}

// RefuseNewOrders answers the next n new-order requests with p instead of
// creating the orders, as a CA enforcing a rate limit or a policy (or one
// that is down) does. Orders counts only the orders created.
func (c *CA) RefuseNewOrders(n int, p Problem) {
	r := &refusal{problem: p}
	r.remaining.Store(int64(n))
	c.refusals.Store(r)
}

// refuse writes the injected problem, if one is due, and reports whether
// it did.
func (c *CA) refuse(w http.ResponseWriter) bool {
	r := c.refusals.Load()
	if r == nil || r.remaining.Add(-1) < 0 {
		return false
	}
	body, _ := json.Marshal(map[string]any{"type": r.problem.Type, "detail": r.problem.Detail, "status": r.problem.Status})
	w.Header().Set("Content-Type", "application/problem+json")
	if r.problem.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(r.problem.RetryAfter.Round(time.Second)/time.Second)))
	}
	w.WriteHeader(r.problem.Status)
	_, _ = w.Write(body)
	return true
}

// peekReplaces returns the "replaces" field of a new-order request (RFC
// 9773 §5), the certificate the order says it renews, and leaves the body
// for Pebble to read. The body is a flattened JWS whose payload is the
// order, base64url-encoded; the signature is Pebble's to check.
func peekReplaces(r *http.Request) string {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxOrderBody))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var jws struct {
		Payload string `json:"payload"`
	}
	if json.Unmarshal(body, &jws) != nil {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(jws.Payload)
	if err != nil {
		return ""
	}
	var order struct {
		Replaces string `json:"replaces"`
	}
	if json.Unmarshal(payload, &order) != nil {
		return ""
	}
	return order.Replaces
}

type statusRecorder struct {
	http.ResponseWriter
	status     int
	retryAfter string
	// forceRetryAfter replaces whatever Retry-After the handler sets.
	forceRetryAfter string
	// dropRetryAfter removes the Retry-After the handler sets.
	dropRetryAfter bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		if s.retryAfter != "" && s.Header().Get("Retry-After") == "" {
			s.Header().Set("Retry-After", s.retryAfter)
		}
		if s.forceRetryAfter != "" {
			s.Header().Set("Retry-After", s.forceRetryAfter)
		}
		if s.dropRetryAfter {
			s.Header().Del("Retry-After")
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

// SetValidationTime changes Config.ValidationTime for the challenges
// validated from now on.
func (c *CA) SetValidationTime(d time.Duration) { c.validationTime.Store(int64(max(d, 0))) }

// SetNoRetryAfter switches Config.NoRetryAfter for the requests that
// follow: with no set, answers to challenges, authorizations and orders
// carry no Retry-After.
func (c *CA) SetNoRetryAfter(no bool) { c.noRetryAfter.Store(no) }

// DirectoryURL is the ACME directory, https://host:port/dir.
func (c *CA) DirectoryURL() string { return c.dirURL }

// TLSRoots is the pool an ACME client must trust to reach DirectoryURL.
func (c *CA) TLSRoots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.tls.root)
	return pool
}

// TLSRootPEM is TLSRoots as PEM, for a roots_file.
func (c *CA) TLSRootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.tls.root.Raw})
}

// IssuanceRoots are the roots issued certificates chain to (the default
// chain first, then alternates). ctx is unused: Pebble runs in-process.
func (c *CA) IssuanceRoots(ctx context.Context) ([]*x509.Certificate, error) {
	var roots []*x509.Certificate
	for i := range c.ca.GetNumberOfRootCerts() {
		root := c.ca.GetRootCert(i)
		if root == nil || root.Cert == nil {
			return nil, fmt.Errorf("pebble: root %d is missing", i)
		}
		roots = append(roots, root.Cert)
	}
	return roots, nil
}

// IssuanceRootsPEM is IssuanceRoots as a PEM bundle.
func (c *CA) IssuanceRootsPEM(ctx context.Context) ([]byte, error) {
	roots, err := c.IssuanceRoots(ctx)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, root := range roots {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw})...)
	}
	return out, nil
}

// Orders is the number of orders the CA has accepted.
func (c *CA) Orders() int { return int(c.orders.Load()) }

// Issued is the number of certificates the CA has issued.
func (c *CA) Issued() int { return int(c.issued.Load()) }

// AfterAnswer calls f with the path of every request the CA has handled,
// once it has done the request's work (validated a challenge, issued a
// finalized order's certificate), before the next request is handled. A
// test stops a client there to play a process killed at that point. nil
// stops the calls.
func (c *CA) AfterAnswer(f func(path string)) {
	if f == nil {
		c.afterAnswer.Store(nil)
		return
	}
	c.afterAnswer.Store(&f)
}

// SetRenewalWindow makes the CA's ARI answer for leaf suggest
// [start, end], e.g. to open the window early in a test.
func (c *CA) SetRenewalWindow(leaf *x509.Certificate, start, end time.Time) error {
	body, err := json.Marshal(map[string]any{
		"suggestedWindow": map[string]time.Time{"start": start.UTC(), "end": end.UTC()},
	})
	if err != nil {
		return fmt.Errorf("pebble: renewal window: %w", err)
	}
	if err := c.db.SetARIResponse(leaf.SerialNumber, string(body)); err != nil {
		return fmt.Errorf("pebble: renewal window: %w", err)
	}
	return nil
}

// SetRenewalInfoRetryAfter makes the CA's renewal information (ARI)
// answers carry a Retry-After of d, rounded up to whole seconds, instead
// of Pebble's six hours, so a client is told to ask again soon. Zero or
// less restores Pebble's.
func (c *CA) SetRenewalInfoRetryAfter(d time.Duration) {
	c.ariRetryAfter.Store(int64((d + time.Second - 1) / time.Second))
}

// Replaced returns the ARI certificate IDs that the orders the CA accepted
// named in "replaces", in the order they came.
func (c *CA) Replaced() []string {
	c.replacedMu.Lock()
	defer c.replacedMu.Unlock()
	return append([]string(nil), c.replaced...)
}

// trackConn keeps the set of connections that have not sent a request.
func (c *CA) trackConn(conn net.Conn, state http.ConnState) {
	c.unusedMu.Lock()
	defer c.unusedMu.Unlock()
	if state == http.StateNew {
		if c.unused == nil {
			c.unused = make(map[net.Conn]struct{})
		}
		c.unused[conn] = struct{}{}
		return
	}
	delete(c.unused, conn)
}

// closeUnused closes the connections that have not sent a request yet.
// HTTP clients dial spare connections when requests queue; Shutdown takes
// such a connection for one about to send its first request and waits
// five seconds for it.
func (c *CA) closeUnused() {
	c.unusedMu.Lock()
	defer c.unusedMu.Unlock()
	for conn := range c.unused {
		_ = conn.Close()
	}
}

// Close stops serving. Pebble's validation goroutines keep running until
// the process exits.
func (c *CA) Close() error {
	var err error
	c.closing.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.closeUnused()
		if shutdownErr := c.server.Shutdown(ctx); shutdownErr != nil {
			err = fmt.Errorf("pebble: shutdown: %w", shutdownErr)
			return
		}
		if serveErr := <-c.served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
			err = fmt.Errorf("pebble: serve: %w", serveErr)
		}
	})
	return err
}
