// Package realserver starts real servers installed from Debian — OpenSSH's
// sshd, nginx, HAProxy and BIND 9 — for end-to-end tests. Each runs from its
// own temporary directory with its own configuration, on 127.0.0.1 and a
// free port, never touching the machine's own services, and stops when
// closed.
//
// The servers that ottr reaches over SSH run as one unprivileged account
// (see DedicatedUser), so the reload commands ottr sends as that account
// can signal them, exactly as on a host where a deploy user owns its web
// server.
//
// The starters take a context, not a test, so a TestMain can share one
// server among its tests; a test that starts one skips under go test -short
// with testenv.SkipInShort(t, testenv.RealServers).
package realserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SelfSignedValidity is how long the certificate a site starts with is
// valid. It is longer than the 90 days an ACME CA issues for, so a test can
// tell the two apart by lifetime alone.
const SelfSignedValidity = 365 * 24 * time.Hour

// startTimeout bounds how long a server may take to start answering.
const startTimeout = 20 * time.Second

// stopTimeout is how long a server gets to exit after SIGTERM before it is
// killed.
const stopTimeout = 10 * time.Second

// MissingProgramError says a server's program is not installed, and which
// Debian package provides it.
type MissingProgramError struct {
	Program string
	Package string
}

func (e *MissingProgramError) Error() string {
	return fmt.Sprintf("realserver: %s is not installed: install the Debian package %s "+
		"('make test' installs it when run as root)", e.Program, e.Package)
}

// lookProgram finds a server program on PATH or in the sbin directories,
// which an unprivileged PATH often lacks.
func lookProgram(program, debPackage string) (string, error) {
	if p, err := exec.LookPath(program); err == nil {
		return filepath.Abs(p)
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, program)
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &MissingProgramError{Program: program, Package: debPackage}
}

// spawner starts processes from one goroutine locked to its OS thread for
// the life of the test binary. The kernel sends Pdeathsig when the thread
// that forked the child ends, not the process, and the Go runtime may end
// a thread that another goroutine locked and left: starting every server
// from a thread that never ends makes the signal mean "the test binary
// died" and nothing else. It is created on first use and never changes.
var spawner = sync.OnceValue(func() chan<- spawnRequest {
	requests := make(chan spawnRequest)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		for r := range requests {
			r.done <- r.cmd.Start()
		}
	}()
	return requests
})

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn starts cmd on the spawner's thread.
func spawn(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawner() <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// process is a started server. Its output goes to a log file, and it runs
// in its own process group so stop reaches the workers it forks.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	// logStart is where this process's output begins in logPath, after
	// that of the attempts before it.
	logStart int64
	done     chan struct{}
	waitErr  error
}

