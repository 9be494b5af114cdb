// Package linuxlab emulates a Linux host running a TLS service (nginx-like)
// behind an SSH server, for `ottr lab` and for the linux driver's tests. Many
// hosts run in one process, each with its own directory, SSH listener and TLS
// listener, or on SSH and TLS sockets all of them share (Config.SharedSSH).
//
// The SSH server really runs the commands it is sent, through /bin/sh -c
// with openssl, cp, mv and the rest from the machine, as the ottr process's
// user. It therefore only listens on loopback addresses. A command of the
// form sh -c '<script>' runs as /bin/sh -c <script>, as a login shell that
// execs a lone command (bash) would run it: one shell, not a shell forking
// another. With Config.InProcessShell, a shell interpreter inside the
// process runs the script instead, with cp, mv, rm, mkdir and chmod built
// in, and the key-and-CSR form of openssl req (see interp.go and
// openssl.go); every other program still runs for real.
// Three things are emulated:
//
//   - The file system root. Each host owns a directory (Config.Dir); commands
//     name files under a virtual prefix (Config.PathPrefix, "/ottr-lab" by
//     default), and before a command runs, every occurrence of the prefix
//     followed by "/" is replaced with the host's directory. So one route
//     (cert_path: /ottr-lab/etc/ssl/ottr/fullchain.pem) serves every
//     emulated host, and each host's files stay in its own directory. This
//     textual substitution is the emulation boundary: drivers send ordinary
//     absolute paths and know nothing of it.
//   - sudo. A command starting with "sudo -n " runs without it; with
//     Config.RequireSudo, a command that does not start so is refused as if
//     the files were root's.
//   - The service reload. The configured reload command (after removing the
//     sudo and "sh -c" wrappers) runs in-process: it loads the host's
//     certificate and key files into its TLS listener, or fails like nginx
//     and keeps serving the old certificate. Its program (systemctl) need
//     not exist on the machine: scripts find it as a shell function, so
//     "command -v systemctl" answers as on the host it stands for; called
//     from a script, it fails and says the reload is sent on its own.
//
// With Config.RecordCalls the host keeps every command it was sent, as the
// linux driver's request table names them (Calls).
//
// Every byte the SSH server sends back is scanned for a PEM private key, so
// tests can assert that no key left the host (PrivateKeyExported).
package linuxlab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/lab/addrmux"
)

// Defaults of Config.
const (
	DefaultPathPrefix    = "/ottr-lab"
	DefaultReloadCommand = "systemctl reload nginx"
	DefaultCertPath      = "etc/ssl/ottr/fullchain.pem"
	DefaultKeyPath       = "etc/ssl/ottr/privkey.pem"
)

