package realserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// smtpdScript is the server: aiosmtpd with a handler that keeps messages
// as files and an authenticator for one account.
//
//go:embed smtpd.py
var smtpdScript []byte

// debianPython is Debian's own interpreter, the one python3-aiosmtpd is
// installed for; the python3 first on PATH may be another.
const debianPython = "/usr/bin/python3"

// SMTPConfig tunes StartSMTP.
type SMTPConfig struct {
	// TLS is how the server offers TLS: "starttls" (the default; it takes
	// no mail and no AUTH before STARTTLS), "tls" (implicit TLS from the
	// first byte, as on port 465) or "none" (no TLS at all).
	TLS string
	// Username and Password are the one account AUTH (PLAIN, LOGIN)
	// accepts; with them set, mail without AUTH is refused. Empty: the
	// server offers no AUTH.
	Username, Password string
}

// SMTP is a running aiosmtpd (Debian python3-aiosmtpd) on 127.0.0.1 that
// keeps every message it accepts.
type SMTP struct {
	Dir string
	// Host is the name its certificate is for, "localhost"; Port its port.
	Host string
	Port int
	// CertPath is its self-signed certificate for Host: what a client's
	// CA file should hold.
	CertPath string

	cfg     SMTPConfig
	keyPath string
	mailDir string
	proc    *process
}

// SMTPMessage is a message the server accepted.
type SMTPMessage struct {
	// From and To are the envelope's MAIL FROM and RCPT TO.
	From string   `json:"from"`
	To   []string `json:"to"`
	// Login is the account the client authenticated as; empty without
	// AUTH.
	Login string `json:"login"`
	// TLS reports whether the message came over TLS.
	TLS bool `json:"tls"`
	// Data is the message as received, headers and body.
	Data []byte `json:"-"`
}

// StartSMTP starts the server on a free loopback port and returns once it
// greets a client.
func StartSMTP(ctx context.Context, cfg SMTPConfig) (s *SMTP, err error) {
	if err := checkAiosmtpd(ctx); err != nil {
		return nil, err
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = "starttls"
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("realserver: smtpd: TLS %q: want starttls, tls or none", cfg.TLS)
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, fmt.Errorf("realserver: smtpd: give both a username and a password, or neither")
	}
	me, err := currentUser()
	if err != nil {
		return nil, err
	}
	dir, err := serverDir("smtpd", nil)
	if err != nil {
		return nil, err
	}
	s = &SMTP{
		Dir: dir, Host: "localhost", CertPath: filepath.Join(dir, "cert.pem"),
		cfg: cfg, keyPath: filepath.Join(dir, "key.pem"), mailDir: filepath.Join(dir, "mail"),
	}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()
	if err := os.Mkdir(s.mailDir, 0o700); err != nil {
		return s, fmt.Errorf("realserver: smtpd: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "smtpd.py"), smtpdScript, 0o644); err != nil {
		return s, fmt.Errorf("realserver: smtpd: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(cfg.Password), 0o600); err != nil {
		return s, fmt.Errorf("realserver: smtpd: %w", err)
	}
	cert, err := writeSelfSigned(s.CertPath, s.keyPath, s.Host, me)
	if err != nil {
		return s, err
	}
	s.proc, err = startOnFreePorts(ctx, s.launch, func(ctx context.Context) error { return s.greets(ctx, cert) })
	return s, err
}

// checkAiosmtpd fails, naming the Debian package, when Debian's Python
// cannot import aiosmtpd.
func checkAiosmtpd(ctx context.Context) error {
	missing := &MissingProgramError{Program: "aiosmtpd (for " + debianPython + ")", Package: "python3-aiosmtpd"}
	if _, err := os.Stat(debianPython); err != nil {
		return missing
	}
	if err := exec.CommandContext(ctx, debianPython, "-c", "import aiosmtpd.smtp").Run(); err != nil {
		return missing
	}
	return nil
}

// currentUser is the account the test runs as, which owns the server's
// files.
func currentUser() (User, error) {
	u, err := user.Current()
	if err != nil {
		return User{}, fmt.Errorf("realserver: smtpd: %w", err)
	}
	return fromOS(u)
}

// launch picks a free port and starts the server on it.
func (s *SMTP) launch() (*process, error) {
	port, err := freePort(false)
	if err != nil {
		return nil, err
	}
	s.Port = port
	return startProcess("smtpd", filepath.Join(s.Dir, "smtpd.log"), nil,
		debianPython, filepath.Join(s.Dir, "smtpd.py"),
		"--port", strconv.Itoa(port), "--tls", s.cfg.TLS,
		"--cert", s.CertPath, "--key", s.keyPath, "--maildir", s.mailDir,
		"--user", s.cfg.Username, "--password-file", filepath.Join(s.Dir, "password"))
}

// greets reads the server's 220 greeting, through TLS when the server
// speaks it from the first byte.
func (s *SMTP) greets(ctx context.Context, cert *x509.Certificate) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var conn net.Conn
	var err error
	if s.cfg.TLS == "tls" {
		roots := x509.NewCertPool()
		roots.AddCert(cert)
		d := tls.Dialer{Config: &tls.Config{ServerName: s.Host, RootCAs: roots, MinVersion: tls.VersionTLS12}}
		conn, err = d.DialContext(ctx, "tcp", s.Addr())
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", s.Addr())
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("greeting %q, want 220", strings.TrimSpace(line))
	}
	return nil
}

// Addr is 127.0.0.1:Port.
func (s *SMTP) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Messages returns the messages the server accepted, oldest first.
func (s *SMTP) Messages() ([]SMTPMessage, error) {
	names, err := filepath.Glob(filepath.Join(s.mailDir, "*.eml"))
	if err != nil {
		return nil, fmt.Errorf("realserver: smtpd: %w", err)
	}
	slices.Sort(names)
	messages := make([]SMTPMessage, 0, len(names))
	for _, name := range names {
		var m SMTPMessage
		envelope, err := os.ReadFile(strings.TrimSuffix(name, ".eml") + ".json")
		if err != nil {
			return nil, fmt.Errorf("realserver: smtpd: %w", err)
		}
		if err := json.Unmarshal(envelope, &m); err != nil {
			return nil, fmt.Errorf("realserver: smtpd: %s: %w", name, err)
		}
		if m.Data, err = os.ReadFile(name); err != nil {
			return nil, fmt.Errorf("realserver: smtpd: %w", err)
		}
		messages = append(messages, m)
	}
	return messages, nil
}

// Log returns the end of the server's output.
func (s *SMTP) Log() string { return tailFile(filepath.Join(s.Dir, "smtpd.log"), 8000) }

// Close stops the server and removes its directory.
func (s *SMTP) Close() error { return closeAll(s.Dir, s.proc) }
