// Package bigiplab emulates an F5 BIG-IP (TMOS 14.x–17.x) as ottr's bigip
// driver sees it through iControl REST: token login, sys crypto key (with
// gen-csr), csr and cert, file uploads, util bash for the two read-only
// commands the driver runs, client-ssl profiles, sys httpd, internal data
// groups and transactions. Paths, verbs, property names and the JSON error
// shape ({"code":…,"message":…,"errorStack":[]}) follow F5's documentation.
//
// The device serves its management API over TLS on Addr with the sys httpd
// certificate, and a virtual server using the client-ssl profile on
// TLSAddr. A new handshake on the virtual server sees a newly committed
// certificate at once; httpd, as F5's own bigip_device_certificate module
// assumes, serves a new certificate only once it is restarted (`tmsh
// restart /sys service httpd` through util bash) or the device reboots.
// Keys are generated in the emulator and never leave it: every response is
// checked for a PEM private key (PrivateKeyExported).
//
// Like a real BIG-IP the device keeps a running and a saved configuration:
// every change goes to the running one, `save sys config` (POST
// /mgmt/tm/sys/config) copies it to the saved one, and Reboot loads the
// saved one again. Files are on disk, not in the configuration: an object
// deleted since the last save leaves a saved configuration that no longer
// loads.
//
// Where F5 does not document what the device answers, the emulator is
// strict: a client-ssl certKeyChain entry sent with the read-only
// properties a GET returns (certReference, keyReference, chainReference,
// appService, usage) is refused with a 400, in the words the device uses
// for a property a modify may not carry.
//
// Many devices run in one process: each is two listeners and its state,
// with no goroutine of its own beyond the listeners'.
package bigiplab

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Targets a device can be set up for.
const (
	TargetClientSSL = "client-ssl"
	TargetHTTPD     = "httpd"
)

// failureMessage is the reason a commit fails while FailInstalls is set.
const failureMessage = "01070712:3: Caught configuration exception (0), Failed to load the new SSL certificate and key - sslmgmt.cpp, line 1137."

// saveFailureMessage is the answer to a save while FailSaves is set.
const saveFailureMessage = "01070711:3: Caught system exception during configuration save: /config/bigip.conf: No space left on device"

// Initial objects and files.
const (
	initialKeyName   = "default.key"
	initialCertName  = "default.crt"
	initialChainName = "default-chain.crt"
	httpdCertFile    = "/etc/httpd/conf/ssl.crt/server.crt"
	httpdKeyFile     = "/etc/httpd/conf/ssl.key/server.key"
	httpdChainFile   = "/etc/httpd/conf/ssl.crt/server-chain.crt"
)

