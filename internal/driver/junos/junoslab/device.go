// Package junoslab emulates a Juniper JunOS device (an SRX on 18.2 or later)
// for `ottr lab` and the junos driver's tests: an SSH server with the
// "netconf" subsystem (RFC 6241/6242: hello, base:1.0 end-of-message and
// base:1.1 chunked framing, rpc-reply and rpc-error) answering the JunOS XML
// RPCs of `request security pki ...`, `show security pki ...`, `file ...`,
// `show version` and configuration (lock, load-configuration,
// get-configuration, get-rollback-information, commit-configuration with
// confirmed/confirm-timeout), and J-Web's HTTPS on a TLS address, serving
// whatever `system services web-management https` names in the committed
// configuration.
//
// RPC names and input leaves are those of JunOS's own schema (Juniper/yang,
// junos-es-rpc-*.yang): generate-pki-key-pair, one domain-name per
// certificate request, the schema's digests and key sizes. Where the schema
// leaves an answer open, the device can answer each way a real one might:
// PKI failures as an rpc-error or, with Config.PKIErrorsAsOutput, as plain
// <output> text; and DropCertificateLoads makes loads answer that they
// succeeded while keeping nothing.
//
// State is held in memory as JunOS has it: key pairs (generated in Go; a
// private key is never sent, and PrivateKeyExported records if a reply ever
// held one), certificate requests (in the files they are saved to), local
// certificates, CA certificates per CA profile, files (/var/tmp/...), and
// the candidate and committed configurations with 50 rollbacks. A commit confirmed starts a real timer:
// unless a plain commit confirms it within confirm-timeout "minutes" (each
// lasting Config.ConfirmUnit), the device restores the configuration from
// before the first unconfirmed commit, as JunOS does.
//
// Where JunOS's exact reply text is not documented, the emulator answers in
// JunOS's style; each handler's comment names the CLI command its RPC is the
// XML form of.
package junoslab

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	"golang.org/x/crypto/ssh"
)

// Names the emulator gives what it starts with.
const (
	// SystemGeneratedID is the certificate-id of the self-signed
	// certificate JunOS makes for itself.
	SystemGeneratedID = "system-generated"
	// InitialID is the certificate-id of Config.InitialCertificate.
	InitialID = "web-initial"
)

// failureMessage is the commit error FailInstalls produces.
const failureMessage = "commit failed: (statements constraint check failed)"

// historySize is how many committed configurations JunOS keeps
// (rollback 0 to 49).
const historySize = 50

// Config describes one emulated device. Zero values mean the documented
// defaults.
type Config struct {
	// Name is the device's host name: CN and SAN of its initial
	// certificate.
	Name string
	// Addr is the NETCONF (SSH) listen address, loopback "IP:port".
	// Default "127.0.0.1:0".
	Addr string
	// Listen opens the device's listening sockets; nil: net.Listen("tcp",
	// addr). The lab passes one that puts its devices on sockets they
	// share (internal/lab/addrmux), so a large fleet does not need a file
	// descriptor per device and port.
	Listen func(addr string) (net.Listener, error)
	// TLSAddr is where J-Web's HTTPS listens. Default "127.0.0.1:0".
	TLSAddr string
	// Username is the only login accepted.
	Username string
	// Password and AuthorizedKey are the accepted credentials; at least
	// one must be set.
	Password      string
	AuthorizedKey ssh.PublicKey
	// HostKey is the SSH host key; a new Ed25519 key when nil.
	HostKey ssh.Signer
	// InitialCertificate is the certificate J-Web serves at start, loaded
	// as local certificate InitialID (and its chain as CA profiles
	// web-initial-ca-1, ...). Nil: the self-signed SystemGeneratedID for
	// Name, bound as system-generated-certificate.
	InitialCertificate *tls.Certificate
	// ConfirmUnit is how long one minute of a commit confirmed's
	// confirm-timeout lasts, so tests can watch the device roll back.
	// Default time.Minute.
	ConfirmUnit time.Duration
	// Base10Only makes the device advertise only base:1.0, so sessions use
	// end-of-message framing instead of chunks.
	Base10Only bool
	// PKIErrorsAsOutput makes the PKI commands report their failures as
	// plain <output> text ("error: ...") instead of an <rpc-error>: JunOS's
	// schema gives these RPCs an output leaf, and PyEZ's utils/fs.py reads
	// such text as a failure of file-list.
	PKIErrorsAsOutput bool
	// Model and Version are what get-software-information reports.
	// Defaults "srx340" and "18.2R3.4".
	Model   string
	Version string
	// Now dates the system-generated certificate. Default time.Now.
	Now func() time.Time
	// Logger receives one debug line per RPC. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.TLSAddr == "" {
		c.TLSAddr = "127.0.0.1:0"
	}
	if c.ConfirmUnit <= 0 {
		c.ConfirmUnit = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Model == "" {
		c.Model = "srx340"
	}
	if c.Version == "" {
		c.Version = "18.2R3.4"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("no Name")
	case c.Username == "":
		return errors.New("no Username")
	case c.Password == "" && c.AuthorizedKey == nil:
		return errors.New("neither Password nor AuthorizedKey is set: the device would accept anyone")
	}
	for _, addr := range []string{c.Addr, c.TLSAddr} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("address %q: %w", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("address %q is not a loopback address", addr)
		}
	}
	return nil
}

