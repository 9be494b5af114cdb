package ssmlab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// commandPath is the PATH commands run with, the agent's default, so a
// command finds the same tools whatever the ottr process's environment is.
const commandPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxOutput bounds what the emulator keeps of a command's output; AWS
// returns only the first 24,000 characters anyway.
const maxOutput = 1 << 20

// reloadStatusPrefix ends the emulator's answer to a reload request.
const reloadStatusPrefix = "@@ottr-lab-status "

// scriptResult is the outcome of one script.
type scriptResult struct {
	stdout, stderr string
	// exitCode is the script's exit status, or -1 when it was killed.
	exitCode int
}

// runScript runs script with /bin/sh in the instance's directory (or in
// workDir, a path as commands name it), the reload function defined first,
// until it ends or ctx does.
func (inst *Instance) runScript(ctx context.Context, script, workDir string) scriptResult {
	inst.commands.Add(1)
	dir := inst.cfg.Dir
	if workDir != "" {
		dir = inst.LocalPath(workDir)
	}
	var stdout, stderr limitedBuffer
	fail := func(format string, args ...any) scriptResult {
		return scriptResult{stderr: fmt.Sprintf(format, args...) + "\n", exitCode: 1}
	}

	// The reload function talks to the emulator over two pipes: it
	// writes a request on descriptor 3 and reads the answer on 4.
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return fail("failed to run commands: %v", err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		_ = reqR.Close()
		_ = reqW.Close()
		return fail("failed to run commands: %v", err)
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", inst.prelude+"\n"+inst.mapPaths(script))
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + commandPath,
		"HOME=" + inst.cfg.Dir,
		"LC_ALL=C",
		"AWS_SSM_INSTANCE_ID=" + inst.cfg.InstanceID,
		"AWS_SSM_REGION_NAME=" + inst.svc.cfg.Region,
	}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.ExtraFiles = []*os.File{reqW, repR}
	// A killed script may leave children holding the output pipes; do
	// not wait on them for long.
	cmd.WaitDelay = 5 * time.Second
	killProcessGroup(cmd)
	startErr := cmd.Start()
	// The child holds its own copies now.
	_ = reqW.Close()
	_ = repR.Close()
	if startErr != nil {
		_ = reqR.Close()
		_ = repW.Close()
		return fail("failed to run commands: %v", startErr)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		inst.serveReloads(reqR, repW)
	}()
	err = cmd.Wait()
	// Children left running may hold the pipes; closing ends the loop.
	_ = reqR.Close()
	_ = repW.Close()
	<-served

	res := scriptResult{stdout: inst.unmapPaths(stdout.String()), stderr: inst.unmapPaths(stderr.String())}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		res.exitCode = exitErr.ExitCode()
	default:
		res.exitCode = -1
	}
	return res
}

// serveReloads answers the reload function's requests until the script's
// side of the pipe closes.
func (inst *Instance) serveReloads(requests io.Reader, replies io.Writer) {
	sc := bufio.NewScanner(requests)
	for sc.Scan() {
		if sc.Text() != "reload" {
			_, _ = fmt.Fprintf(replies, "unknown request %q\n%s1\n", sc.Text(), reloadStatusPrefix)
			continue
		}
		status, message := inst.reload()
		if message != "" {
			_, _ = io.WriteString(replies, strings.TrimSuffix(message, "\n")+"\n")
		}
		if _, err := fmt.Fprintf(replies, "%s%d\n", reloadStatusPrefix, status); err != nil {
			return
		}
	}
}