// Config describes one emulated BIG-IP. Zero values mean the documented
// defaults.
type Config struct {
	// Name is the device's host name: CN and SAN of its self-signed
	// initial certificate.
	Name string
	// Addr is the management (iControl REST) listen address, a loopback IP
	// and a port. Default "127.0.0.1:0".
	Addr string
	// Listen opens the device's listening sockets; nil: net.Listen("tcp",
	// addr). The lab passes one that puts its devices on sockets they
	// share (internal/lab/addrmux), so a large fleet does not need a file
	// descriptor per device and port.
	Listen func(addr string) (net.Listener, error)
	// Username and Password are the admin login the device accepts.
	Username string
	Password string
	// InitialCertificate is served at start, by the client-ssl profile and
	// by httpd; nil: a self-signed certificate for Name.
	InitialCertificate *tls.Certificate
	// InitialKeyPassphrase, when set, protects the initial key: the
	// profile's entry carries it, and a GET shows it encrypted.
	InitialKeyPassphrase string
	// Role is the login's role on all partitions, as GET
	// /mgmt/tm/auth/user/NAME reports it. Default "admin".
	Role string
	// Logger receives one debug line per request. Default: discard.
	Logger *slog.Logger

	// Target is what RouteOptions rotate and TLSAddr serves: TargetClientSSL
	// (default) or TargetHTTPD.
	Target string
	// Partition holds the profile. Default "Common".
	Partition string
	// Profile is the client-ssl profile's name. Default "ottr-lab_clientssl".
	Profile string
	// VirtualAddr is the listen address of the virtual server that uses
	// the profile (TargetClientSSL only). Default "127.0.0.1:0".
	VirtualAddr string
	// Version is the TMOS version in selfLinks. Default "15.1.10".
	Version string
	// RecordRequests keeps every request for Requests.
	RecordRequests bool
	// Now is the device clock (token expiry). Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.VirtualAddr == "" {
		c.VirtualAddr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Target == "" {
		c.Target = TargetClientSSL
	}
	if c.Partition == "" {
		c.Partition = "Common"
	}
	if c.Profile == "" {
		c.Profile = "ottr-lab_clientssl"
	}
	if c.Version == "" {
		c.Version = "15.1.10"
	}
	if c.Role == "" {
		c.Role = "admin"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("no Name")
	case c.Username == "" || c.Password == "":
		return errors.New("a username and a password are required: the device would accept anyone")
	case c.Target != TargetClientSSL && c.Target != TargetHTTPD:
		return fmt.Errorf("the target must be %q or %q, got %q", TargetClientSSL, TargetHTTPD, c.Target)
	case !partitionPattern.MatchString(c.Partition):
		return fmt.Errorf("invalid Partition %q", c.Partition)
	case !namePattern.MatchString(c.Profile):
		return fmt.Errorf("invalid Profile %q", c.Profile)
	}
	return nil
}

// Device is one running emulated BIG-IP.
type Device struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// st is the running configuration, saved the saved one.
	st    *state
	saved *state
	// loadFailure is why the last reboot could not load the saved
	// configuration; the virtual server is down while it is set.
	loadFailure  string
	tokens       map[string]*authToken
	transactions map[int64]*transaction
	downloads    map[string][]byte
	requests     []Request
	nextTransID  int64
	opID         int64
	overwrites   int

	failInstalls atomic.Bool
	failSaves    atomic.Bool
	asyncCommits atomic.Bool
	ignoreSANs   atomic.Bool
	exported     atomic.Bool
	// commitAnswerState, when set, replaces the state a commit answers
	// with; guarded by mu.
	commitAnswerState string
	// dropCommitAnswers closes the connection instead of answering a
	// commit.
	dropCommitAnswers atomic.Bool

	mgmtCert atomic.Pointer[tls.Certificate]
	vsCert   atomic.Pointer[tls.Certificate]

	apiListener net.Listener
	vsListener  net.Listener
	apiServer   *http.Server
	vsServer    *http.Server
	wg          sync.WaitGroup
	closeOnce   sync.Once
}

// Start sets up the device's configuration and starts its listeners. The
// device runs until Close or until ctx ends.
func Start(ctx context.Context, c Config) (*Device, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("lab bigip: %w", err)
	}
	d := &Device{
		cfg: c, log: c.Logger, st: newState(),
		tokens: map[string]*authToken{}, transactions: map[int64]*transaction{}, downloads: map[string][]byte{},
	}
	initial := c.InitialCertificate
	if initial == nil {
		var err error
		if initial, err = selfSigned(c.Name, c.Now()); err != nil {
			return nil, fmt.Errorf("lab bigip %s: initial certificate: %w", c.Name, err)
		}
	}
	if err := d.setUp(initial); err != nil {
		return nil, fmt.Errorf("lab bigip %s: %w", c.Name, err)
	}
	d.saved = d.st.clone()
	d.refreshVirtual()
	d.restartHTTPD()

	var err error
	if d.apiListener, err = c.listen(c.Addr); err != nil {
		return nil, fmt.Errorf("lab bigip %s: management listener: %w", c.Name, err)
	}
	d.apiServer = &http.Server{
		Handler: d,
		// BIG-IP's REST API is HTTP/1.1 behind Apache httpd.
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return d.mgmtCert.Load(), nil },
		},
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	d.listen(d.apiServer, d.apiListener)
	if c.Target == TargetClientSSL {
		if d.vsListener, err = c.listen(c.VirtualAddr); err != nil {
			_ = d.apiServer.Close()
			d.wg.Wait()
			return nil, fmt.Errorf("lab bigip %s: virtual server listener: %w", c.Name, err)
		}
		d.vsServer = &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = fmt.Fprintln(w, "ottr lab virtual server")
			}),
			ReadHeaderTimeout: 10 * time.Second,
			TLSConfig: &tls.Config{
				MinVersion: tls.VersionTLS12,
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
					if cert := d.vsCert.Load(); cert != nil {
						return cert, nil
					}
					return nil, errors.New("the virtual server has no certificate: the configuration did not load")
				},
			},
			ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
		}
		d.listen(d.vsServer, d.vsListener)
	}
	context.AfterFunc(ctx, func() { _ = d.Close() })
	return d, nil
}

