// Package panoslab emulates a Palo Alto Networks firewall's management
// interface for `ottr lab` and the panos driver's tests: the PAN-OS XML API
// (/api/: keygen, config, op, commit, import, export) on the same HTTPS
// listener whose certificate it manages, as on a real firewall.
//
// It keeps what a firewall keeps: a candidate and a running configuration,
// changes recorded per administrator (so a partial commit takes only one
// admin's changes), commit jobs polled with <show><jobs>, named config
// snapshots (save/load config; after a load only a full force commit is
// accepted, as pan-os-python PR #604 reports of PAN-OS 11), certificates
// whose private keys it generates itself and never hands out, SSL/TLS
// service profiles, administrator roles that limit what each request type
// may do, and config and commit locks. A commit with nothing to commit
// answers "There are no changes to commit." without a job. The management
// listener presents the certificate of the profile bound to management in
// the running configuration, so a change is seen only once committed. With
// Config.ServeGlobalProtect it also serves a GlobalProtect portal and
// gateway, each with the certificate of its own profile.
//
// Answers follow the XML API's shapes: <response status="success|error"
// code="…"> with <msg>/<line> texts, HTTP 403 with "Invalid Credential" for
// a bad login or key. Every request's method, URI and headers are recorded
// (Requests), so tests can check that no secret travels in a URL, and Calls
// renders them the way the panos driver's request table names them.
package panoslab

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Names in the emulator's initial configuration.
const (
	// DeviceName is the device entry every firewall configuration has.
	DeviceName = "localhost.localdomain"
	// VSys is the virtual system holding GlobalProtect.
	VSys = "vsys1"
	// InitialCertificateName is the certificate (and SSL/TLS service
	// profile) the device starts with; it is not one ottr created.
	InitialCertificateName = "mgmt-initial"
	// GlobalProtectPortal and GlobalProtectGateway are the GlobalProtect
	// entries of the initial configuration.
	GlobalProtectPortal  = "GP-Portal"
	GlobalProtectGateway = "GP-Gateway"
	// SoftwareVersion is what <show><system><info> reports.
	SoftwareVersion = "10.2.9"
)

// failureMessage is the commit error FailInstalls produces.
const failureMessage = "Commit failed: mgmt-server rejected the configuration (emulated fault)"

// maxRequests bounds the request log of a long-running lab device.
const maxRequests = 500

