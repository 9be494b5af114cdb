package realserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// NginxConfig tunes StartNginx.
type NginxConfig struct {
	// User runs nginx and owns its files. Default: DedicatedUser.
	User User
	// Sites are the server names of the TLS sites to serve, each on a port
	// of its own. At least one.
	Sites []string
	// Bundle gives each site one file, cert.pem, holding its key
	// followed by its certificate, which nginx takes for both
	// ssl_certificate and ssl_certificate_key.
	Bundle bool
}

// NginxSite is one TLS site: a server block on its own port.
type NginxSite struct {
	Name string
	// Addr is 127.0.0.1:Port.
	Addr string
	Port int
	// CertPath and KeyPath are the files nginx loads, in a directory of
	// their own that User owns. They start as a self-signed certificate
	// for Name, valid for SelfSignedValidity.
	CertPath, KeyPath string
	// Initial is the self-signed certificate the site starts with.
	Initial *x509.Certificate
}

// Nginx is a running nginx (Debian nginx) with its own prefix, run
// entirely as User: the master as well as the workers, so User can reload
// it. nginx ignores its "user" directive unless started by root, and the
// configuration has none.
type Nginx struct {
	// Dir is nginx's prefix (-p): configuration, pid file, temporary
	// files, log and sites.
	Dir        string
	ConfigPath string
	PIDFile    string
	User       User
	Sites      []NginxSite

	program string
	proc    *process
}

// StartNginx starts "nginx -c <conf> -p <prefix>" in the foreground
// (daemon off) as cfg.User and returns once every site completes a TLS
// handshake.
func StartNginx(ctx context.Context, cfg NginxConfig) (n *Nginx, err error) {
	program, err := lookProgram("nginx", "nginx")
	if err != nil {
		return nil, err
	}
	if len(cfg.Sites) == 0 {
		return nil, fmt.Errorf("realserver: nginx: no sites")
	}
	u, err := cfg.User.orDefault(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := serverDir("nginx", &u)
	if err != nil {
		return nil, err
	}
	n = &Nginx{Dir: dir, ConfigPath: filepath.Join(dir, "nginx.conf"), PIDFile: filepath.Join(dir, "nginx.pid"), User: u, program: program}
	defer func() {
		if err != nil {
			_ = n.Close()
			n = nil
		}
	}()
	if err := mkdirOwned(filepath.Join(dir, "tmp"), u); err != nil {
		return n, err
	}
	for _, name := range cfg.Sites {
		if err := checkWord("nginx site name", name); err != nil {
			return n, err
		}
		siteDir := filepath.Join(dir, "sites", name)
		if err := mkdirOwned(filepath.Dir(siteDir), u); err != nil {
			return n, err
		}
		if err := mkdirOwned(siteDir, u); err != nil {
			return n, err
		}
		site := NginxSite{Name: name, CertPath: filepath.Join(siteDir, "cert.pem"), KeyPath: filepath.Join(siteDir, "key.pem")}
		if cfg.Bundle {
			site.KeyPath = site.CertPath
		}
		if site.Initial, err = writeSelfSigned(site.CertPath, site.KeyPath, name, u); err != nil {
			return n, err
		}
		n.Sites = append(n.Sites, site)
	}
	n.proc, err = startOnFreePorts(ctx, n.launch, n.ready)
	return n, err
}

// launch gives every site a free port, writes the configuration and starts
// nginx.
func (n *Nginx) launch() (*process, error) {
	// A port is free once its probe closes, so the next probe may be
	// handed the same one: two sites on one port would answer each
	// other's requests (a request by address matches neither's
	// server_name, and nginx gives it the port's first server).
	taken := map[int]bool{}
	for i := range n.Sites {
		port, err := freePort(false)
		for err == nil && taken[port] {
			port, err = freePort(false)
		}
		if err != nil {
			return nil, err
		}
		taken[port] = true
		n.Sites[i].Port = port
		n.Sites[i].Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	if err := writeOwned(n.ConfigPath, []byte(n.config()), 0o644, n.User); err != nil {
		return nil, err
	}
	// -e stderr: nginx opens its compiled-in error log before it reads
	// the configuration, and that one is root's.
	return startProcess("nginx", filepath.Join(n.Dir, "nginx.log"), &n.User, n.program, "-e", "stderr", "-c", n.ConfigPath, "-p", n.Dir+"/")
}

func (n *Nginx) config() string {
	tmp := filepath.Join(n.Dir, "tmp")
	var b strings.Builder
	fmt.Fprintf(&b, `daemon off;
master_process on;
worker_processes 1;
pid %s;
error_log stderr notice;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
`, n.PIDFile, tmp, tmp, tmp, tmp, tmp)
	for _, s := range n.Sites {
		fmt.Fprintf(&b, `    server {
        listen %s ssl;
        server_name %s;
        ssl_certificate %s;
        ssl_certificate_key %s;
        location / { return 200 "%s\n"; }
    }
`, s.Addr, s.Name, s.CertPath, s.KeyPath, s.Name)
	}
	b.WriteString("}\n")
	return b.String()
}

func (n *Nginx) ready(ctx context.Context) error {
	for _, s := range n.Sites {
		if err := handshake(ctx, s.Addr, s.Name, s.Initial); err != nil {
			return err
		}
	}
	return nil
}

// Site returns the site named name.
func (n *Nginx) Site(name string) (NginxSite, bool) {
	for _, s := range n.Sites {
		if s.Name == name {
			return s, true
		}
	}
	return NginxSite{}, false
}

// ReloadCommand is the shell command that reloads nginx as User: a
// configuration test first, because "nginx -s reload" only signals the
// master, and exits 0 even when the master then rejects the new
// certificate and keeps the old one. The test's errors go to stderr, which
// is what ottr reports when a reload fails. The reload itself is
// asynchronous: the new workers serve moments after the command returns.
func (n *Nginx) ReloadCommand() string {
	args := "-e stderr -c " + n.ConfigPath + " -p " + n.Dir + "/"
	return n.program + " -t -q " + args + " && " + n.program + " -s reload " + args
}

// Log returns the end of nginx's log.
func (n *Nginx) Log() string { return tailFile(filepath.Join(n.Dir, "nginx.log"), 8000) }

// Close stops nginx and removes its prefix.
func (n *Nginx) Close() error { return closeAll(n.Dir, n.proc) }