func (d *Device) listen(srv *http.Server, l net.Listener) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		_ = srv.ServeTLS(l, "", "")
	}()
}

// setUp writes the factory configuration: the initial certificate as the
// objects default.key, default.crt (and default-chain.crt for its
// intermediates) used by the profile, and as the httpd files.
func (d *Device) setUp(initial *tls.Certificate) error {
	certs := make([]*x509.Certificate, 0, len(initial.Certificate))
	for _, der := range initial.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("initial certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return errors.New("initial certificate holds no certificate")
	}
	keySigner, ok := initial.PrivateKey.(crypto.Signer)
	if !ok {
		return errors.New("initial certificate has no private key that can sign")
	}
	keyPEM, err := encodeKey(keySigner)
	if err != nil {
		return fmt.Errorf("initial key: %w", err)
	}
	st := d.st
	p := "/" + d.cfg.Partition + "/"
	gen := st.nextGeneration()
	key := &keyObject{fullPath: p + initialKeyName, signer: keySigner, passphrase: d.cfg.InitialKeyPassphrase, generation: gen}
	key.cachePath = st.filestorePath("certificate_key_d", key.fullPath, gen)
	key.keyType, key.keySize, key.curveName = describeKey(keySigner)
	st.keys[key.fullPath] = key
	st.files[key.cachePath] = keyPEM
	leaf := &certObject{fullPath: p + initialCertName, certs: certs[:1], generation: st.nextGeneration()}
	leaf.cachePath = st.filestorePath("certificate_d", leaf.fullPath, leaf.generation)
	st.certs[leaf.fullPath] = leaf
	st.files[leaf.cachePath] = encodeCerts(leaf.certs)
	entry := certKeyChainEntry{Name: "default", Cert: leaf.fullPath, Key: key.fullPath, Passphrase: key.passphrase}
	st.partitions[d.cfg.Partition] = true

	st.httpd = httpdConfig{certFile: httpdCertFile, keyFile: httpdKeyFile}
	st.files[httpdCertFile] = encodeCerts(certs[:1])
	st.files[httpdKeyFile] = keyPEM
	if len(certs) > 1 {
		chain := &certObject{fullPath: p + initialChainName, certs: certs[1:], generation: st.nextGeneration()}
		chain.cachePath = st.filestorePath("certificate_d", chain.fullPath, chain.generation)
		st.certs[chain.fullPath] = chain
		st.files[chain.cachePath] = encodeCerts(chain.certs)
		entry.Chain = chain.fullPath
		st.httpd.chainFile = httpdChainFile
		st.files[httpdChainFile] = encodeCerts(certs[1:])
	}
	profile := &clientSSLProfile{fullPath: p + d.cfg.Profile, entries: []certKeyChainEntry{entry}, generation: st.nextGeneration()}
	st.profiles[profile.fullPath] = profile
	return nil
}

// refreshVirtual recomputes what the virtual server presents: the
// profile's certificate, as soon as the configuration changes. The caller
// holds d.mu (or is Start, before the listeners exist).
func (d *Device) refreshVirtual() {
	if cert, err := d.st.profileCertificate("/" + d.cfg.Partition + "/" + d.cfg.Profile); err == nil {
		d.vsCert.Store(cert)
	} else {
		d.log.Warn("bigip lab: virtual server keeps its certificate", "device", d.cfg.Name, "error", err)
	}
}