// startProcess runs argv with its output in logPath. With as set (the
// process is root and as is another account), it runs as that account.
func startProcess(name, logPath string, as *User, argv ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("realserver: %s: log file: %w", name, err)
	}
	defer logFile.Close()
	logged, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("realserver: %s: log file: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Dir = filepath.Dir(logPath)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	// Pdeathsig stops the server when the test binary dies without
	// closing it (a test timeout, a kill): otherwise it would outlive the
	// run in its own process group. The kernel keeps the setting across
	// exec, but clears it when the process changes its user ID itself,
	// which is why servers switch account here rather than on their own.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if as != nil && as.switchTo() {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(as.UID), Gid: uint32(as.GID), Groups: []uint32{}}
		cmd.Env = append(cmd.Env, "HOME="+as.Home, "USER="+as.Name)
	}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("realserver: start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logStart: logged, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// log returns the end of the process's output, for error messages.
func (p *process) log() string {
	return tailFile(p.logPath, 4000)
}

// bindFailures are what the servers write, in lower case, when a port they
// were given is taken: nginx, HAProxy and sshd say "Address already in
// use" and exit; named says "address in use" of its TCP socket and runs on
// without it, and gives up "unable to listen on any configured interfaces"
// when its UDP socket is taken.
var bindFailures = []string{
	"address already in use",
	"address in use",
	"unable to listen on any configured interfaces",
}

// failedToBind reports whether the process's output says that a port it
// was to listen on is taken.
func (p *process) failedToBind() bool {
	out, err := os.ReadFile(p.logPath)
	if err != nil || int64(len(out)) < p.logStart {
		return false
	}
	own := strings.ToLower(string(out[p.logStart:]))
	for _, failure := range bindFailures {
		if strings.Contains(own, failure) {
			return true
		}
	}
	return false
}

// bindAttempts is how many times startOnFreePorts launches a server whose
// ports turn out to be taken.
const bindAttempts = 3

// startOnFreePorts starts a server with launch, which picks its ports with
// freePort, writes the configuration that names them and starts the
// process, and waits until ready succeeds. Another process can take a port
// between freePort's probe and the server's bind: when the server says so,
// it is stopped and launched again, on new ports. The process comes back
// with the error too, for the caller's Close to stop.
func startOnFreePorts(ctx context.Context, launch func() (*process, error), ready func(context.Context) error) (*process, error) {
	for attempt := 1; ; attempt++ {
		p, err := launch()
		if err != nil {
			return nil, err
		}
		err = p.waitReady(ctx, ready)
		if err == nil || attempt == bindAttempts || !p.failedToBind() {
			return p, err
		}
		if err := p.stop(); err != nil {
			return nil, err
		}
	}
}

// waitReady polls ready until it succeeds, the process exits or reports a
// taken port, or the start timeout passes; the error then carries the
// server's own output.
func (p *process) waitReady(ctx context.Context, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("realserver: %s exited during start-up (%v); its output:\n%s", p.name, p.waitErr, p.log())
		}
		last = ready(ctx)
		// Checked after ready: what answered may be the process that
		// holds the port this one could not take.
		if p.failedToBind() {
			return fmt.Errorf("realserver: %s could not listen on its port; its output:\n%s", p.name, p.log())
		}
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("realserver: %s did not become ready: %v; its output:\n%s", p.name, last, p.log())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// stop ends the process group with SIGTERM, then SIGKILL if it lingers.
func (p *process) stop() error {
	if p.exited() {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("realserver: %s did not stop on SIGTERM within %s and was killed", p.name, stopTimeout)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePort returns a loopback port that is free now, for TCP and, with
// udp, for UDP too. The server binds it moments later; another process
// taking it in between is rare, and startOnFreePorts then picks again.
func freePort(udp bool) (int, error) {
	var lastErr error
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("realserver: free port: %w", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if !udp {
			_ = ln.Close()
			return port, nil
		}
		pc, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = ln.Close()
		if err != nil {
			lastErr = err
			continue
		}
		_ = pc.Close()
		return port, nil
	}
	return 0, fmt.Errorf("realserver: no port free for both TCP and UDP: %w", lastErr)
}

// dialable reports whether something accepts TCP connections at addr.
func dialable(ctx context.Context, addr string) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// serverDir makes a fresh directory for one server under the system's
// temporary directory. It is not under a test's TempDir: those are 0700
// and owned by the test's user, so the dedicated account could not reach
// the files inside.
func serverDir(kind string, owner *User) (string, error) {
	dir, err := os.MkdirTemp("", "ottr-"+kind+"-")
	if err != nil {
		return "", fmt.Errorf("realserver: %s: %w", kind, err)
	}
	mode := os.FileMode(0o755)
	if owner != nil {
		// The account owns the directory; nobody else needs to look in.
		mode = 0o700
		if err := owner.chown(dir); err != nil {
			_ = os.RemoveAll(dir)
			return "", err
		}
	}
	if err := os.Chmod(dir, mode); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("realserver: %s: %w", kind, err)
	}
	return dir, nil
}

// mkdirOwned creates dir (and parents) owned by u, mode 0700.
func mkdirOwned(dir string, u User) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	return u.chown(dir)
}

// writeOwned writes a file owned by u.
func writeOwned(path string, data []byte, mode os.FileMode, u User) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	return u.chown(path)
}

// writeSelfSigned writes a self-signed ECDSA certificate for name, valid
// for SelfSignedValidity, and its key, both owned by u: the certificate a
// freshly installed site starts with. It returns the certificate.
func writeSelfSigned(certPath, keyPath, name string, u User) (*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("realserver: key for %s: %w", name, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("realserver: serial for %s: %w", name, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"ottr end-to-end test"}},
		DNSNames:     []string{name},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(SelfSignedValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("realserver: certificate for %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("realserver: certificate for %s: %w", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("realserver: key for %s: %w", name, err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if certPath == keyPath {
		// A bundle: the key, then the certificate.
		if err := writeOwned(certPath, append(keyPEM, certPEM...), 0o600, u); err != nil {
			return nil, err
		}
		return cert, nil
	}
	if err := writeOwned(keyPath, keyPEM, 0o600, u); err != nil {
		return nil, err
	}
	if err := writeOwned(certPath, certPEM, 0o644, u); err != nil {
		return nil, err
	}
	return cert, nil
}

// handshake completes a TLS handshake with addr for serverName, trusting
// only want: the server is up and serves the certificate it started with.
func handshake(ctx context.Context, addr, serverName string, want *x509.Certificate) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	roots := x509.NewCertPool()
	roots.AddCert(want)
	d := tls.Dialer{Config: &tls.Config{ServerName: serverName, RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// checkWord refuses a value that would change the meaning of the
// configuration file it is written into.
func checkWord(what, v string) error {
	if v == "" || strings.ContainsAny(v, " \t\r\n\"';{}#\\/$`") {
		return fmt.Errorf("realserver: %s %q: want a plain word or DNS name", what, v)
	}
	return nil
}

// closeAll stops the processes and removes dir; for Close methods.
func closeAll(dir string, procs ...*process) error {
	var errs []error
	for _, p := range procs {
		if p != nil {
			errs = append(errs, p.stop())
		}
	}
	if dir != "" {
		errs = append(errs, os.RemoveAll(dir))
	}
	return errors.Join(errs...)
}