// Config describes one emulated firewall.
type Config struct {
	// Name is the device's host name: CN and SAN of its initial
	// self-signed certificate.
	Name string
	// Addr is the management listen address. Default "127.0.0.1:0".
	Addr string
	// Listen opens the device's listening sockets; nil: net.Listen("tcp",
	// addr). The lab passes one that puts its devices on sockets they
	// share (internal/lab/addrmux), so a large fleet does not need a file
	// descriptor per device and port. The GlobalProtect portal and
	// gateway, on free ports, listen on sockets of their own.
	Listen func(addr string) (net.Listener, error)
	// Username and Password are the administrator login keygen accepts.
	Username string
	Password string
	// InitialCertificate is served at start (and stored as
	// InitialCertificateName); nil: a self-signed ECDSA P-256 one for Name.
	InitialCertificate *tls.Certificate
	// CommitPolls is how many <show><jobs> polls of a commit job answer
	// "ACT" before the job is reported finished. Default 1.
	CommitPolls int
	// ServeGlobalProtect starts TLS listeners for the GlobalProtect portal
	// and gateway (PortalAddr, GatewayAddr).
	ServeGlobalProtect bool
	// IgnoreKeyHeader makes the device take the API key only from a key
	// parameter, never from the X-PAN-KEY header: what a PAN-OS 8.x device
	// may do, as only the guides for PAN-OS 9.1 and later document the header.
	IgnoreKeyHeader bool
	// Now dates certificates and jobs. Default time.Now.
	Now func() time.Time
	// Logger receives one debug line per request, without secrets.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.CommitPolls <= 0 {
		c.CommitPolls = 1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Request is one API request as the device received it. It never holds the
// API key or password form values.
type Request struct {
	Method string
	// URI is the request target as sent: path and query string.
	URI    string
	Header http.Header
	// KeyIn says where the request carried an API key: "header",
	// "query", "body", several of them comma-separated, or "".
	KeyIn string
	// Type, Action, XPath, Cmd, Category, CertificateName, Format and
	// IncludeKey are the request's parameters, from the query string or the
	// body.
	Type, Action, XPath, Cmd, Category, CertificateName, Format, IncludeKey string
}

// Device is one running emulated firewall.
type Device struct {
	cfg Config
	log *slog.Logger

	listener net.Listener
	server   *http.Server
	gp       []*http.Server
	portalLn net.Listener
	gwLn     net.Listener

	mu        sync.Mutex
	candidate *node
	running   *node
	// changes holds, per administrator, the xpaths they changed in the
	// candidate since their last commit; "/config" means everything.
	changes  map[string][]xpath
	saved    map[string]*node
	keys     map[string]crypto.Signer
	apiKeys  map[string]string
	jobs     map[int]*job
	nextJob  int
	requests []Request
	// loaded is set by a load config and cleared by the force commit
	// PAN-OS then requires.
	loaded bool
	// configLocks and commitLocks map lock holders to their comments.
	configLocks map[string]string
	commitLocks map[string]string

	fallback     *tls.Certificate
	mgmtCert     atomic.Pointer[tls.Certificate]
	portalCert   atomic.Pointer[tls.Certificate]
	gatewayCert  atomic.Pointer[tls.Certificate]
	failInstalls atomic.Bool
	exported     atomic.Bool

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start builds the device's initial configuration and starts its
// management listener. It runs until Close or until ctx ends.
func Start(ctx context.Context, c Config) (*Device, error) {
	c = c.withDefaults()
	switch {
	case c.Name == "":
		return nil, errors.New("lab panos: Config.Name is empty")
	case c.Username == "" || c.Password == "":
		return nil, errors.New("lab panos: Config.Username and Config.Password are required")
	}
	d := &Device{
		cfg:     c,
		log:     c.Logger.With("device", c.Name),
		changes: map[string][]xpath{},
		saved:   map[string]*node{},
		keys:    map[string]crypto.Signer{},
		apiKeys: map[string]string{},
		jobs:    map[int]*job{},
		nextJob: 1,

		configLocks: map[string]string{},
		commitLocks: map[string]string{},
	}
	initial := c.InitialCertificate
	if initial == nil {
		var err error
		if initial, err = selfSigned(c.Name, c.Now()); err != nil {
			return nil, fmt.Errorf("lab panos %s: initial certificate: %w", c.Name, err)
		}
	}
	if err := d.buildInitialConfig(initial); err != nil {
		return nil, fmt.Errorf("lab panos %s: %w", c.Name, err)
	}
	d.fallback = initial
	d.refreshServed()

	var err error
	if d.listener, err = c.listen(c.Addr); err != nil {
		return nil, fmt.Errorf("lab panos %s: listen: %w", c.Name, err)
	}
	d.server = d.newServer(d, &d.mgmtCert)
	d.serve(d.server, d.listener)
	if c.ServeGlobalProtect {
		if err := d.startGlobalProtect(); err != nil {
			_ = d.Close()
			return nil, fmt.Errorf("lab panos %s: %w", c.Name, err)
		}
	}
	context.AfterFunc(ctx, func() { _ = d.Close() })
	return d, nil
}

func (d *Device) newServer(h http.Handler, cert *atomic.Pointer[tls.Certificate]) *http.Server {
	return &http.Server{
		Handler: h,
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// New handshakes see a commit at once; open connections keep
			// the certificate they started with, as on the device.
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert.Load(), nil },
		},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		// Clients that reject the certificate are expected; their
		// handshake errors are debug noise, not errors.
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
}

func (d *Device) serve(s *http.Server, ln net.Listener) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = s.ServeTLS(ln, "", "")
	}()
}

// startGlobalProtect serves the portal and the gateway on their own ports;
// they answer any request with a one-line page.
func (d *Device) startGlobalProtect() error {
	host, _, err := net.SplitHostPort(d.cfg.Addr)
	if err != nil {
		return err
	}
	page := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = fmt.Fprintf(w, "GlobalProtect %s\n", name)
		})
	}
	if d.portalLn, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
		return fmt.Errorf("portal listener: %w", err)
	}
	if d.gwLn, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
		_ = d.portalLn.Close()
		return fmt.Errorf("gateway listener: %w", err)
	}
	portal := d.newServer(page("portal"), &d.portalCert)
	gateway := d.newServer(page("gateway"), &d.gatewayCert)
	d.gp = []*http.Server{portal, gateway}
	d.serve(portal, d.portalLn)
	d.serve(gateway, d.gwLn)
	return nil
}

