// Package ssmlab emulates the two AWS APIs the linux-ssm driver uses, for
// `ottr lab` and the driver's tests: Systems Manager Run Command
// (SendCommand, GetCommandInvocation, CancelCommand) and
// DescribeInstanceInformation over the AWS JSON 1.1 protocol, and EC2
// DescribeInstances over the EC2 Query protocol, both on one HTTPS
// endpoint that verifies Signature Version 4 against one access key.
// Behind it runs a fleet of EC2 instances, each with a Name tag, its
// own directory and its own TLS listener.
//
// Start the endpoint, then add instances:
//
//	svc, _ := ssm.Start(ctx, ssm.Config{AccessKeyID: "AKIA…", SecretAccessKey: "…"})
//	web1, _ := svc.AddInstance(ssm.InstanceConfig{Name: "web1", HostName: "web1.example.test", Dir: dir})
//	options := web1.RouteOptions() // region, endpoint, cert/key paths, hooks dirs, reload command
//	options["ca_file"] = fileHolding(svc.CertificatePEM())
//
// Commands sent with the AWS-RunShellScript document really run, through
// /bin/sh as the ottr process's user, so every listener is loopback only.
// As on a real instance they run asynchronously: SendCommand answers at once
// with a Pending command, and, as AWS does right after SendCommand, the
// first GetCommandInvocation of a command answers InvocationDoesNotExist and
// the next one InProgress (Config.DelayedPolls), so a client must poll. The
// output is cut at 24,000 characters, as GetCommandInvocation cuts it, and
// a failed command's standard error ends with the agent's "failed to run
// commands: exit status N" line. Three things are emulated:
//
//   - The file system root. Each instance owns a directory
//     (InstanceConfig.Dir); commands name files under a virtual prefix
//     (Config.PathPrefix, "/ottr-lab" by default), and before a command runs
//     every occurrence of the prefix followed by "/" is replaced with the
//     instance's directory, as the linux lab host does; the output gets the
//     prefix back. Scripts run in the instance's directory, so hooks and
//     other programs they start reach its files by relative paths.
//   - The service reload. The instance's reload command ("systemctl reload
//     nginx" by default) is a shell function defined before each command,
//     so it works in the script and its subshells but not in programs the
//     script starts (hooks); it asks the emulator, over a pipe on file descriptors 3 and 4, to load
//     the instance's certificate and key files into its TLS listener, which
//     succeeds, or fails as nginx does and keeps serving the old
//     certificate (always, while FailInstalls is set).
//   - Instance state. Only running instances take commands; SetState stops
//     and starts them.
//
// Every command output returned through GetCommandInvocation is scanned for
// a PEM private key, so tests can assert that no key left the instance
// (PrivateKeyExported).
//
// With Config.RecordRequests the endpoint keeps every request (Requests),
// and Calls names them as the linux-ssm driver's request table does.
package ssmlab

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/awslab"
)

// Defaults of Config.
const (
	DefaultRegion     = "us-east-1"
	DefaultAccountID  = "123456789012"
	DefaultPathPrefix = "/ottr-lab"
	// DefaultDelayedPolls: the first poll of a command finds no
	// invocation, the second finds it in progress.
	DefaultDelayedPolls = 2
)

// maxBody bounds a request body; SendCommand documents are far smaller.
const maxBody = 1 << 20

// maxCommands bounds the commands kept for GetCommandInvocation; the oldest
// finished ones are forgotten first, so a long lab run does not grow.
const maxCommands = 10000

// Config describes the emulated AWS endpoint. Zero values mean the
// documented defaults.
type Config struct {
	// Addr is the HTTPS listen address, a loopback IP and a port.
	// Default "127.0.0.1:0" (a free port).
	Addr string
	// AccessKeyID and SecretAccessKey are the only credentials whose
	// signatures are accepted. Both are required.
	AccessKeyID     string
	SecretAccessKey string
	// Region is the only region signatures may be scoped to.
	// Default DefaultRegion.
	Region string
	// AccountID appears in EC2 answers and SSM error messages.
	// Default DefaultAccountID.
	AccountID string
	// Certificate is the endpoint's TLS certificate; nil: a self-signed
	// one for 127.0.0.1 and localhost (CertificatePEM returns it).
	Certificate *tls.Certificate
	// PathPrefix is the absolute path commands use to mean an instance's
	// directory. Default DefaultPathPrefix.
	PathPrefix string
	// DelayedPolls is how many GetCommandInvocation calls for a new
	// command answer as AWS does before its invocation is up to date: the
	// first InvocationDoesNotExist, the next ones InProgress. Zero means
	// DefaultDelayedPolls; negative means none.
	DelayedPolls int
	// RecordRequests keeps every request (Requests), for tests that check
	// what a client sends.
	RecordRequests bool
	// Now is the clock signatures are checked against and command times
	// are reported with. Default time.Now.
	Now func() time.Time
	// Logger receives one debug line per request and per command.
	// Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.AccountID == "" {
		c.AccountID = DefaultAccountID
	}
	if c.PathPrefix == "" {
		c.PathPrefix = DefaultPathPrefix
	}
	c.PathPrefix = strings.TrimSuffix(c.PathPrefix, "/")
	switch {
	case c.DelayedPolls == 0:
		c.DelayedPolls = DefaultDelayedPolls
	case c.DelayedPolls < 0:
		c.DelayedPolls = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.AccessKeyID == "" || c.SecretAccessKey == "":
		return errors.New("AccessKeyID and SecretAccessKey are required: the endpoint would accept anyone")
	case !path.IsAbs(c.PathPrefix) || c.PathPrefix == "":
		return fmt.Errorf("PathPrefix must be an absolute path, got %q", c.PathPrefix)
	}
	return loopbackOnly(c.Addr)
}