// Config describes one emulated host. Zero values mean the documented
// defaults.
type Config struct {
	// Name is the host's name: the subject of its initial self-signed
	// certificate.
	Name string
	// Dir is the host's own root directory; created if missing. Files
	// already there (from an earlier run) are kept.
	Dir string
	// PathPrefix is the absolute path commands use to mean Dir.
	// Default DefaultPathPrefix.
	PathPrefix string
	// SSHAddr is the SSH listen address, a loopback IP and a port.
	// Default "127.0.0.1:0" (a free port).
	SSHAddr string
	// TLSAddr is the TLS listen address, a loopback IP and a port. Linux
	// routes all of 127.0.0.0/8 to the loopback interface, so each host can
	// have its own IP (127.0.1.7:8443) with no setup. Default "127.0.0.1:0".
	TLSAddr string
	// SharedSSH and SharedTLS, when set, serve the host's SSH and TLS on
	// these sockets, shared with other hosts, instead of listeners of its
	// own: SSHAddr and TLSAddr then give only the host's IP, and the port
	// is the shared socket's. A fleet of thousands of hosts needs two file
	// descriptors in all rather than two per host.
	SharedSSH, SharedTLS *addrmux.Mux
	// User is the only login name accepted; empty accepts any.
	User string
	// AuthorizedKey and Password are the accepted credentials; at least
	// one must be set.
	AuthorizedKey ssh.PublicKey
	Password      string
	// HostKey is the SSH host key; a new Ed25519 key when nil.
	HostKey ssh.Signer
	// ReloadCommand is the command that reloads the TLS service.
	// Default DefaultReloadCommand.
	ReloadCommand string
	// CertPath and KeyPath are the files the TLS service loads, relative to
	// Dir. Defaults DefaultCertPath and DefaultKeyPath.
	CertPath string
	KeyPath  string
	// RequireSudo refuses commands that do not start with "sudo -n ".
	RequireSudo bool
	// InProcessShell runs scripts with a shell interpreter inside this
	// process, whose cp, mv, rm, mkdir and chmod are built in, as is
	// openssl's key-and-CSR command, instead of /bin/sh; other programs
	// still run as processes. Lab fleets use it so that thousands of
	// hosts on one machine spend its CPU on keys rather than on starting
	// programs.
	InProcessShell bool
	// OpenSSLProcesses, with InProcessShell, runs openssl as a program
	// even for the key-and-CSR command the in-process shell otherwise
	// runs itself (see openssl.go): to measure what the real program
	// costs a fleet.
	OpenSSLProcesses bool
	// RecordCalls keeps the calls of every command (Calls), for tests
	// that check what a driver sends.
	RecordCalls bool
	// Now dates the initial certificate. Default time.Now.
	Now func() time.Time
	// Logger receives one debug line per command. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.PathPrefix == "" {
		c.PathPrefix = DefaultPathPrefix
	}
	c.PathPrefix = strings.TrimSuffix(c.PathPrefix, "/")
	if c.SSHAddr == "" {
		c.SSHAddr = "127.0.0.1:0"
	}
	if c.TLSAddr == "" {
		c.TLSAddr = "127.0.0.1:0"
	}
	if c.ReloadCommand == "" {
		c.ReloadCommand = DefaultReloadCommand
	}
	if c.CertPath == "" {
		c.CertPath = DefaultCertPath
	}
	if c.KeyPath == "" {
		c.KeyPath = DefaultKeyPath
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
	case c.Name == "":
		return errors.New("no Name")
	case c.Dir == "" || !filepath.IsAbs(c.Dir):
		return fmt.Errorf("Dir must be an absolute path, got %q", c.Dir)
	case strings.ContainsAny(c.Dir, `'"\$`+"`\n"):
		// Dir replaces the prefix inside quoted shell words; these
		// characters would end or change the quoting.
		return fmt.Errorf("Dir must not contain quotes, backslashes, $ or newlines: %q", c.Dir)
	case !path.IsAbs(c.PathPrefix) || c.PathPrefix == "":
		return fmt.Errorf("PathPrefix must be an absolute path, got %q", c.PathPrefix)
	case c.AuthorizedKey == nil && c.Password == "":
		return errors.New("neither AuthorizedKey nor Password is set: the host would accept anyone")
	case filepath.IsAbs(c.CertPath) || filepath.IsAbs(c.KeyPath):
		return errors.New("CertPath and KeyPath are relative to Dir")
	}
	for _, addr := range []string{c.SSHAddr, c.TLSAddr} {
		if err := loopbackOnly(addr); err != nil {
			return err
		}
	}
	for _, shared := range []struct {
		mux  *addrmux.Mux
		addr string
	}{{c.SharedSSH, c.SSHAddr}, {c.SharedTLS, c.TLSAddr}} {
		if shared.mux == nil {
			continue
		}
		if _, err := addrIP(shared.addr); err != nil {
			return err
		}
	}
	return nil
}

// addrIP returns the IP of addr, host:port, for a shared socket, which
// dispatches by IP.
func addrIP(addr string) (netip.Addr, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: a host on a shared socket needs an IP address of its own: %w", addr, err)
	}
	return ip, nil
}

// loopbackOnly refuses addresses off the loopback range: the SSH server runs
// real commands, so it must never be reachable from the network.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("address %q is not a loopback address: the emulated host runs real commands", addr)
	}
	return nil
}