// restartHTTPD has httpd load the files sys httpd names, as a restart of
// the service does; it reports why it kept its certificate, if it did. The
// caller holds d.mu (or is Start).
func (d *Device) restartHTTPD() error {
	cert, err := d.st.httpdCertificate()
	if err != nil {
		d.log.Warn("bigip lab: httpd keeps its certificate", "device", d.cfg.Name, "error", err)
		return err
	}
	d.mgmtCert.Store(cert)
	return nil
}

// Name returns the device's host name.
func (d *Device) Name() string { return d.cfg.Name }

// Addr returns the management address the API listens on.
func (d *Device) Addr() string { return d.apiListener.Addr().String() }

// TLSAddr returns where the rotated certificate is served: the virtual
// server for TargetClientSSL, the management address for TargetHTTPD.
func (d *Device) TLSAddr() string {
	if d.vsListener != nil {
		return d.vsListener.Addr().String()
	}
	return d.Addr()
}

// RouteOptions returns the bigip driver route options that rotate this
// device's target; the caller adds ca_file.
func (d *Device) RouteOptions() map[string]any {
	o := map[string]any{
		"api_port": d.apiListener.Addr().(*net.TCPAddr).Port,
		"target":   d.cfg.Target,
	}
	if d.cfg.Target == TargetClientSSL {
		o["profile"] = d.cfg.Profile
		if d.cfg.Partition != "Common" {
			o["partition"] = d.cfg.Partition
		}
	}
	return o
}

// PrivateKeyExported reports whether any response carried a PEM private key.
func (d *Device) PrivateKeyExported() bool { return d.exported.Load() }

// FailInstalls makes every transaction commit, and every direct change of a
// profile or of httpd, fail with an F5-style message (true), leaving the
// configuration as it was, or work again (false).
func (d *Device) FailInstalls(fail bool) { d.failInstalls.Store(fail) }

// FailureMessage returns text the message of a failed install contains.
func (d *Device) FailureMessage() string { return "01070712:3: Caught configuration exception" }

// FailSaves makes `save sys config` fail with SaveFailureMessage (true), or
// work again (false).
func (d *Device) FailSaves(fail bool) { d.failSaves.Store(fail) }

// SaveFailureMessage is the message of a failed save.
func (d *Device) SaveFailureMessage() string { return saveFailureMessage }

// SaveConfig saves the running configuration, as an operator's `tmsh save
// sys config` does.
func (d *Device) SaveConfig() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.saved = d.st.clone()
}

// Reboot restarts the device: the saved configuration is loaded and
// becomes the running one, httpd and the virtual server serve what it
// names, and every token and transaction is gone. Files stay as they are on
// disk: when the saved configuration names a key or certificate whose file
// was deleted since, the load fails as mcpd's does, Reboot returns the
// reason and the virtual server serves nothing until the next Reboot.
func (d *Device) Reboot() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.tokens)
	clear(d.transactions)
	loaded := d.saved.clone()
	loaded.files = d.st.files
	d.st = loaded
	d.loadFailure = ""
	if missing := loaded.missingFiles(loaded.files); len(missing) > 0 {
		d.loadFailure = fmt.Sprintf("01070712:3: Caught configuration exception (0), unable to open the file of %s.", strings.Join(missing, ", "))
		d.vsCert.Store(nil)
		return fmt.Errorf("lab bigip %s: the saved configuration does not load: %s", d.cfg.Name, d.loadFailure)
	}
	d.refreshVirtual()
	if err := d.restartHTTPD(); err != nil {
		return fmt.Errorf("lab bigip %s: httpd does not start: %w", d.cfg.Name, err)
	}
	return nil
}

// Generation returns the running configuration's change counter, which
// every change of the configuration increases.
func (d *Device) Generation() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.generation
}

// AsyncCommits makes commits answer 202 VALIDATING and report their outcome
// only to a later GET of the transaction, as asynchronous transactions do.
func (d *Device) AsyncCommits(async bool) { d.asyncCommits.Store(async) }