// loopbackOnly refuses addresses off the loopback range: the instances run
// real commands, so nothing of them may be reachable from the network.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("address %q is not a loopback address: the emulated instances run real commands", addr)
	}
	return nil
}

// Request is one request the endpoint received, kept with
// Config.RecordRequests.
type Request struct {
	// Operation is the SSM or EC2 action, e.g. "SendCommand".
	Operation string
	Method    string
	URL       string
	Header    http.Header
	Body      []byte
	// Status is the HTTP status of the answer.
	Status int
}

// Service is the running endpoint and its fleet.
type Service struct {
	cfg      Config
	verifier *awslab.Verifier
	certPEM  []byte
	listener net.Listener
	server   *http.Server

	mu        sync.Mutex
	instances []*Instance
	commands  map[string]*command
	order     []string // command IDs, oldest first
	requests  []Request
	sent      int // SendCommand calls accepted
	closed    bool

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start listens on cfg.Addr and serves the endpoint until Close or until
// ctx ends.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lab ssm: %w", err)
	}
	s := &Service{
		cfg: cfg,
		verifier: &awslab.Verifier{
			AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey,
			Region: cfg.Region, Now: cfg.Now,
		},
		commands: map[string]*command{},
	}
	cert := cfg.Certificate
	if cert == nil {
		var err error
		if cert, s.certPEM, err = selfSigned(cfg.Now()); err != nil {
			return nil, fmt.Errorf("lab ssm: endpoint certificate: %w", err)
		}
	} else {
		var b bytes.Buffer
		for _, der := range cert.Certificate {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
		s.certPEM = b.Bytes()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("lab ssm: listen: %w", err)
	}
	s.listener = ln
	s.server = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12},
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.server.ServeTLS(ln, "", "")
	}()
	context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

// Addr returns the address the endpoint listens on.
func (s *Service) Addr() string { return s.listener.Addr().String() }

// Endpoint returns the endpoint's URL, for the driver's endpoint option.
func (s *Service) Endpoint() string { return "https://" + s.Addr() }

// Region returns the region signatures must be scoped to.
func (s *Service) Region() string { return s.cfg.Region }

// CertificatePEM returns the endpoint's TLS certificate chain as PEM: with
// the default self-signed certificate, the file a route's ca_file needs.
func (s *Service) CertificatePEM() []byte { return append([]byte(nil), s.certPEM...) }

// RouteOptions returns the linux-ssm route options that reach this
// endpoint: region and endpoint. The caller adds ca_file.
func (s *Service) RouteOptions() map[string]any {
	return map[string]any{"region": s.cfg.Region, "endpoint": s.Endpoint()}
}

// Instances returns the instances added so far, in order.
func (s *Service) Instances() []*Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Instance(nil), s.instances...)
}

// Requests returns the requests received so far (Config.RecordRequests).
func (s *Service) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SendCommandCalls returns how many SendCommand calls were accepted.
func (s *Service) SendCommandCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// Close stops the endpoint and every instance, killing running commands.
// It is safe to call twice.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		// Close, not Shutdown: a graceful HTTP/2 shutdown waits a second
		// for clients to go away, and an emulator has nothing to finish.
		err = s.server.Close()
		s.mu.Lock()
		s.closed = true
		instances := append([]*Instance(nil), s.instances...)
		commands := make([]*command, 0, len(s.commands))
		for _, c := range s.commands {
			commands = append(commands, c)
		}
		s.mu.Unlock()
		for _, c := range commands {
			c.cancelAll()
		}
		for _, c := range commands {
			c.wait()
		}
		for _, i := range instances {
			err = errors.Join(err, i.Close())
		}
		s.wg.Wait()
	})
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// serveHTTP authenticates a request and hands it to the SSM or EC2 side.
func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	target := r.Header.Get("X-Amz-Target")
	operation := strings.TrimPrefix(target, ssmTargetPrefix)
	isSSM := target != ""
	var form map[string][]string
	if !isSSM {
		form, operation = parseQueryRequest(body)
	}
	defer func() {
		s.cfg.Logger.Debug("lab ssm: request", "operation", operation, "status", rec.status)
		if s.cfg.RecordRequests {
			s.mu.Lock()
			s.requests = append(s.requests, Request{
				Operation: operation, Method: r.Method, URL: r.URL.String(),
				Header: r.Header.Clone(), Body: body, Status: rec.status,
			})
			s.mu.Unlock()
		}
	}()
	if r.Method != http.MethodPost {
		http.Error(rec, "only POST is supported", http.StatusMethodNotAllowed)
		return
	}

	service, authErr := s.verifier.Verify(r, body)
	switch {
	case authErr != nil && isSSM:
		writeJSONError(rec, http.StatusBadRequest, authErr.JSONCode(), authErr.Message)
		return
	case authErr != nil:
		status := http.StatusUnauthorized
		if authErr.Kind == awslab.AuthBadSignature {
			status = http.StatusForbidden
		}
		writeQueryError(rec, status, authErr.QueryCode(), authErr.Message)
		return
	}
	if isSSM {
		if service != "ssm" {
			writeJSONError(rec, http.StatusBadRequest, "InvalidSignatureException",
				"Credential should be scoped to correct service: 'ssm'.")
			return
		}
		s.serveSSM(rec, r, target, body)
		return
	}
	if service != "ec2" {
		writeQueryError(rec, http.StatusUnauthorized, "AuthFailure", "Credential should be scoped to correct service: 'ec2'.")
		return
	}
	s.serveEC2(rec, operation, form)
}

// recorder remembers the status written, for the request log.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// selfSigned makes the endpoint's default certificate.
func selfSigned(now time.Time) (*tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "ottr lab AWS endpoint", Organization: []string{"ottr lab"}},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
