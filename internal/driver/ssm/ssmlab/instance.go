package ssmlab

import (
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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Instance states the emulator knows (EC2's names).
const (
	StatePending = "pending"
	StateRunning = "running"
	StateStopped = "stopped"
	// stateTerminated is what Close leaves an instance in.
	stateTerminated = "terminated"
)

// Defaults of InstanceConfig. Paths are relative to the instance's
// directory; route options name them under Config.PathPrefix.
const (
	DefaultReloadCommand = "systemctl reload nginx"
	DefaultCertPath      = "etc/ssl/ottr/fullchain.pem"
	DefaultKeyPath       = "etc/ssl/ottr/privkey.pem"
	DefaultPreHooksDir   = "opt/otter/hooks/pre"
	DefaultPostHooksDir  = "opt/otter/hooks/post"
)

// failureMessage is the first line a reload prints while FailInstalls is
// set.
const failureMessage = "nginx: [emerg] SSL_CTX_use_certificate() failed: reload refused by the lab's FailInstalls fault"

var (
	instanceIDPattern = regexp.MustCompile(`^i-[0-9a-f]{8}([0-9a-f]{9})?$`)
	// functionName: the reload command's first word becomes a shell
	// function, and POSIX sh (dash) only takes plain names for those.
	functionName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// InstanceConfig describes one EC2 instance of the fleet. Zero values mean
// the documented defaults.
type InstanceConfig struct {
	// Name is the instance's Name tag. Several instances may share one,
	// as on EC2.
	Name string
	// HostName is the DNS name of the TLS service: the subject of the
	// initial self-signed certificate. Default Name.
	HostName string
	// InstanceID is the EC2 instance ID. Default: a random
	// "i-" + 17 hex digits.
	InstanceID string
	// Dir is the instance's own root directory; created if missing. Files
	// already there are kept.
	Dir string
	// TLSAddr is the TLS service's listen address, a loopback IP and a
	// port. Default "127.0.0.1:0".
	TLSAddr string
	// Listen opens the device's listening sockets; nil: net.Listen("tcp",
	// addr). The lab passes one that puts its devices on sockets they
	// share (internal/lab/addrmux), so a large fleet does not need a file
	// descriptor per device and port.
	Listen func(addr string) (net.Listener, error)
	// State is the initial EC2 state. Default StateRunning.
	State string
	// Tags are more tags besides Name.
	Tags map[string]string
	// InitialCertificate is written to the certificate and key files when
	// they do not exist yet; nil: a self-signed certificate for HostName.
	InitialCertificate *tls.Certificate
	// ReloadCommand is the command that reloads the TLS service; its first
	// word must be a plain shell name. Default DefaultReloadCommand.
	ReloadCommand string
	// CertPath, KeyPath, PreHooksDir and PostHooksDir are relative to Dir.
	// Defaults DefaultCertPath, DefaultKeyPath, DefaultPreHooksDir and
	// DefaultPostHooksDir.
	CertPath     string
	KeyPath      string
	PreHooksDir  string
	PostHooksDir string
}

func (c InstanceConfig) withDefaults() (InstanceConfig, error) {
	if c.HostName == "" {
		c.HostName = c.Name
	}
	if c.InstanceID == "" {
		b := make([]byte, 9)
		if _, err := rand.Read(b); err != nil {
			return c, err
		}
		c.InstanceID = "i-" + hex.EncodeToString(b)[:17]
	}
	if c.TLSAddr == "" {
		c.TLSAddr = "127.0.0.1:0"
	}
	if c.State == "" {
		c.State = StateRunning
	}
	if c.ReloadCommand == "" {
		c.ReloadCommand = DefaultReloadCommand
	}
	c.ReloadCommand = strings.Join(strings.Fields(c.ReloadCommand), " ")
	for _, p := range []struct {
		field *string
		def   string
	}{
		{&c.CertPath, DefaultCertPath}, {&c.KeyPath, DefaultKeyPath},
		{&c.PreHooksDir, DefaultPreHooksDir}, {&c.PostHooksDir, DefaultPostHooksDir},
	} {
		if *p.field == "" {
			*p.field = p.def
		}
	}
	return c, nil
}

func (c InstanceConfig) validate() error {
	switch {
	case c.Name == "" || len(c.Name) > 256:
		return fmt.Errorf("Name must be 1 to 256 characters, got %q", c.Name)
	case c.Dir == "" || !filepath.IsAbs(c.Dir):
		return fmt.Errorf("Dir must be an absolute path, got %q", c.Dir)
	case strings.ContainsAny(c.Dir, `'"\$`+"`\n"):
		// Dir replaces the prefix inside quoted shell words; these
		// characters would end or change the quoting.
		return fmt.Errorf("Dir must not contain quotes, backslashes, $ or newlines: %q", c.Dir)
	case !instanceIDPattern.MatchString(c.InstanceID):
		return fmt.Errorf("InstanceID must look like i-0123456789abcdef0, got %q", c.InstanceID)
	case !knownState(c.State):
		return fmt.Errorf("State %q is not an EC2 instance state", c.State)
	case !functionName.MatchString(strings.SplitN(c.ReloadCommand, " ", 2)[0]):
		return fmt.Errorf("ReloadCommand must start with a plain command name (letters, digits, _), got %q", c.ReloadCommand)
	}
	for _, p := range []string{c.CertPath, c.KeyPath, c.PreHooksDir, c.PostHooksDir} {
		if filepath.IsAbs(p) {
			return fmt.Errorf("CertPath, KeyPath and the hooks directories are relative to Dir, got %q", p)
		}
	}
	return loopbackOnly(c.TLSAddr)
}

// Instance is one running emulated EC2 instance.
type Instance struct {
	svc       *Service
	cfg       InstanceConfig
	certFile  string
	keyFile   string
	privateIP string
	// prelude is the shell text that defines the reload function.
	prelude string

	tlsListener net.Listener
	tlsConfig   *tls.Config

	mu    sync.Mutex
	state string

	served       atomic.Pointer[tls.Certificate]
	failInstalls atomic.Bool
	exported     atomic.Bool
	reloads      atomic.Int64
	commands     atomic.Int64
	reloadMu     sync.Mutex

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// AddInstance creates the instance's directory and files, starts its TLS
// listener and adds it to the fleet.
func (s *Service) AddInstance(cfg InstanceConfig) (*Instance, error) {
	cfg, err := cfg.withDefaults()
	if err == nil {
		err = cfg.validate()
	}
	if err != nil {
		return nil, fmt.Errorf("lab ssm: instance %s: %w", cfg.Name, err)
	}
	inst := &Instance{
		svc:      s,
		cfg:      cfg,
		certFile: filepath.Join(cfg.Dir, filepath.FromSlash(cfg.CertPath)),
		keyFile:  filepath.Join(cfg.Dir, filepath.FromSlash(cfg.KeyPath)),
		state:    cfg.State,
		prelude:  reloadPrelude(cfg.ReloadCommand),
	}
	if err := inst.prepareFiles(); err != nil {
		return nil, fmt.Errorf("lab ssm: instance %s: %w", cfg.Name, err)
	}

	if inst.tlsListener, err = cfg.listen(cfg.TLSAddr); err != nil {
		return nil, fmt.Errorf("lab ssm: instance %s: TLS listener: %w", cfg.Name, err)
	}
	inst.tlsConfig = &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return inst.served.Load(), nil },
		MinVersion:     tls.VersionTLS12,
	}
	s.mu.Lock()
	if taken, closed := s.instanceLocked(cfg.InstanceID) != nil, s.closed; taken || closed {
		s.mu.Unlock()
		_ = inst.tlsListener.Close()
		if closed {
			return nil, fmt.Errorf("lab ssm: instance %s: the endpoint is closed", cfg.Name)
		}
		return nil, fmt.Errorf("lab ssm: instance %s: instance ID %s is taken", cfg.Name, cfg.InstanceID)
	}
	n := len(s.instances) + 1
	inst.privateIP = fmt.Sprintf("10.0.%d.%d", n/250, n%250+2)
	s.instances = append(s.instances, inst)
	s.mu.Unlock()
	inst.wg.Add(1)
	go func() {
		defer inst.wg.Done()
		inst.serveTLS()
	}()
	return inst, nil
}

// instanceLocked returns the instance with id, or nil. s.mu is held.
func (s *Service) instanceLocked(id string) *Instance {
	for _, inst := range s.instances {
		if inst.cfg.InstanceID == id {
			return inst
		}
	}
	return nil
}

// prepareFiles creates Dir and, unless the instance's files are there
// already, writes the initial certificate and key; then loads them.
func (inst *Instance) prepareFiles() error {
	if err := os.MkdirAll(inst.cfg.Dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(inst.certFile); errors.Is(err, os.ErrNotExist) {
		if err := inst.writeInitial(); err != nil {
			return fmt.Errorf("initial certificate: %w", err)
		}
	}
	cert, err := tls.LoadX509KeyPair(inst.certFile, inst.keyFile)
	if err != nil {
		return fmt.Errorf("load %s: %w", inst.certFile, err)
	}
	inst.served.Store(&cert)
	return nil
}

// writeInitial writes InitialCertificate, or a new 30-day self-signed
// certificate for HostName, so the first rotation has something to back up
// and roll back to.
func (inst *Instance) writeInitial() error {
	cert := inst.cfg.InitialCertificate
	if cert == nil {
		var err error
		if cert, err = selfSignedFor(inst.cfg.HostName, inst.svc.cfg.Now()); err != nil {
			return err
		}
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("initial key: %w", err)
	}
	var chain []byte
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	for _, dir := range []string{filepath.Dir(inst.certFile), filepath.Dir(inst.keyFile)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(inst.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(inst.certFile, chain, 0o644)
}

func selfSignedFor(name string, now time.Time) (*tls.Certificate, error) {
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
		Subject:      pkix.Name{CommonName: name, Organization: []string{"ottr lab"}},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ID returns the EC2 instance ID.
func (inst *Instance) ID() string { return inst.cfg.InstanceID }

// Name returns the instance's Name tag.
func (inst *Instance) Name() string { return inst.cfg.Name }

// HostName returns the DNS name of the instance's TLS service.
func (inst *Instance) HostName() string { return inst.cfg.HostName }

// TLSAddr returns the address the TLS service listens on.
func (inst *Instance) TLSAddr() string { return inst.tlsListener.Addr().String() }

// State returns the instance's EC2 state.
func (inst *Instance) State() string {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	return inst.state
}

// SetState changes the instance's EC2 state: only running instances take
// commands and match a "running" filter.
func (inst *Instance) SetState(state string) error {
	if !knownState(state) {
		return fmt.Errorf("lab ssm: %q is not an EC2 instance state", state)
	}
	inst.mu.Lock()
	defer inst.mu.Unlock()
	inst.state = state
	return nil
}

func knownState(state string) bool {
	_, ok := stateCodes[state]
	return ok
}

func (inst *Instance) tags() map[string]string {
	tags := make(map[string]string, len(inst.cfg.Tags)+1)
	for k, v := range inst.cfg.Tags {
		tags[k] = v
	}
	tags["Name"] = inst.cfg.Name
	return tags
}

// RouteOptions returns the linux-ssm route options that rotate this
// instance's TLS service: the endpoint's region and URL, the certificate and
// key paths and hooks directories under the path prefix, and the reload
// command. Instances with the same paths share them; the driver finds each
// by its Name tag. The caller adds ca_file.
func (inst *Instance) RouteOptions() map[string]any {
	prefix := inst.svc.cfg.PathPrefix + "/"
	options := inst.svc.RouteOptions()
	options["cert_path"] = prefix + inst.cfg.CertPath
	options["key_path"] = prefix + inst.cfg.KeyPath
	options["pre_hooks_dir"] = prefix + inst.cfg.PreHooksDir
	options["post_hooks_dir"] = prefix + inst.cfg.PostHooksDir
	options["reload_command"] = inst.cfg.ReloadCommand
	return options
}

// LocalPath maps a path as commands name it (under the path prefix) to the
// file on disk; other paths are returned unchanged.
func (inst *Instance) LocalPath(p string) string {
	if rest, ok := strings.CutPrefix(p, inst.svc.cfg.PathPrefix+"/"); ok {
		return filepath.Join(inst.cfg.Dir, filepath.FromSlash(rest))
	}
	return p
}

// CertPath and KeyPath return the on-disk files the TLS service loads.
func (inst *Instance) CertPath() string { return inst.certFile }

// KeyPath returns the on-disk key file the TLS service loads.
func (inst *Instance) KeyPath() string { return inst.keyFile }

// Served returns the leaf certificate the TLS service presents now.
func (inst *Instance) Served() *x509.Certificate { return inst.served.Load().Leaf }

// FailInstalls makes every reload fail as nginx does when its
// configuration test fails (true), or work again (false); the old
// certificate stays served.
func (inst *Instance) FailInstalls(fail bool) { inst.failInstalls.Store(fail) }

// FailureMessage returns the text a reload prints while FailInstalls is set.
func (inst *Instance) FailureMessage() string { return failureMessage }

// PrivateKeyExported reports whether any output GetCommandInvocation
// returned held a PEM private key.
func (inst *Instance) PrivateKeyExported() bool { return inst.exported.Load() }

// Reloads returns how many reloads succeeded.
func (inst *Instance) Reloads() int { return int(inst.reloads.Load()) }

// Commands returns how many commands the instance has run.
func (inst *Instance) Commands() int { return int(inst.commands.Load()) }

// scanOutput records whether output leaving the instance holds a key.
func (inst *Instance) scanOutput(outputs ...string) {
	for _, o := range outputs {
		if strings.Contains(o, privateKeyMarker) {
			inst.exported.Store(true)
		}
	}
}

// privateKeyMarker is in the armour of every PEM private key.
const privateKeyMarker = "PRIVATE KEY"

// Close terminates the instance: it takes no more commands and its TLS
// listener stops. It is safe to call twice.
func (inst *Instance) Close() error {
	var err error
	inst.closeOnce.Do(func() {
		inst.mu.Lock()
		inst.state = stateTerminated
		inst.mu.Unlock()
		if cerr := inst.tlsListener.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
		inst.wg.Wait()
	})
	return err
}

// listen opens a listening socket on addr, through Listen when set.
func (c InstanceConfig) listen(addr string) (net.Listener, error) {
	if c.Listen != nil {
		return c.Listen(addr)
	}
	return net.Listen("tcp", addr)
}