// keyPair is a key pair generated on the device.
type keyPair struct {
	key  crypto.Signer
	kind string // "rsa" or "ecdsa"
	size int
}

// commitEntry is one committed configuration of the rollback history.
type commitEntry struct {
	config  *node
	at      time.Time
	user    string
	comment string
}

// pendingConfirm is an unconfirmed commit confirmed.
type pendingConfirm struct {
	// revertTo is the configuration from before the first unconfirmed
	// commit: what the device restores when the timer fires.
	revertTo *node
	timer    *time.Timer
	// generation tells a stale timer (reset by a later commit) from the
	// current one.
	generation int
}

// Device is one running emulated JunOS device.
type Device struct {
	cfg     Config
	hostKey ssh.Signer

	sshServer   *gliderssh.Server
	sshListener net.Listener
	tlsListener net.Listener
	tlsConfig   *tls.Config
	wg          sync.WaitGroup
	closeOnce   sync.Once

	ops map[string]handler

	exported     atomic.Bool
	failInstalls atomic.Bool
	dropLoads    atomic.Bool
	authAttempts atomic.Int64

	mu          sync.Mutex
	closed      bool
	running     *node
	candidate   *node
	history     []commitEntry // history[0] is the running configuration
	lockSession int           // session holding the candidate lock; 0: none
	lockUser    string
	pending     *pendingConfirm
	reverts     int
	lastConfirm int
	nextSession int
	sessions    int
	rpcNames    []string
	keyPairs    map[string]*keyPair
	localCerts  map[string]*x509.Certificate
	caCerts     map[string]*x509.Certificate // by CA profile
	files       map[string][]byte
}

// Start starts the device's SSH (NETCONF) and TLS (J-Web) listeners. The
// device runs until Close or until ctx ends.
func Start(ctx context.Context, c Config) (*Device, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("lab junos device: %w", err)
	}
	d := &Device{
		cfg:        c,
		hostKey:    c.HostKey,
		keyPairs:   map[string]*keyPair{},
		localCerts: map[string]*x509.Certificate{},
		caCerts:    map[string]*x509.Certificate{},
		files:      map[string][]byte{},
	}
	if d.hostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("lab junos device %s: host key: %w", c.Name, err)
		}
		if d.hostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("lab junos device %s: host key: %w", c.Name, err)
		}
	}
	d.ops = d.newHandlers()
	if err := d.loadInitialState(); err != nil {
		return nil, fmt.Errorf("lab junos device %s: %w", c.Name, err)
	}

	var err error
	if d.sshListener, err = c.listen(c.Addr); err != nil {
		return nil, fmt.Errorf("lab junos device %s: NETCONF listener: %w", c.Name, err)
	}
	if d.tlsListener, err = c.listen(c.TLSAddr); err != nil {
		_ = d.sshListener.Close()
		return nil, fmt.Errorf("lab junos device %s: TLS listener: %w", c.Name, err)
	}
	d.tlsConfig = &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return d.servedCertificate() },
		MinVersion:     tls.VersionTLS12,
	}
	d.sshServer = d.newSSHServer()
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		_ = d.sshServer.Serve(d.sshListener)
	}()
	go func() {
		defer d.wg.Done()
		d.serveTLS()
	}()
	context.AfterFunc(ctx, func() { _ = d.Close() })
	return d, nil
}

// loadInitialState puts the initial certificate in the PKI store and writes
// the factory configuration as rollback 0.
func (d *Device) loadInitialState() error {
	certID := ""
	var profiles []string
	if ic := d.cfg.InitialCertificate; ic != nil {
		signer, ok := ic.PrivateKey.(crypto.Signer)
		if !ok || len(ic.Certificate) == 0 {
			return errors.New("InitialCertificate needs a certificate and a crypto.Signer key")
		}
		chain := make([]*x509.Certificate, len(ic.Certificate))
		for i, der := range ic.Certificate {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("InitialCertificate: %w", err)
			}
			chain[i] = c
		}
		certID = InitialID
		d.keyPairs[certID] = &keyPair{key: signer, kind: keyKind(signer.Public())}
		d.localCerts[certID] = chain[0]
		for i, ca := range chain[1:] {
			name := InitialID + "-ca-" + strconv.Itoa(i+1)
			d.caCerts[name] = ca
			profiles = append(profiles, name)
		}
	} else {
		key, cert, err := selfSigned(d.cfg.Name, d.cfg.Now())
		if err != nil {
			return fmt.Errorf("system-generated certificate: %w", err)
		}
		d.keyPairs[SystemGeneratedID] = &keyPair{key: key, kind: "ecdsa", size: 256}
		d.localCerts[SystemGeneratedID] = cert
	}
	d.running = initialConfig(d.cfg.Name, certID, profiles)
	d.candidate = d.running.clone()
	d.history = []commitEntry{{config: d.running, at: d.cfg.Now(), user: "root", comment: "initial configuration"}}
	return nil
}

