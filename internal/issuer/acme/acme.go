// Package acme is the issuer.Issuer for ACME CAs, built on lego: it signs a
// device's CSR through an order whose DNS-01 challenges are written, with
// TSIG-signed RFC 2136 updates, into delegate zones that the device names
// point to with _acme-challenge CNAMEs. It also asks the CA for ARI renewal
// windows.
//
// lego resolves names and logs through process-wide settings: call
// SetResolvers and SetLogger once at start-up.
package acme

import (
	"cmp"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/registration"

	"github.com/ottr-go/ottr/internal/issuer"
)

// Config describes one CA profile. The zero value of every optional field
// means its documented default.
type Config struct {
	// Name is the CA profile's name (an asset's certificate_authority); it
	// keys the stored account and labels logs and errors. Required.
	Name string
	// DirectoryURL is the ACME directory. Required.
	DirectoryURL string
	// Email is the account contact; optional.
	Email string
	// EAB binds a new account to an external account, for CAs that need
	// it. Only used when the account is registered.
	EAB *EAB
	// RootPool is what the ACME server's TLS certificate is checked
	// against. nil: the system pool. Must be nil when HTTPClient is set.
	RootPool *x509.CertPool
	// HTTPClient talks to the CA. Default: NewHTTPClient(RootPool).
	HTTPClient *http.Client
	// Profile is the ACME profile ordered when IssueOptions names none.
	// Empty: the CA's default (Pebble picks one at random).
	Profile string
	// PreferredChain picks, among the chains the CA offers, the one whose
	// top certificate is issued by this common name.
	PreferredChain string
	// Accounts keeps the account key and URI. nil: a new account per New,
	// which suits tests and the lab only.
	Accounts AccountStore
	// DNS01 is how challenge records are written.
	DNS01 DNS01Config
	// PollInterval is the first wait before a challenge's authorization or
	// an order being issued is looked at again when the CA sends no
	// Retry-After (each further wait is half as long again, up to ten
	// intervals). A Retry-After the CA sends is honoured instead. Default
	// 500ms: a CA that validates at once is seen to have done so within
	// half a second, at two requests a second per name at most.
	PollInterval time.Duration
	// Logger receives one line per certificate. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// EAB is an external account binding: a key ID and its base64url HMAC key.
type EAB struct {
	KID     string
	HMACKey string
}

const (
	userAgent = "ottr"
	// certificateTimeout bounds the wait for the CA to issue once the order
	// is finalized.
	certificateTimeout = 30 * time.Second
	// defaultPollInterval is Config.PollInterval's default.
	defaultPollInterval = 500 * time.Millisecond
	// defaultARIRetry is RFC 9773's suggestion when the CA gives no
	// Retry-After.
	defaultARIRetry = 6 * time.Hour
)

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PollInterval <= 0 {
		c.PollInterval = defaultPollInterval
	}
	c.DNS01 = c.DNS01.withDefaults()
	return c
}

func (c Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("acme: the CA profile needs a name")
	case c.DirectoryURL == "":
		return fmt.Errorf("acme: %s: the directory URL is required", c.Name)
	case c.HTTPClient != nil && c.RootPool != nil:
		return fmt.Errorf("acme: %s: set RootPool or HTTPClient, not both", c.Name)
	case c.EAB != nil && (c.EAB.KID == "" || c.EAB.HMACKey == ""):
		return fmt.Errorf("acme: %s: the external account binding needs a key ID and an HMAC key", c.Name)
	}
	if err := c.DNS01.validate(); err != nil {
		return fmt.Errorf("acme: %s: %w", c.Name, err)
	}
	return nil
}

// Issuer orders certificates from one ACME CA profile. It is safe for
// concurrent use: every Issue is its own order.
type Issuer struct {
	name string
	cfg  Config
	log  *slog.Logger
	core *api.Core
	// dns01 is lego's DNS-01 challenge: it writes a name's record, waits
	// for it to propagate and answers the challenge through validate.
	dns01 *dns01.Challenge
	// provider writes and removes challenge records.
	provider *delegateProvider
	// pause waits between polls; tests replace it to see the waits.
	pause func(ctx context.Context, d time.Duration) error
	// placing lets one order at a time be placed and kept (newOrder).
	placing chan struct{}
}

var _ issuer.Issuer = (*Issuer)(nil)

