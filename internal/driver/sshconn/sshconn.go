// Package sshconn dials devices over SSH the way ottr's drivers do: the
// host key is checked against an OpenSSH known_hosts file (indexed once
// while the file is unchanged, each dial reading only its host's lines), the
// login is a key or a password,
// and every refusal says what is wrong and the command that fixes it.
package sshconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ottr-go/ottr/internal/driver"
)

// Dialer opens SSH connections. The zero value is ready to use; it is safe
// for concurrent use and keeps an index of the known_hosts files it reads.
type Dialer struct {
	// Timeout bounds the connection and the handshake; zero leaves it to
	// ctx.
	Timeout time.Duration

	mu         sync.Mutex
	knownHosts map[string]knownHostsEntry
}

// knownHostsEntry is the index of a known_hosts file and the file state it
// was read from, so an edited file is read again.
type knownHostsEntry struct {
	modTime time.Time
	size    int64
	index   *knownHostsIndex
}

// hostKeyCallback returns the known_hosts check of addr in file, from the
// file's index when the file has not changed since it was read: a fleet's
// file is megabytes, and parsing it for each of thousands of parallel
// rotations would dominate their cost, while keeping it parsed would hold
// every device's key for the few being dialled.
func (d *Dialer) hostKeyCallback(file, addr string) (ssh.HostKeyCallback, error) {
	if file == "" {
		return nil, fmt.Errorf("no known_hosts file is configured, so the host key of %s cannot be verified: "+
			"set known_hosts_file in ottr.yaml and add the device with %s", addr, KeyscanHint(addr, "FILE"))
	}
	info, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("known_hosts file %s does not exist, so the host key of %s cannot be verified: "+
			"add the device with %s after checking its fingerprint out of band", file, addr, KeyscanHint(addr, file))
	}
	if err != nil {
		return nil, fmt.Errorf("known_hosts file: %w", err)
	}

	idx, err := d.index(file, info)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts file %s: %w", file, err)
	}
	cb, err := idx.callback(addr)
	if err != nil {
		// The file may have been rewritten between the index and this
		// read with the same size and time: read it again once.
		d.forget(file)
		if idx, err = d.index(file, info); err == nil {
			cb, err = idx.callback(addr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read known_hosts file %s: %w", file, err)
	}
	return cb, nil
}

func (d *Dialer) forget(file string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.knownHosts, file)
}

// index returns file's index, reading the file again when it changed.
func (d *Dialer) index(file string, info os.FileInfo) (*knownHostsIndex, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.knownHosts == nil {
		d.knownHosts = map[string]knownHostsEntry{}
	}
	if e, ok := d.knownHosts[file]; ok && e.modTime.Equal(info.ModTime()) && e.size == info.Size() {
		return e.index, nil
	}
	idx, err := indexKnownHosts(file)
	if err != nil {
		return nil, err
	}
	d.knownHosts[file] = knownHostsEntry{modTime: info.ModTime(), size: info.Size(), index: idx}
	return idx, nil
}

// KeyscanHint is the command that adds addr's host key to file.
func KeyscanHint(addr, file string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, "22"
	}
	if port == "22" {
		return fmt.Sprintf("`ssh-keyscan %s >> %s`", host, file)
	}
	return fmt.Sprintf("`ssh-keyscan -p %s %s >> %s`", port, host, file)
}

