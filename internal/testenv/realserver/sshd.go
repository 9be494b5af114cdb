package realserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDConfig tunes StartSSHD.
type SSHDConfig struct {
	// User is the only account that may log in. Default: DedicatedUser.
	User User
	// AuthorizedKeys may log in as User. Default: a client key pair
	// StartSSHD generates (SSHD.ClientKeyFile).
	AuthorizedKeys []ssh.PublicKey
}

// SSHD is a running OpenSSH server (Debian openssh-server) that admits
// User with a public key and nothing else.
type SSHD struct {
	// Dir holds the server's configuration, host key and log.
	Dir string
	// Addr is 127.0.0.1:Port.
	Addr string
	Port int
	User User
	// HostKey is the server's ed25519 host key.
	HostKey ssh.PublicKey
	// KnownHostsFile holds HostKey for "[127.0.0.1]:Port".
	KnownHostsFile string
	// ClientKeyFile is the OpenSSH private key of the generated client key
	// pair; empty when SSHDConfig.AuthorizedKeys were given.
	ClientKeyFile string

	proc *process
}

// StartSSHD starts "sshd -D -e -f <own sshd_config>" on a free loopback
// port with a new ed25519 host key, and returns once it accepts
// connections. Running as root it needs /run/sshd, sshd's privilege
// separation directory, and creates it when missing.
func StartSSHD(ctx context.Context, cfg SSHDConfig) (s *SSHD, err error) {
	sshd, err := lookProgram("sshd", "openssh-server")
	if err != nil {
		return nil, err
	}
	u, err := cfg.User.orDefault(ctx)
	if err != nil {
		return nil, err
	}
	if asRoot() {
		// sshd refuses to start without it, and insists it is root's
		// and not writable by others.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("realserver: sshd privilege separation directory: %w", err)
		}
	}
	// The directory stays root's: sshd checks its host key's owner. The
	// account reads only authorized_keys here, which is public.
	dir, err := serverDir("sshd", nil)
	if err != nil {
		return nil, err
	}
	s = &SSHD{Dir: dir, User: u}
	defer func() {
		if err != nil {
			_ = s.Close()
			s = nil
		}
	}()

	hostKey, err := writeEd25519(filepath.Join(dir, "ssh_host_ed25519_key"), "ottr e2e sshd host key")
	if err != nil {
		return s, err
	}
	s.HostKey = hostKey
	keys := cfg.AuthorizedKeys
	if len(keys) == 0 {
		s.ClientKeyFile = filepath.Join(dir, "client_ed25519")
		client, err := writeEd25519(s.ClientKeyFile, "ottr e2e client key")
		if err != nil {
			return s, err
		}
		keys = []ssh.PublicKey{client}
	}
	var authorized strings.Builder
	for _, k := range keys {
		authorized.Write(ssh.MarshalAuthorizedKey(k))
	}
	// Read by sshd as the account logging in, so it must be readable by
	// all; StrictModes is off because the directory is not the account's.
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(authorized.String()), 0o644); err != nil {
		return s, fmt.Errorf("realserver: sshd: %w", err)
	}
	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	s.proc, err = startOnFreePorts(ctx, func() (*process, error) { return s.launch(sshd) }, s.ready)
	return s, err
}

// launch gives the server a free port, writes the known_hosts line and the
// configuration for it, and starts program.
func (s *SSHD) launch(program string) (*process, error) {
	port, err := freePort(false)
	if err != nil {
		return nil, err
	}
	s.Port = port
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := os.WriteFile(s.KnownHostsFile, []byte(s.KnownHostsLine()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("realserver: sshd: %w", err)
	}
	conf := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(conf, []byte(s.config()), 0o644); err != nil {
		return nil, fmt.Errorf("realserver: sshd: %w", err)
	}
	// sshd re-executes itself by path, so the path must be absolute.
	return startProcess("sshd", filepath.Join(s.Dir, "sshd.log"), nil, program, "-D", "-e", "-f", conf)
}

func (s *SSHD) config() string {
	lines := []string{
		"ListenAddress " + s.Addr,
		"HostKey " + filepath.Join(s.Dir, "ssh_host_ed25519_key"),
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(s.Dir, "authorized_keys"),
		"StrictModes no",
		"AllowUsers " + s.User.Name,
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin no",
		// PAM would apply the machine's login policy; the tests need
		// only key authentication.
		"UsePAM no",
		"AllowTcpForwarding no",
		"AllowAgentForwarding no",
		"X11Forwarding no",
		"PermitTunnel no",
		"PrintMotd no",
		"PrintLastLog no",
		"LogLevel VERBOSE",
	}
	return strings.Join(lines, "\n") + "\n"
}

// errHostKeySeen ends ready's key exchange once the server has shown its
// host key: logging in is not needed to know the server is up.
var errHostKeySeen = errors.New("host key seen")

// ready waits until the server shows its own host key in a key exchange:
// a listening socket, or even an SSH banner, could be another server's
// that holds the port this one was to take.
func (s *SSHD) ready(ctx context.Context) error {
	var d net.Dialer
	// sshd starts a process of its own for each connection before the key
	// exchange, which a loaded machine can hold up for a while.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	ours := false
	_, _, _, err = ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User:              s.User.Name,
		HostKeyAlgorithms: []string{s.HostKey.Type()},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			ours = bytes.Equal(key.Marshal(), s.HostKey.Marshal())
			return errHostKeySeen
		},
	})
	if !ours {
		return fmt.Errorf("%s does not show the server's host key: %v", s.Addr, err)
	}
	return nil
}

// KnownHostsLine is the known_hosts line for the server.
func (s *SSHD) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)
}

// Log returns the end of the server's log.
func (s *SSHD) Log() string { return tailFile(filepath.Join(s.Dir, "sshd.log"), 8000) }

// Close stops the server and removes its directory.
func (s *SSHD) Close() error { return closeAll(s.Dir, s.proc) }

// writeEd25519 writes a new ed25519 private key in OpenSSH format, mode
// 0600, and returns its public key.
func writeEd25519(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("realserver: ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("realserver: ed25519 key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("realserver: ed25519 key: %w", err)
	}
	return ssh.NewPublicKey(pub)
}