// New reads the CA's directory, makes sure its account exists (loading it
// from cfg.Accounts, or registering and saving one) and returns an Issuer.
func New(ctx context.Context, cfg Config) (*Issuer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	provider, err := newDNS01Provider(cfg.DNS01)
	if err != nil {
		return nil, fmt.Errorf("acme: %s: %w", cfg.Name, err)
	}
	core, err := accountCore(ctx, cfg)
	if errors.Is(err, errStoredFirst) {
		// Registered at the same time as another process, which stored
		// its account first: use that one, as every process will.
		core, err = accountCore(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	i := &Issuer{
		name:     cfg.Name,
		cfg:      cfg,
		log:      cfg.Logger.With("ca", cfg.Name),
		core:     core,
		provider: provider,
		pause:    sleep,
		placing:  make(chan struct{}, 1),
	}
	i.dns01 = dns01.NewChallenge(core, i.validate, provider, challengeOptions(cfg.DNS01)...)
	return i, nil
}

// accountCore loads (or makes) the account key, builds the ACME core that
// signs with it and makes sure the CA knows the account.
func accountCore(ctx context.Context, cfg Config) (*api.Core, error) {
	u, stored, err := loadAccount(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// The pieces lego.NewClient assembles, kept here because Issue drives
	// orders through the core itself. lego reads the directory here,
	// bounded by the HTTP client's timeout rather than ctx.
	core, err := api.New(cmp.Or(cfg.HTTPClient, NewHTTPClient(cfg.RootPool)), userAgent, cfg.DirectoryURL, "", u.key)
	if err != nil {
		return nil, fmt.Errorf("acme: %s: %w", cfg.Name, trimPrefix(err))
	}
	if err := ensureAccount(ctx, cfg, registration.NewRegistrar(core, u), u, stored); err != nil {
		if errors.Is(err, errStoredFirst) {
			return nil, err
		}
		return nil, fmt.Errorf("acme: %s: %w", cfg.Name, trimPrefix(err))
	}
	return core, nil
}

// NewHTTPClient returns the client an Issuer talks to its CA with when
// Config.HTTPClient is not set: a 2-minute timeout, TLS 1.2 or later
// checked against roots (nil: the system pool). Callers that wrap its
// Transport (to count requests) keep these settings.
//
// It keeps up to maxIdleCAConns connections to the CA between requests.
// A wave runs a few hundred orders at once, each polling its
// authorizations and order: with 16 kept, 150 issuances at once against
// the lab's CA opened 365 new connections, each a TLS handshake (4 % of
// ottr's CPU in a wave); with 256 kept, the next 150 opened none. Idle
// connections close after idleCAConnTimeout, so a quiet process keeps
// none.
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			MaxIdleConns:          maxIdleCAConns,
			MaxIdleConnsPerHost:   maxIdleCAConns,
			IdleConnTimeout:       idleCAConnTimeout,
			TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		},
	}
}

// maxIdleCAConns is the most idle connections an issuer's client keeps to
// its CA: as many as the orders of a wave at the largest worker
// concurrency the lab measures. idleCAConnTimeout is how long one is kept.
const (
	maxIdleCAConns    = 256
	idleCAConnTimeout = 90 * time.Second
)

// Name is the CA profile's name.
func (i *Issuer) Name() string { return i.name }

// Issue orders a certificate for the names in csr (its common name and
// DNS names), solves each name's DNS-01 challenge in the delegate zone,
// and returns the chain, leaf first. The CSR's subject is kept. With
// o.Resume it continues that order instead (see issuer.IssueOptions).
func (i *Issuer) Issue(ctx context.Context, csr *x509.CertificateRequest, o issuer.IssueOptions) ([]*x509.Certificate, error) {
	if csr == nil {
		return nil, fmt.Errorf("acme: %s: issue: no CSR", i.name)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("acme: %s: issue: the CSR's signature does not verify: %w", i.name, err)
	}
	names := certcrypto.ExtractDomainsCSR(csr)
	if len(names) == 0 {
		return nil, fmt.Errorf("acme: %s: issue: the CSR names no domain", i.name)
	}
	profile := cmp.Or(o.Profile, i.cfg.Profile)
	log := i.log.With("names", names, "profile", profile)
	started := i.cfg.Now()

	bundle, err := i.obtain(ctx, csr, names, profile, o)
	if err != nil {
		return nil, fmt.Errorf("acme: %s: issue for %s: %w", i.name, strings.Join(names, ", "), i.classify(err))
	}
	chain, err := parseChain(bundle)
	if err != nil {
		return nil, fmt.Errorf("acme: %s: issue for %s: %w", i.name, strings.Join(names, ", "), err)
	}
	leaf := chain[0]
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(csr.PublicKey) {
		return nil, fmt.Errorf("acme: %s: issue for %s: the CA returned a certificate for another key", i.name, strings.Join(names, ", "))
	}
	log.Info("acme: issued", "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter,
		"replaces", o.Replaces, "took", i.cfg.Now().Sub(started).Round(time.Millisecond))
	return chain, nil
}

// parseChain parses a PEM bundle whose first certificate is the leaf.
func parseChain(bundle []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for rest := bundle; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse the issued chain: %w", err)
		}
		chain = append(chain, cert)
	}
	switch {
	case len(chain) == 0:
		return nil, errors.New("the CA returned no certificate")
	case chain[0].IsCA:
		return nil, errors.New("the CA's chain does not start with a leaf")
	}
	return chain, nil
}