// Host is one running emulated host.
type Host struct {
	cfg      Config
	certFile string
	keyFile  string
	hostKey  ssh.Signer

	sshServer *gliderssh.Server
	// sshListener and tlsListener are the host's own listeners; nil on a
	// shared socket, where sshAddr and tlsAddr say where it answers.
	sshListener      net.Listener
	tlsListener      net.Listener
	sshAddr, tlsAddr string
	tlsConfig        *tls.Config

	// served is the certificate the TLS listener presents.
	served      atomic.Pointer[tls.Certificate]
	failReloads atomic.Bool
	exported    atomic.Bool
	reloads     atomic.Int64
	commands    atomic.Int64
	// keysInProcess counts keys the in-process shell's openssl made.
	keysInProcess atomic.Int64
	// connections and peakConnections count open SSH connections.
	connections     atomic.Int64
	peakConnections atomic.Int64
	reloadMu        sync.Mutex
	// prelude defines the reload command's program as a shell function
	// before every script.
	prelude string

	callsMu sync.Mutex
	calls   []string

	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start creates the host's directory and files and starts its SSH and TLS
// listeners. The host runs until Close or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Host, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lab linux host: %w", err)
	}
	h := &Host{
		cfg:      cfg,
		certFile: filepath.Join(cfg.Dir, filepath.FromSlash(cfg.CertPath)),
		keyFile:  filepath.Join(cfg.Dir, filepath.FromSlash(cfg.KeyPath)),
		hostKey:  cfg.HostKey,
		prelude:  reloadPrelude(cfg.ReloadCommand),
	}
	if h.hostKey == nil {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("lab linux host %s: host key: %w", cfg.Name, err)
		}
		if h.hostKey, err = ssh.NewSignerFromKey(priv); err != nil {
			return nil, fmt.Errorf("lab linux host %s: host key: %w", cfg.Name, err)
		}
	}
	if err := h.prepareFiles(); err != nil {
		return nil, fmt.Errorf("lab linux host %s: %w", cfg.Name, err)
	}

	h.tlsConfig = &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return h.served.Load(), nil },
		MinVersion:     tls.VersionTLS12,
	}
	h.sshServer = h.newSSHServer()
	if err := h.listen(); err != nil {
		return nil, fmt.Errorf("lab linux host %s: %w", cfg.Name, err)
	}
	context.AfterFunc(ctx, func() { _ = h.Close() })
	return h, nil
}

// listen serves SSH and TLS, each on the host's own listener or on the
// shared socket of the Config.
func (h *Host) listen() error {
	var err error
	if h.sshAddr, err = h.serve(h.cfg.SharedSSH, h.cfg.SSHAddr, &h.sshListener, h.sshServer.HandleConn, func(ln net.Listener) {
		_ = h.sshServer.Serve(ln)
	}); err != nil {
		h.unlisten()
		return fmt.Errorf("SSH listener: %w", err)
	}
	if h.tlsAddr, err = h.serve(h.cfg.SharedTLS, h.cfg.TLSAddr, &h.tlsListener, h.serveConn, h.serveTLS); err != nil {
		h.unlisten()
		return fmt.Errorf("TLS listener: %w", err)
	}
	return nil
}

// serve registers handle for addr's IP on shared, or listens on addr, keeps
// the listener in *own and runs acceptLoop on it. It returns the address
// the host answers on.
func (h *Host) serve(shared *addrmux.Mux, addr string, own *net.Listener, handle addrmux.Handler, acceptLoop func(net.Listener)) (string, error) {
	if shared != nil {
		ip, err := addrIP(addr)
		if err != nil {
			return "", err
		}
		if err := shared.Handle(ip, handle); err != nil {
			return "", err
		}
		return shared.Addr(ip), nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	*own = ln
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		acceptLoop(ln)
	}()
	return ln.Addr().String(), nil
}

// unlisten stops taking connections: it closes the host's own listeners
// and removes it from the shared sockets.
func (h *Host) unlisten() error {
	var errs []error
	for _, l := range []struct {
		shared *addrmux.Mux
		addr   string
		own    net.Listener
	}{{h.cfg.SharedSSH, h.sshAddr, h.sshListener}, {h.cfg.SharedTLS, h.tlsAddr, h.tlsListener}} {
		if l.own != nil {
			errs = append(errs, ignoreClosed(l.own.Close()))
		}
		if l.shared != nil && l.addr != "" {
			if ip, err := addrIP(l.addr); err == nil {
				l.shared.Remove(ip)
			}
		}
	}
	return errors.Join(errs...)
}