// reloadPrelude defines the reload command's first word as a shell
// function that, called with the configured arguments, asks the emulator to
// reload; other arguments fail as an unknown unit would.
func reloadPrelude(reloadCommand string) string {
	name, args, _ := strings.Cut(reloadCommand, " ")
	return name + `() {
	if [ "$*" != ` + shellQuote(args) + ` ]; then
		printf '%s\n' ` + shellQuote(name+`: this emulated instance only runs "`+reloadCommand+`"`) + ` >&2
		return 1
	fi
	printf 'reload\n' >&3 || return 1
	while IFS= read -r ottr_lab_line <&4; do
		case $ottr_lab_line in
		'` + reloadStatusPrefix + `'*) return "${ottr_lab_line#` + reloadStatusPrefix + `}" ;;
		*) printf '%s\n' "$ottr_lab_line" >&2 ;;
		esac
	done
	return 1
}`
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// mapPaths replaces the virtual prefix with the instance's directory
// wherever it starts a path: at the start of the script or after a
// character that cannot be part of a path (a quote, a space, "=", ...).
func (inst *Instance) mapPaths(script string) string {
	prefix := inst.svc.cfg.PathPrefix + "/"
	var b strings.Builder
	for {
		i := strings.Index(script, prefix)
		if i < 0 {
			b.WriteString(script)
			return b.String()
		}
		b.WriteString(script[:i])
		if i == 0 || !isPathByte(script[i-1]) {
			b.WriteString(inst.cfg.Dir + "/")
		} else {
			b.WriteString(prefix)
		}
		script = script[i+len(prefix):]
	}
}

// unmapPaths turns the instance's directory back into the virtual prefix
// in a command's output, so the instance reports paths as commands name
// them.
func (inst *Instance) unmapPaths(output string) string {
	return strings.ReplaceAll(output, inst.cfg.Dir+"/", inst.svc.cfg.PathPrefix+"/")
}

func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '/' || c == '.' || c == '_' || c == '-'
}

// limitedBuffer keeps the first maxOutput bytes written to it and drops
// the rest, so a runaway command cannot fill the emulator's memory.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// reload loads the instance's certificate and key files into its TLS
// listener and returns the exit status and what the service printed. On
// failure it says what nginx would and keeps serving the old certificate.
func (inst *Instance) reload() (int, string) {
	inst.reloadMu.Lock()
	defer inst.reloadMu.Unlock()
	const testFailed = "nginx: configuration file /etc/nginx/nginx.conf test failed"
	if inst.failInstalls.Load() {
		return 1, failureMessage + "\n" + testFailed
	}
	cert, err := inst.loadKeyPair()
	if err != nil {
		return 1, err.Error() + "\n" + testFailed
	}
	inst.served.Store(cert)
	inst.reloads.Add(1)
	return 0, ""
}

// loadKeyPair loads the instance's files, describing failures as nginx
// would.
func (inst *Instance) loadKeyPair() (*tls.Certificate, error) {
	prefix := inst.svc.cfg.PathPrefix + "/"
	virtualCert, virtualKey := prefix+inst.cfg.CertPath, prefix+inst.cfg.KeyPath
	certPEM, err := os.ReadFile(inst.certFile)
	if err != nil {
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate %q: BIO_new_file() failed (%v)", virtualCert, unwrapPathError(err))
	}
	keyPEM, err := os.ReadFile(inst.keyFile)
	if err != nil {
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate key %q: BIO_new_file() failed (%v)", virtualKey, unwrapPathError(err))
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	switch {
	case err == nil:
		return &cert, nil
	case strings.Contains(err.Error(), "does not match"):
		return nil, fmt.Errorf("nginx: [emerg] SSL_CTX_use_PrivateKey(%q) failed (SSL: error:05800074:x509 certificate routines::key values mismatch)", virtualKey)
	case strings.Contains(err.Error(), "certificate input"):
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate %q: PEM_read_bio_X509_AUX() failed (SSL: error:0480006C:PEM routines::no start line)", virtualCert)
	default:
		return nil, fmt.Errorf("nginx: [emerg] cannot load certificate key %q: PEM_read_bio_PrivateKey() failed (%v)", virtualKey, err)
	}
}

func unwrapPathError(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// connTimeout bounds one TLS connection, so a client that connects and
// says nothing does not hold a goroutine.
const connTimeout = 10 * time.Second

// serveTLS accepts connections until the listener closes. Each connection
// gets the handshake and, if it sends an HTTP request, a one-line answer.
func (inst *Instance) serveTLS() {
	for {
		conn, err := inst.tlsListener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off a little.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go inst.serveConn(conn)
	}
}

func (inst *Instance) serveConn(raw net.Conn) {
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(connTimeout))
	conn := tls.Server(raw, inst.tlsConfig)
	if err := conn.Handshake(); err != nil {
		return
	}
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		// Verifiers close after the handshake; nothing to answer.
		return
	}
	_ = req.Body.Close()
	body := inst.cfg.HostName + "\n"
	_, _ = fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		len(body), body)
	_ = conn.Close()
}