// DropCommitAnswers makes the device close the connection instead of
// answering a transaction commit, after running it, as a management
// interface whose httpd restarts under the client does.
func (d *Device) DropCommitAnswers(drop bool) { d.dropCommitAnswers.Store(drop) }

// AnswerCommitsWithState makes a commit run as usual but answer 200 with
// this state instead of the outcome, as a device answering in a way the
// client does not know would; "" answers normally again.
func (d *Device) AnswerCommitsWithState(state string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.commitAnswerState = state
}

// IgnoreSANs makes key generation drop the requested subject alternative
// names from the CSR, as a device that ignored them would.
func (d *Device) IgnoreSANs(ignore bool) { d.ignoreSANs.Store(ignore) }

// ExpireTokens ends every issued token, as their timeout would.
func (d *Device) ExpireTokens() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.tokens)
}

// ActiveTokens returns how many tokens are live.
func (d *Device) ActiveTokens() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.tokens)
}

// Requests returns the requests received so far (Config.RecordRequests).
func (d *Device) Requests() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Request(nil), d.requests...)
}

// Binding returns the objects (client-ssl: full paths of the first
// certKeyChain entry) or files (httpd) the target uses now.
func (d *Device) Binding() (cert, key, chain string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.binding(d.st)
}

// SavedBinding is Binding in the saved configuration.
func (d *Device) SavedBinding() (cert, key, chain string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.binding(d.saved)
}

func (d *Device) binding(st *state) (cert, key, chain string) {
	if d.cfg.Target == TargetHTTPD {
		return st.httpd.certFile, st.httpd.keyFile, st.httpd.chainFile
	}
	p := st.profiles["/"+d.cfg.Partition+"/"+d.cfg.Profile]
	if p == nil || len(p.entries) == 0 {
		return "", "", ""
	}
	e := p.entries[0]
	return e.Cert, e.Key, e.Chain
}

// Objects returns the full paths of the objects of one kind: "key", "csr"
// or "cert".
func (d *Device) Objects(kind string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch kind {
	case "key":
		return sortedKeys(d.st.keys)
	case "csr":
		return sortedKeys(d.st.csrs)
	case "cert":
		return sortedKeys(d.st.certs)
	}
	return nil
}

// Certificate returns the certificates a sys crypto cert object holds.
func (d *Device) Certificate(fullPath string) ([]*x509.Certificate, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, found := d.st.certs[fullPath]
	if !found {
		return nil, false
	}
	return append([]*x509.Certificate(nil), c.certs...), true
}

// Overwrites counts installs that replaced an existing cert object.
func (d *Device) Overwrites() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.overwrites
}

// DataGroupRecords returns the records of an internal data group, by name.
func (d *Device) DataGroupRecords(fullPath string) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	g, found := d.st.dataGroups[fullPath]
	if !found {
		return nil
	}
	out := make(map[string]string, len(g.records))
	for _, r := range g.records {
		out[r.Name] = r.Data
	}
	return out
}

// Close stops both listeners and waits for them. It is safe to call twice.
func (d *Device) Close() error {
	var err error
	d.closeOnce.Do(func() {
		err = ignoreClosed(d.apiServer.Close())
		if d.vsServer != nil {
			err = errors.Join(err, ignoreClosed(d.vsServer.Close()))
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

// describeKey names a key as sys crypto key does.
func describeKey(signer crypto.Signer) (keyType string, size int, curve string) {
	switch k := signer.Public().(type) {
	case *rsa.PublicKey:
		return "rsa-private", k.N.BitLen(), ""
	case *ecdsa.PublicKey:
		for name, c := range curves {
			if c == k.Curve {
				return "ec-private", c.Params().BitSize, name
			}
		}
		return "ec-private", k.Curve.Params().BitSize, ""
	}
	return "unknown", 0, ""
}

// selfSigned makes the factory certificate: ECDSA P-256, cheap to make for
// fleets of devices.
func selfSigned(name string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"ottr lab BIG-IP"}},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if strings.Contains(name, "*") {
		tmpl.DNSNames = nil
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