// shellWord quotes s for a command shown to the operator, only when the
// shell would otherwise read it differently ("[host]:port" is a glob).
func shellWord(s string) string {
	if strings.ContainsAny(s, "[]*? '\"$") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// describeHostKeyError turns a known_hosts verdict into a message that says
// what happened and what the operator can do about it.
func describeHostKeyError(err error, addr, file string, key ssh.PublicKey) error {
	presented := key.Type() + " " + ssh.FingerprintSHA256(key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		return fmt.Errorf("host key of %s (%s) is marked @revoked in %s: refusing to connect", addr, presented, revoked.Revoked.Filename)
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		return fmt.Errorf("host key of %s (%s) is unknown: it is not in %s; refusing to connect. "+
			"Check the fingerprint out of band, then add it with %s", addr, presented, file, KeyscanHint(addr, file))
	case errors.As(err, &keyErr):
		var want []string
		for _, k := range keyErr.Want {
			want = append(want, fmt.Sprintf("%s %s (%s:%d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
		return fmt.Errorf("host key of %s does not match known_hosts: the device presented %s, %s expects %s; refusing to connect "+
			"(this can be an attack). If the device's key was legitimately replaced, remove the old entry with "+
			"`ssh-keygen -R %s -f %s` and add the new one with %s",
			addr, presented, file, strings.Join(want, ", "), shellWord(knownhosts.Normalize(addr)), file, KeyscanHint(addr, file))
	default:
		return fmt.Errorf("host key of %s: %w", addr, err)
	}
}

// authMethods turns the credentials into SSH auth methods: the key first,
// then the password, offered both as "password" and "keyboard-interactive"
// since many servers allow only the latter.
func authMethods(c driver.Credentials) ([]ssh.AuthMethod, error) {
	if c.Username == "" {
		return nil, errors.New("credentials have no username")
	}
	var methods []ssh.AuthMethod
	if len(c.PrivateKey) > 0 {
		signer, err := ssh.ParsePrivateKey(c.PrivateKey)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			return nil, errors.New("the SSH private key is passphrase-protected; store it decrypted in ottr's secret store")
		case err != nil:
			// The parser's message never quotes the key, but say only
			// what is needed.
			return nil, errors.New("the SSH private key cannot be parsed: it must be a PEM or OpenSSH private key")
		}
		methods = append(methods, ssh.PublicKeys(signer))
	}
	if c.Password != "" {
		password := c.Password
		methods = append(methods,
			ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}),
		)
	}
	if len(methods) == 0 {
		return nil, errors.New("credentials have neither a private key nor a password")
	}
	return methods, nil
}

// Dial connects to addr and completes the SSH handshake within Timeout and
// ctx, verifying the host key against knownHostsFile. It returns the TCP
// connection too: closing it interrupts a read blocked on the client.
func (d *Dialer) Dial(ctx context.Context, addr, knownHostsFile string, c driver.Credentials) (*ssh.Client, net.Conn, error) {
	known, err := d.hostKeyCallback(knownHostsFile, addr)
	if err != nil {
		return nil, nil, err
	}
	auth, err := authMethods(c)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", addr, err)
	}

	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	// The handshake reads from conn without a context; closing conn is what
	// interrupts it when ctx ends first.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })

	// The callback's own error is kept because ssh wraps it in a generic
	// "handshake failed" that would hide the fix.
	var hostKeyErr error
	config := &ssh.ClientConfig{
		User: c.Username,
		Auth: auth,
		HostKeyCallback: func(hostname string, remote net.Addr, key ssh.PublicKey) error {
			if err := known(hostname, remote, key); err != nil {
				hostKeyErr = describeHostKeyError(err, addr, knownHostsFile, key)
				return hostKeyErr
			}
			return nil
		},
		HostKeyAlgorithms: knownAlgorithms(known, addr, conn.RemoteAddr()),
	}
	sshConn, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	if !stop() {
		if sshConn != nil {
			_ = sshConn.Close()
		}
		_ = conn.Close()
		return nil, nil, fmt.Errorf("SSH handshake with %s: %w", addr, context.Cause(ctx))
	}
	if err != nil {
		_ = conn.Close()
		if hostKeyErr != nil {
			return nil, nil, hostKeyErr
		}
		return nil, nil, fmt.Errorf("SSH handshake with %s as %q: %w", addr, c.Username, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(sshConn, chans, reqs), conn, nil
}

// knownAlgorithms returns the host key algorithms matching the keys
// known_hosts holds for addr, so a host that has several keys is asked for
// the one that was recorded instead of failing on another. Nil (the library's
// default order) when addr is unknown: the check will refuse it anyway.
func knownAlgorithms(known ssh.HostKeyCallback, addr string, remote net.Addr) []string {
	var keyErr *knownhosts.KeyError
	if err := known(addr, remote, probeKey{}); !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		return nil
	}
	var algos []string
	add := func(names ...string) {
		for _, n := range names {
			if !slices.Contains(algos, n) {
				algos = append(algos, n)
			}
		}
	}
	for _, k := range keyErr.Want {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos
}

// probeKey is a public key no known_hosts line can hold; checking it makes
// knownhosts list the keys it does hold for an address.
type probeKey struct{}

func (probeKey) Type() string                            { return "ottr-probe" }
func (probeKey) Marshal() []byte                         { return []byte("ottr-probe") }
func (probeKey) Verify(_ []byte, _ *ssh.Signature) error { return errors.New("probe key") }
