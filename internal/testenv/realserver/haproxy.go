package realserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// HAProxyConfig tunes StartHAProxy.
type HAProxyConfig struct {
	// User runs HAProxy and owns its files. Default: DedicatedUser.
	User User
	// Name is the server name of the one TLS frontend.
	Name string
}

// HAProxy is a running HAProxy (Debian haproxy) in master-worker mode, run
// as User so User can reload it.
//
// The certificate and its key are two files: the frontend names CertPath
// in "crt", and HAProxy (2.2 and later, through "ssl-load-extra-files",
// whose default includes "key") loads the key from CertPath + ".key" when
// CertPath holds none. A driver that writes separate certificate and key
// files therefore needs no step that joins them into one PEM.
type HAProxy struct {
	Dir        string
	ConfigPath string
	// PIDFile holds the master's process ID.
	PIDFile string
	// MasterSocket is the master CLI ("show proc", "reload"), for a person
	// looking into a failure.
	MasterSocket string
	User         User
	Name         string
	// Addr is 127.0.0.1:Port, the TLS frontend.
	Addr string
	Port int
	// CertPath holds the certificate chain, KeyPath (CertPath + ".key")
	// its key, in a directory User owns. They start as a self-signed
	// certificate for Name.
	CertPath, KeyPath string
	// Initial is the self-signed certificate the frontend starts with.
	Initial *x509.Certificate

	program string
	proc    *process
}

// StartHAProxy starts "haproxy -W -S <socket> -p <pid> -f <conf>" in the
// foreground as cfg.User and returns once the frontend completes a TLS
// handshake.
func StartHAProxy(ctx context.Context, cfg HAProxyConfig) (h *HAProxy, err error) {
	program, err := lookProgram("haproxy", "haproxy")
	if err != nil {
		return nil, err
	}
	if err := checkWord("haproxy name", cfg.Name); err != nil {
		return nil, err
	}
	u, err := cfg.User.orDefault(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := serverDir("haproxy", &u)
	if err != nil {
		return nil, err
	}
	h = &HAProxy{
		Dir:          dir,
		ConfigPath:   filepath.Join(dir, "haproxy.cfg"),
		PIDFile:      filepath.Join(dir, "haproxy.pid"),
		MasterSocket: filepath.Join(dir, "master.sock"),
		User:         u,
		Name:         cfg.Name,
		program:      program,
	}
	defer func() {
		if err != nil {
			_ = h.Close()
			h = nil
		}
	}()
	sslDir := filepath.Join(dir, "ssl")
	if err := mkdirOwned(sslDir, u); err != nil {
		return h, err
	}
	h.CertPath = filepath.Join(sslDir, cfg.Name+".pem")
	h.KeyPath = h.CertPath + ".key"
	if h.Initial, err = writeSelfSigned(h.CertPath, h.KeyPath, cfg.Name, u); err != nil {
		return h, err
	}
	h.proc, err = startOnFreePorts(ctx, h.launch, func(ctx context.Context) error {
		return handshake(ctx, h.Addr, h.Name, h.Initial)
	})
	return h, err
}

// launch gives the frontend a free port, writes the configuration and
// starts HAProxy.
func (h *HAProxy) launch() (*process, error) {
	port, err := freePort(false)
	if err != nil {
		return nil, err
	}
	h.Port = port
	h.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := writeOwned(h.ConfigPath, []byte(h.config()), 0o644, h.User); err != nil {
		return nil, err
	}
	return startProcess("haproxy", filepath.Join(h.Dir, "haproxy.log"), &h.User,
		h.program, "-W", "-S", h.MasterSocket, "-p", h.PIDFile, "-f", h.ConfigPath)
}

func (h *HAProxy) config() string {
	return fmt.Sprintf(`global
    log stderr format raw local0 notice

defaults
    mode http
    log global
    timeout connect 5s
    timeout client 10s
    timeout server 10s

frontend tls
    bind %s ssl crt %s
    http-request return status 200 content-type text/plain string "%s\n"
`, h.Addr, h.CertPath, h.Name)
}

// ReloadCommand is the shell command that reloads HAProxy as User. It
// checks the configuration with the new files first ("haproxy -c" loads
// the certificate and its key, and fails when they do not match), because
// the reload signal itself reports nothing: on SIGUSR2 the master
// re-executes itself and forks a new worker, moments after the command has
// returned. A failed check leaves the running worker untouched.
func (h *HAProxy) ReloadCommand() string {
	return h.program + " -c -f " + h.ConfigPath + " >/dev/null && kill -USR2 \"$(cat " + h.PIDFile + ")\""
}

// Log returns the end of HAProxy's log.
func (h *HAProxy) Log() string { return tailFile(filepath.Join(h.Dir, "haproxy.log"), 8000) }

// Close stops HAProxy and removes its directory.
func (h *HAProxy) Close() error { return closeAll(h.Dir, h.proc) }
