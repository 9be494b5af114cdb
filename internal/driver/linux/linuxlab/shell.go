package linuxlab

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
)

// sudoPrefix is the only sudo form the host understands: non-interactive,
// as drivers must use it.
const sudoPrefix = "sudo -n "

// commandPath is the PATH commands run with, like sshd's default, so a
// command finds the same tools whatever the ottr process's environment is.
const commandPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (h *Host) newSSHServer() *gliderssh.Server {
	srv := &gliderssh.Server{
		Handler:     h.handleSession,
		HostSigners: []gliderssh.Signer{h.hostKey},
		Version:     "OpenSSH_9.2p1 ottr-lab",
		// A client that vanishes must not pin a goroutine forever; an
		// openssl keygen that takes longer is still busy writing output.
		IdleTimeout: 10 * time.Minute,
		// Set here rather than left to Serve, which fills them in: a host
		// on a shared socket is handed its connections without Serve.
		ChannelHandlers: map[string]gliderssh.ChannelHandler{"session": gliderssh.DefaultSessionHandler},
		RequestHandlers: map[string]gliderssh.RequestHandler{},
	}
	// Count open connections, so tests can tell whether two clients (two
	// rotations of this host) were ever connected at once.
	srv.ConnCallback = func(_ gliderssh.Context, conn net.Conn) net.Conn {
		n := h.connections.Add(1)
		for {
			peak := h.peakConnections.Load()
			if n <= peak || h.peakConnections.CompareAndSwap(peak, n) {
				break
			}
		}
		return &countedConn{Conn: conn, open: &h.connections}
	}
	if h.cfg.AuthorizedKey != nil {
		want := h.cfg.AuthorizedKey
		srv.PublicKeyHandler = func(ctx gliderssh.Context, key gliderssh.PublicKey) bool {
			return h.userAllowed(ctx.User()) && gliderssh.KeysEqual(key, want)
		}
	}
	if h.cfg.Password != "" {
		want := []byte(h.cfg.Password)
		srv.PasswordHandler = func(ctx gliderssh.Context, password string) bool {
			return h.userAllowed(ctx.User()) && subtle.ConstantTimeCompare([]byte(password), want) == 1
		}
	}
	return srv
}

func (h *Host) userAllowed(user string) bool {
	return h.cfg.User == "" || user == h.cfg.User
}

// handleSession runs one exec request and reports its exit status.
func (h *Host) handleSession(s gliderssh.Session) {
	stdout := &keyScanner{w: s, found: &h.exported}
	stderr := &keyScanner{w: s.Stderr(), found: &h.exported}
	raw := strings.TrimSpace(s.RawCommand())
	if raw == "" {
		fmt.Fprintln(stderr, "this emulated host runs commands only; it has no interactive shell")
		_ = s.Exit(1)
		return
	}

	if h.cfg.RecordCalls {
		h.record(raw)
	}
	command, sudo := strings.CutPrefix(raw, sudoPrefix)
	if h.cfg.RequireSudo && !sudo {
		fmt.Fprintln(stderr, "sh: Permission denied: this host's certificate files belong to root (use sudo -n)")
		_ = s.Exit(1)
		return
	}
	if h.isReload(command) {
		_ = s.Exit(h.reload(stderr))
		return
	}
	// A login shell given one simple command execs it instead of forking
	// (bash does), so on a real host "sh -c '<script>'" costs one shell,
	// not two. /bin/sh here may be dash, which forks for it; running the
	// inner script directly keeps the emulated host's cost that of a
	// real one.
	if inner, ok := shellScript(command); ok {
		command = inner
	}
	h.commands.Add(1)
	run := h.runShell
	if h.cfg.InProcessShell {
		run = h.runInProcess
	}
	status := run(s.Context(), h.prelude+h.mapPaths(command), s, stdout, stderr)
	h.cfg.Logger.Debug("lab linux host: command", "host", h.cfg.Name, "exit", status)
	_ = s.Exit(status)
}