// RenewalWindow asks the CA's ARI endpoint when leaf should be renewed. The
// issuer certificate is not needed: RFC 9773 identifies leaf by its
// authority key ID and serial.
func (i *Issuer) RenewalWindow(ctx context.Context, leaf, _ *x509.Certificate) (issuer.RenewalInfo, error) {
	if leaf == nil {
		return issuer.RenewalInfo{}, fmt.Errorf("acme: %s: renewal info: no certificate", i.name)
	}
	certID, err := api.MakeARICertID(leaf)
	if err != nil {
		return issuer.RenewalInfo{}, fmt.Errorf("acme: %s: renewal info for serial %s: %w", i.name, leaf.SerialNumber.Text(16), err)
	}
	return i.renewalInfo(ctx, certID, leaf.SerialNumber)
}

// RenewalInfo asks the CA's ARI endpoint when the certificate with ARI
// certificate ID certID (see issuer.CertID) should be renewed.
func (i *Issuer) RenewalInfo(ctx context.Context, certID string) (issuer.RenewalInfo, error) {
	_, serial, err := issuer.ParseCertID(certID)
	if err != nil {
		return issuer.RenewalInfo{}, fmt.Errorf("acme: %s: renewal info: %w", i.name, err)
	}
	return i.renewalInfo(ctx, certID, serial)
}

// renewalInfo asks about the certificate certID names. RetryAfter is when
// the CA said to ask again, or six hours from now (RFC 9773's suggestion)
// when it did not.
func (i *Issuer) renewalInfo(ctx context.Context, certID string, serial *big.Int) (issuer.RenewalInfo, error) {
	info, err := i.core.Certificates.GetRenewalInfo(ctx, certID)
	if errors.Is(err, api.ErrNoARI) {
		return issuer.RenewalInfo{}, issuer.ErrNoRenewalInfo
	}
	if err != nil {
		return issuer.RenewalInfo{}, fmt.Errorf("acme: %s: renewal info for serial %s: %w", i.name, serial.Text(16), trimPrefix(err))
	}
	w := info.SuggestedWindow
	if !w.Start.Before(w.End) {
		return issuer.RenewalInfo{}, fmt.Errorf("acme: %s: renewal info for serial %s: the window [%s, %s] is empty",
			i.name, serial.Text(16), w.Start, w.End)
	}
	retry := info.RetryAfter
	if retry <= 0 {
		retry = defaultARIRetry
	}
	return issuer.RenewalInfo{
		Start:          w.Start,
		End:            w.End,
		RetryAfter:     i.cfg.Now().Add(retry),
		ExplanationURL: info.ExplanationURL,
	}, nil
}

// CertID is leaf's ARI certificate identifier (RFC 9773 §4.1), the value
// of IssueOptions.Replaces when leaf is renewed.
func CertID(leaf *x509.Certificate) (string, error) {
	id, err := api.MakeARICertID(leaf)
	if err != nil {
		return "", fmt.Errorf("acme: certificate ID: %w", err)
	}
	return id, nil
}

// classify turns lego's error into an issuer.RefusedError when the CA
// answered with a problem document, or an issuer.UnavailableError when it
// could not be reached or failed on its side, so callers can honour
// Retry-After and fall back to another CA only when that can help.
func (i *Issuer) classify(err error) error {
	var caller *callerError
	if errors.As(err, &caller) {
		return caller
	}
	var limited *legoacme.RateLimitedError
	var problem *legoacme.ProblemDetails
	var urlErr *url.Error
	var netErr net.Error
	switch {
	case errors.As(err, &limited):
		refused := &issuer.RefusedError{CA: i.name, Problem: problemOf(limited.ProblemDetails), Err: trimPrefix(err)}
		if limited.RetryAfter > 0 {
			refused.RetryAfter = i.cfg.Now().Add(limited.RetryAfter).UTC()
		}
		return refused
	case errors.As(err, &problem) && problem.HTTPStatus >= 500:
		p := problemOf(problem)
		return &issuer.UnavailableError{CA: i.name, Problem: &p, Err: trimPrefix(err)}
	case errors.As(err, &problem):
		return &issuer.RefusedError{CA: i.name, Problem: problemOf(problem), Err: trimPrefix(err)}
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		return &issuer.UnavailableError{CA: i.name, Err: trimPrefix(err)}
	}
	return trimPrefix(err)
}

func problemOf(p *legoacme.ProblemDetails) issuer.Problem {
	out := issuer.Problem{Type: p.Type, Detail: p.Detail, Status: p.HTTPStatus}
	for _, sub := range p.SubProblems {
		out.Subproblems = append(out.Subproblems, issuer.Subproblem{Identifier: sub.Identifier.Value, Type: sub.Type, Detail: sub.Detail})
	}
	return out
}

// trimPrefix drops the "acme: " lego puts in front of some errors, so
// messages do not read "acme: ...: acme: ...".
func trimPrefix(err error) error {
	msg := err.Error()
	if !strings.HasPrefix(msg, "acme: ") {
		return err
	}
	return prefixTrimmed{msg: strings.TrimPrefix(msg, "acme: "), err: err}
}

type prefixTrimmed struct {
	msg string
	err error
}

func (p prefixTrimmed) Error() string { return p.msg }
func (p prefixTrimmed) Unwrap() error { return p.err }