// prepareFiles creates Dir and, unless the host's files are already there,
// writes a 30-day self-signed certificate for Name, so the first rotation has
// something to back up and roll back to. Then it loads the files.
func (h *Host) prepareFiles() error {
	if err := os.MkdirAll(h.cfg.Dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(h.certFile); errors.Is(err, os.ErrNotExist) {
		cert, err := writeSelfSigned(h.certFile, h.keyFile, h.cfg.Name, h.cfg.Now())
		if err != nil {
			return fmt.Errorf("initial certificate: %w", err)
		}
		h.served.Store(cert)
		return nil
	}
	cert, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return fmt.Errorf("load %s: %w", h.certFile, err)
	}
	h.served.Store(&cert)
	return nil
}

// Name returns the host's name.
func (h *Host) Name() string { return h.cfg.Name }

// HostKey returns the public SSH host key, for a known_hosts line.
func (h *Host) HostKey() ssh.PublicKey { return h.hostKey.PublicKey() }

// SSHAddr returns the address the SSH server listens on.
func (h *Host) SSHAddr() string { return h.sshAddr }

// SSHPort returns the port the SSH server listens on.
func (h *Host) SSHPort() int { return int(netip.MustParseAddrPort(h.sshAddr).Port()) }

// TLSAddr returns the address the TLS service listens on.
func (h *Host) TLSAddr() string { return h.tlsAddr }

// CertPath returns the on-disk path of the certificate file the TLS service
// loads.
func (h *Host) CertPath() string { return h.certFile }

// KeyPath returns the on-disk path of the key file the TLS service loads.
func (h *Host) KeyPath() string { return h.keyFile }

// LocalPath maps a path as commands name it (under PathPrefix) to the file
// on disk; other paths are returned unchanged.
func (h *Host) LocalPath(p string) string {
	if rest, ok := strings.CutPrefix(p, h.cfg.PathPrefix+"/"); ok {
		return filepath.Join(h.cfg.Dir, filepath.FromSlash(rest))
	}
	return p
}

// RouteOptions returns linux driver route options that rotate this host's
// TLS service: its SSH port, certificate and key paths under PathPrefix, and
// reload command. Hosts with the same Config paths and SSH port share them;
// the driver connects to the asset's ip_address.
func (h *Host) RouteOptions() map[string]any {
	return map[string]any{
		"ssh_port":       h.SSHPort(),
		"cert_path":      h.cfg.PathPrefix + "/" + h.cfg.CertPath,
		"key_path":       h.cfg.PathPrefix + "/" + h.cfg.KeyPath,
		"reload_command": h.cfg.ReloadCommand,
	}
}

// Served returns the leaf certificate the TLS service presents now.
func (h *Host) Served() *x509.Certificate { return h.served.Load().Leaf }

// ServedChain returns the chain the TLS service presents now, leaf first.
func (h *Host) ServedChain() []*x509.Certificate {
	cert := h.served.Load()
	chain := make([]*x509.Certificate, 0, len(cert.Certificate))
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			// It loaded once, so it parses.
			continue
		}
		chain = append(chain, c)
	}
	return chain
}

// FailReloads makes every reload fail (true) or work again (false).
func (h *Host) FailReloads(fail bool) { h.failReloads.Store(fail) }

// Reloads returns how many reloads succeeded.
func (h *Host) Reloads() int { return int(h.reloads.Load()) }

// KeysMadeInProcess returns how many keys the in-process shell made itself
// for an openssl req command, instead of running openssl.
func (h *Host) KeysMadeInProcess() int { return int(h.keysInProcess.Load()) }

// Commands returns how many commands the SSH server has run through the
// shell; reloads, which run in-process, are not counted.
func (h *Host) Commands() int { return int(h.commands.Load()) }

// PeakConnections returns the most SSH connections the host ever had open
// at once.
func (h *Host) PeakConnections() int { return int(h.peakConnections.Load()) }

// PrivateKeyExported reports whether any output the SSH server sent held a
// PEM private key.
func (h *Host) PrivateKeyExported() bool { return h.exported.Load() }

// Close stops both listeners, ends open SSH connections (killing their
// commands) and waits for the accept loops. It is safe to call twice.
func (h *Host) Close() error {
	var err error
	h.closeOnce.Do(func() {
		// The host's own listeners are closed here too: the server only
		// closes listeners its Serve goroutine has registered, which a
		// Close right after Start can beat.
		err = errors.Join(h.unlisten(), ignoreClosed(h.sshServer.Close()))
		h.wg.Wait()
	})
	return err
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