// runShell runs script with "sh -c" in the host's directory and returns its
// exit status.
func (h *Host) runShell(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir = h.cfg.Dir
	cmd.Env = h.commandEnv()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A command killed on disconnect may leave children holding the
	// output pipes; do not wait on them for long.
	cmd.WaitDelay = 5 * time.Second
	pipe, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintf(stderr, "sh: %v\n", err)
		return 127
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "sh: %v\n", err)
		return 127
	}
	// Not waited for: a client that never closes its stdin must not hold
	// the command's exit. The copy ends when the channel closes.
	go func() {
		_, _ = io.Copy(pipe, stdin)
		_ = pipe.Close()
	}()
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		return exitErr.ExitCode()
	default:
		// Killed by a signal, like a shell reports SIGKILL.
		return 137
	}
}

// commandEnv is the environment commands run with.
func (h *Host) commandEnv() []string {
	return []string{
		"PATH=" + commandPath,
		"HOME=" + h.cfg.Dir,
		"LC_ALL=C",
		"OTTR_LAB_HOST=" + h.cfg.Name,
	}
}

// mapPaths replaces the virtual prefix with the host's directory wherever
// it starts a path: at the start of the script or after a character that
// cannot be part of a path (a quote, a space, "=", ...).
func (h *Host) mapPaths(script string) string {
	prefix := h.cfg.PathPrefix + "/"
	var b strings.Builder
	for {
		i := strings.Index(script, prefix)
		if i < 0 {
			b.WriteString(script)
			return b.String()
		}
		b.WriteString(script[:i])
		if i == 0 || !isPathByte(script[i-1]) {
			b.WriteString(h.cfg.Dir + "/")
		} else {
			b.WriteString(prefix)
		}
		script = script[i+len(prefix):]
	}
}

func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '/' || c == '.' || c == '_' || c == '-'
}

// isReload reports whether command is the configured reload command, bare
// or wrapped as sh -c '<command>' (sudo already removed).
func (h *Host) isReload(command string) bool {
	command = strings.TrimSpace(command)
	if inner, ok := shellScript(command); ok {
		command = strings.TrimSpace(inner)
	}
	return command == h.cfg.ReloadCommand
}

// shellScript returns the script of a command of the form sh -c '<script>'
// (one word, quoted as drivers quote), and whether command has that form.
func shellScript(command string) (string, bool) {
	word, ok := strings.CutPrefix(strings.TrimSpace(command), "sh -c ")
	if !ok {
		return "", false
	}
	return unquote(strings.TrimSpace(word))
}

// unquote reads one shell word made of single-quoted parts and
// backslash-escaped single quotes, the form drivers quote with. Any other
// word is not understood (ok false).
func unquote(word string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(word); {
		switch {
		case word[i] == '\'':
			end := strings.IndexByte(word[i+1:], '\'')
			if end < 0 {
				return "", false
			}
			b.WriteString(word[i+1 : i+1+end])
			i += end + 2
		case strings.HasPrefix(word[i:], `\'`):
			b.WriteByte('\'')
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}

// countedConn decrements open when the connection closes, once.
type countedConn struct {
	net.Conn
	open   *atomic.Int64
	closed sync.Once
}

func (c *countedConn) Close() error {
	c.closed.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// privateKeyMarker is in the armour of every PEM private key.
var privateKeyMarker = []byte("PRIVATE KEY")

// keyScanner passes output through and records whether it held a private
// key, including a marker split across writes.
type keyScanner struct {
	w     io.Writer
	found *atomic.Bool
	// carry holds the end of the previous write, too short to be the
	// whole marker.
	carry []byte
}

func (k *keyScanner) Write(p []byte) (int, error) {
	window := make([]byte, 0, len(k.carry)+len(p))
	window = append(append(window, k.carry...), p...)
	if bytes.Contains(window, privateKeyMarker) {
		k.found.Store(true)
	}
	keep := min(len(window), len(privateKeyMarker)-1)
	k.carry = window[len(window)-keep:]
	return k.w.Write(p)
}