// buildInitialConfig writes the configuration a freshly set-up firewall of
// the lab has: the initial certificate in an SSL/TLS service profile bound
// to management and to a GlobalProtect portal and gateway.
func (d *Device) buildInitialConfig(initial *tls.Certificate) error {
	signer, ok := initial.PrivateKey.(crypto.Signer)
	if !ok {
		return errors.New("the initial certificate's private key is not a crypto.Signer")
	}
	leaf, err := x509.ParseCertificate(initial.Certificate[0])
	if err != nil {
		return fmt.Errorf("initial certificate: %w", err)
	}
	var chainPEM []byte
	for _, der := range initial.Certificate {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	cert := &node{tag: "entry", attrs: nameAttr(InitialCertificateName)}
	cert.setChildText("public-key", string(chainPEM))
	cert.setChildText("private-key", d.storeKey(signer))
	describeCertificate(cert, leaf)

	profile := fmt.Sprintf(`<entry name=%q><protocol-settings><min-version>tls1-2</min-version>`+
		`<max-version>max</max-version></protocol-settings><certificate>%s</certificate></entry>`,
		InitialCertificateName, InitialCertificateName)
	doc := fmt.Sprintf(`<config version=%q urldb="paloaltonetworks">
<mgt-config><users><entry name=%q><permissions><role-based><superuser>yes</superuser></role-based></permissions></entry></users></mgt-config>
<shared><certificate/><ssl-tls-service-profile>%s</ssl-tls-service-profile></shared>
<devices><entry name=%q>
 <deviceconfig><system><hostname>%s</hostname><ssl-tls-service-profile>%s</ssl-tls-service-profile></system></deviceconfig>
 <vsys><entry name=%q><global-protect>
  <global-protect-portal><entry name=%q><portal-config><ssl-tls-service-profile>%s</ssl-tls-service-profile></portal-config></entry></global-protect-portal>
  <global-protect-gateway><entry name=%q><ssl-tls-service-profile>%s</ssl-tls-service-profile></entry></global-protect-gateway>
 </global-protect></entry></vsys>
</entry></devices>
</config>`, SoftwareVersion, xmlEscaper.Replace(d.cfg.Username), profile, DeviceName,
		xmlEscaper.Replace(d.cfg.Name), InitialCertificateName, VSys,
		GlobalProtectPortal, InitialCertificateName, GlobalProtectGateway, InitialCertificateName)
	root, err := parseElement(doc)
	if err != nil {
		return fmt.Errorf("initial configuration: %w", err)
	}
	root.path("shared", "certificate").children = []*node{cert}
	d.candidate = root
	d.running = root.clone()
	return nil
}

// storeKey keeps a private key in the device's key store and returns what
// the configuration holds in its place: an opaque reference, as a firewall
// holds the key encrypted with its master key.
func (d *Device) storeKey(k crypto.Signer) string {
	ref := make([]byte, 16)
	_, _ = rand.Read(ref)
	id := hex.EncodeToString(ref)
	d.keys[id] = k
	return "-AQ==" + id
}

func (d *Device) keyFor(privateKey string) crypto.Signer {
	if len(privateKey) < 5 {
		return nil
	}
	return d.keys[privateKey[5:]]
}

// Binding xpaths of the services the emulator serves.
func managementBinding() string {
	return fmt.Sprintf("/config/devices/entry[@name='%s']/deviceconfig/system/ssl-tls-service-profile", DeviceName)
}

func portalBinding() string {
	return fmt.Sprintf("/config/devices/entry[@name='%s']/vsys/entry[@name='%s']/global-protect/global-protect-portal/entry[@name='%s']/portal-config/ssl-tls-service-profile",
		DeviceName, VSys, GlobalProtectPortal)
}

func gatewayBinding() string {
	return fmt.Sprintf("/config/devices/entry[@name='%s']/vsys/entry[@name='%s']/global-protect/global-protect-gateway/entry[@name='%s']/ssl-tls-service-profile",
		DeviceName, VSys, GlobalProtectGateway)
}

// serviceBinding is a place in the configuration that names the SSL/TLS
// service profile of a service.
type serviceBinding struct{ what, xpath string }

func serviceBindings() []serviceBinding {
	return []serviceBinding{
		{"deviceconfig -> system -> ssl-tls-service-profile", managementBinding()},
		{"global-protect -> global-protect-portal -> " + GlobalProtectPortal + " -> portal-config -> ssl-tls-service-profile", portalBinding()},
		{"global-protect -> global-protect-gateway -> " + GlobalProtectGateway + " -> ssl-tls-service-profile", gatewayBinding()},
	}
}

// refreshServed points every listener at the certificate its binding names
// in the running configuration. Callers hold d.mu or own d exclusively.
func (d *Device) refreshServed() {
	d.mgmtCert.Store(d.servedFor(managementBinding()))
	d.portalCert.Store(d.servedFor(portalBinding()))
	d.gatewayCert.Store(d.servedFor(gatewayBinding()))
}

// servedFor resolves binding -> profile -> certificate in the running
// configuration. A service with no usable profile serves the device's
// default certificate, as PAN-OS does.
func (d *Device) servedFor(binding string) *tls.Certificate {
	p, _ := parseXPath(binding)
	b := find(d.running, p)
	if b == nil || b.text == "" {
		return d.fallback
	}
	profile := d.running.path("shared", "ssl-tls-service-profile").entry(b.text)
	cert, err := d.tlsCertificate(d.running, profile.textOf("certificate"))
	if err != nil {
		d.log.Debug("serving the default certificate", "binding", binding, "err", err)
		return d.fallback
	}
	return cert
}

// tlsCertificate builds a servable certificate from a certificate entry.
func (d *Device) tlsCertificate(root *node, name string) (*tls.Certificate, error) {
	entry := root.path("shared", "certificate").entry(name)
	if entry == nil {
		return nil, fmt.Errorf("certificate %q does not exist", name)
	}
	chain := parseCertificates([]byte(entry.textOf("public-key")))
	if len(chain) == 0 {
		return nil, fmt.Errorf("certificate %q has no certificate, only a CSR", name)
	}
	key := d.keyFor(entry.textOf("private-key"))
	if key == nil {
		return nil, fmt.Errorf("certificate %q has no private key", name)
	}
	out := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// Addr returns the management address: the XML API and the managed TLS
// certificate.
func (d *Device) Addr() string { return d.listener.Addr().String() }

// TLSAddr returns where the management certificate is served: Addr, as the
// API is on the management interface.
func (d *Device) TLSAddr() string { return d.Addr() }

// Port returns the management port.
func (d *Device) Port() int { return d.listener.Addr().(*net.TCPAddr).Port }

// PortalAddr and GatewayAddr return the GlobalProtect listeners' addresses,
// or "" without Config.ServeGlobalProtect.
func (d *Device) PortalAddr() string {
	if d.portalLn == nil {
		return ""
	}
	return d.portalLn.Addr().String()
}

// GatewayAddr: see PortalAddr.
func (d *Device) GatewayAddr() string {
	if d.gwLn == nil {
		return ""
	}
	return d.gwLn.Addr().String()
}

// RouteOptions returns the panos route options that reach this device's API;
// the caller adds ca_file.
func (d *Device) RouteOptions() map[string]any {
	return map[string]any{"api_port": d.Port()}
}

// ServedChain returns the chain the management interface presents now.
func (d *Device) ServedChain() []*x509.Certificate {
	cert := d.mgmtCert.Load()
	var out []*x509.Certificate
	for _, der := range cert.Certificate {
		if c, err := x509.ParseCertificate(der); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// PrivateKeyExported reports whether a client ever asked for a private key
// in a way the device would have honoured (export with include-key=yes or
// as PKCS#12). The emulator refuses such requests but records them.
func (d *Device) PrivateKeyExported() bool { return d.exported.Load() }

// FailInstalls makes every commit job fail (true) or work again (false).
func (d *Device) FailInstalls(fail bool) { d.failInstalls.Store(fail) }

// FailureMessage is text the failed commit's job details contain.
func (d *Device) FailureMessage() string { return failureMessage }

// Close stops every listener and waits for them. It is safe to call twice.
func (d *Device) Close() error {
	var err error
	d.closeOnce.Do(func() {
		servers := append([]*http.Server{d.server}, d.gp...)
		for _, s := range servers {
			if s != nil {
				err = errors.Join(err, ignoreClosed(s.Close()))
			}
		}
		// A Close right after Start can beat Serve registering the
		// listener, so the listeners are closed here too.
		for _, ln := range []net.Listener{d.listener, d.portalLn, d.gwLn} {
			if ln != nil {
				err = errors.Join(err, ignoreClosed(ln.Close()))
			}
		}
		d.wg.Wait()
	})
	return err
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// selfSigned makes the certificate of a factory-fresh lab device: ECDSA
// P-256 (cheap when hundreds start), valid a year, usable as its own trust
// anchor so a lab can put it in a route's ca_file.
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
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"ottr lab PAN-OS"}},
		DNSNames:              []string{name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses, tmpl.DNSNames = []net.IP{ip}, nil
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

// parseCertificates returns every CERTIFICATE block of a PEM bundle that
// parses.
func parseCertificates(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// describeCertificate fills the read-only fields PAN-OS shows for a
// certificate entry.
func describeCertificate(entry *node, leaf *x509.Certificate) {
	entry.setChildText("common-name", leaf.Subject.CommonName)
	entry.setChildText("subject", "/CN="+leaf.Subject.CommonName)
	entry.setChildText("issuer", "/CN="+leaf.Issuer.CommonName)
	entry.setChildText("not-valid-before", leaf.NotBefore.UTC().Format("Jan _2 15:04:05 2006 GMT"))
	entry.setChildText("not-valid-after", leaf.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT"))
	entry.setChildText("expiry-epoch", strconv.FormatInt(leaf.NotAfter.Unix(), 10))
	algorithm := "RSA"
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); ok {
		algorithm = "EC"
	}
	entry.setChildText("algorithm", algorithm)
}

// listen opens a listening socket on addr, through Listen when set.
func (c Config) listen(addr string) (net.Listener, error) {
	if c.Listen != nil {
		return c.Listen(addr)
	}
	return net.Listen("tcp", addr)
}