// selfSigned makes JunOS's system-generated certificate: self-signed, five
// years, for name. It is ECDSA P-256 rather than JunOS's RSA so that labs of
// hundreds of devices start quickly.
func selfSigned(name string, now time.Time) (*ecdsa.PrivateKey, *x509.Certificate, error) {
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
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Juniper Networks"}},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// Addr returns the NETCONF (SSH) address.
func (d *Device) Addr() string { return d.sshListener.Addr().String() }

// NetconfAddr returns the NETCONF (SSH) address; the same as Addr.
func (d *Device) NetconfAddr() string { return d.Addr() }

// TLSAddr returns the address J-Web's HTTPS listens on.
func (d *Device) TLSAddr() string { return d.tlsListener.Addr().String() }

// HostKey returns the public SSH host key, for a known_hosts line.
func (d *Device) HostKey() ssh.PublicKey { return d.hostKey.PublicKey() }

// RouteOptions returns the junos driver route options that reach this
// device: its NETCONF port. The driver connects to the asset's ip_address.
func (d *Device) RouteOptions() map[string]any {
	return map[string]any{"netconf_port": d.sshListener.Addr().(*net.TCPAddr).Port}
}

// PrivateKeyExported reports whether any NETCONF reply held a PEM private
// key.
func (d *Device) PrivateKeyExported() bool { return d.exported.Load() }

// FailInstalls makes every commit fail (true) with FailureMessage, or work
// again (false).
func (d *Device) FailInstalls(fail bool) { d.failInstalls.Store(fail) }

// DropCertificateLoads makes local and CA certificate loads answer that
// they succeeded while keeping nothing (true), as a silent failure would,
// or work again (false).
func (d *Device) DropCertificateLoads(drop bool) { d.dropLoads.Store(drop) }

// FailureMessage returns the text of the commit error FailInstalls causes.
func (d *Device) FailureMessage() string { return failureMessage }

// AuthAttempts returns how many SSH authentication attempts reached the
// device; a client that refuses the host key makes none.
func (d *Device) AuthAttempts() int { return int(d.authAttempts.Load()) }

// Sessions returns how many NETCONF sessions completed the hello exchange.
func (d *Device) Sessions() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sessions
}

// RPCs returns the names of the RPCs received so far, in order.
func (d *Device) RPCs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.rpcNames...)
}

// Calls returns the RPCs received so far in the form of the driver's
// request table: "rpc <get-configuration>".
func (d *Device) Calls() []string {
	names := d.RPCs()
	calls := make([]string, len(names))
	for i, n := range names {
		calls[i] = "rpc <" + n + ">"
	}
	return calls
}

// Committed returns the value of the committed configuration's leaf at
// path ("system/services/web-management/https/pki-local-certificate",
// list entries as "profile[name='web']") and whether it exists.
func (d *Device) Committed(path string) (string, bool) {
	steps, err := parsePath(path)
	if err != nil {
		return "", false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.running.lookup(steps)
	if n == nil {
		return "", false
	}
	return n.value(), true
}

// CommittedXML returns the committed configuration as XML.
func (d *Device) CommittedXML() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running.marshal()
}

// PendingConfirm reports whether a commit confirmed awaits confirmation.
func (d *Device) PendingConfirm() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending != nil
}

// Reverts returns how many unconfirmed commits the device has rolled back
// by itself.
func (d *Device) Reverts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reverts
}

// LastConfirmTimeout returns the confirm-timeout, in minutes, of the last
// commit confirmed (0 if none).
func (d *Device) LastConfirmTimeout() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastConfirm
}

// HoldLock takes the candidate configuration lock as another administrator
// would (`configure exclusive`), until the returned function is called.
func (d *Device) HoldLock(user string) (release func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextSession++
	id := d.nextSession
	d.lockSession, d.lockUser = id, user
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.lockSession == id {
			d.lockSession, d.lockUser = 0, ""
		}
	}
}

// Close stops both listeners, ends open sessions and stops a pending
// confirm timer. It is safe to call twice.
func (d *Device) Close() error {
	var err error
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		if d.pending != nil {
			d.pending.timer.Stop()
		}
		d.mu.Unlock()
		// The listener is closed here too: the server only closes
		// listeners its Serve goroutine has registered, which a Close
		// right after Start can beat.
		err = errors.Join(ignoreClosed(d.sshServer.Close()), ignoreClosed(d.sshListener.Close()),
			ignoreClosed(d.tlsListener.Close()))
		d.wg.Wait()
	})
	return err
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// listen opens a listening socket on addr, through Listen when set.
func (c Config) listen(addr string) (net.Listener, error) {
	if c.Listen != nil {
		return c.Listen(addr)
	}
	return net.Listen("tcp", addr)
}
