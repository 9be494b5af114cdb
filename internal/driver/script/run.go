package script

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// Limits of what a script may send back.
const (
	// maxStdout bounds standard output; a CSR or a chain is a few
	// kilobytes.
	maxStdout = 1 << 20
	// maxLine bounds one logged standard error line.
	maxLine = 4096
	// tailLines is how many standard error lines a failure reports.
	tailLines = 20
	// waitDelay is how long a script's children may keep its output open
	// after it exits or is killed.
	waitDelay = 2 * time.Second
)

// inheritedEnv are the worker's variables a script starts with when
// Config.BaseEnv is nil: enough to find programs and a home directory,
// nothing of ottr's own configuration.
var inheritedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}

// ScriptError is a script run that failed: its exit status, or the timeout
// or cancellation that had it killed, and its last standard error lines
// with secrets redacted.
type ScriptError struct {
	// Step is the route option naming the script, e.g. "install_certificate".
	Step string
	Path string
	// ExitCode is the exit status; -1 when a signal ended the script.
	ExitCode int
	// TimedOut is set when the route's timeout killed the script.
	TimedOut bool
	Timeout  time.Duration
	// Stderr holds the last standard error lines, redacted.
	Stderr []string
	// cause is the context error of a timeout or a cancellation.
	cause error
}

func (e *ScriptError) Error() string {
	var what string
	switch {
	case e.TimedOut:
		what = fmt.Sprintf("timed out after %s; its process group was killed", e.Timeout)
	case e.cause != nil:
		what = fmt.Sprintf("was stopped: %v; its process group was killed", e.cause)
	case e.ExitCode < 0:
		what = "was killed by a signal"
	default:
		what = fmt.Sprintf("exited with status %d", e.ExitCode)
	}
	msg := fmt.Sprintf("%s (%s) %s", e.Step, e.Path, what)
	if len(e.Stderr) == 0 {
		return msg + "; it wrote nothing to standard error"
	}
	return msg + "; its last standard error lines:\n    " + strings.Join(e.Stderr, "\n    ")
}

// Unwrap returns the context error behind a timeout or cancellation.
func (e *ScriptError) Unwrap() error { return e.cause }

// scriptInput is the JSON a script reads on standard input.
type scriptInput struct {
	Step    string           `json:"step"`
	Asset   asset.Asset      `json:"asset"`
	Request *csrInput        `json:"request,omitempty"`
	Handle  driver.Installed `json:"handle,omitempty"`
}

type csrInput struct {
	CommonName string   `json:"common_name"`
	DNSNames   []string `json:"dns_names"`
	KeyType    string   `json:"key_type"`
}

// runJSON runs a script with the JSON input on standard input.
func (s *session) runJSON(ctx context.Context, step, path string, request *csrInput, handle driver.Installed) ([]byte, error) {
	a := s.target.Asset.Clone()
	// The asset names the secret holding its credentials; a script needs
	// the credentials themselves, which come in the environment.
	a.Credentials = ""
	input, err := json.Marshal(scriptInput{Step: step, Asset: a, Request: request, Handle: handle})
	if err != nil {
		return nil, fmt.Errorf("encode the input of %s: %w", step, err)
	}
	var extra []string
	if handle != nil {
		h, err := json.Marshal(handle)
		if err != nil {
			return nil, fmt.Errorf("encode the handle: %w", err)
		}
		extra = append(extra, "OTTR_HANDLE="+string(h))
	}
	names, keyType := s.target.Asset.Names(), s.target.Asset.KeyType
	if request != nil {
		names, keyType = request.DNSNames, request.KeyType
	}
	return s.run(ctx, step, path, names, keyType, extra, input)
}

// run runs one script to completion and returns its standard output.
// Standard error is logged line by line as it comes.
func (s *session) run(ctx context.Context, step, path string, names []string, keyType string, extra []string, stdin []byte) ([]byte, error) {
	keyFile, err := s.writeKeyFile()
	if err != nil {
		return nil, err
	}
	if keyFile != "" {
		defer os.Remove(keyFile)
	}
	runCtx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()

	cmd := exec.CommandContext(runCtx, path)
	cmd.Env = append(s.environ(step, names, keyType, keyFile), extra...)
	cmd.Dir = s.opts.Workdir
	if cmd.Dir == "" {
		cmd.Dir = s.dir
	}
	cmd.Stdin = bytes.NewReader(stdin)
	stdout := &cappedBuffer{limit: maxStdout}
	stderr := &lineWriter{redact: s.redact, emit: func(line string) { s.logLine(step, line) }}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	killProcessGroup(cmd)

	s.log.Debug("script: running", "step", step, "path", path)
	err = cmd.Run()
	stderr.flush()
	if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		s.log.Warn("script: a process the script started kept its output open after it exited", "step", step)
		err = nil
	}
	if err != nil {
		return nil, s.failure(ctx, runCtx, step, path, cmd, stderr, err)
	}
	if stdout.overflow {
		return nil, fmt.Errorf("%s (%s) printed more than %d bytes", step, path, maxStdout)
	}
	return stdout.Bytes(), nil
}

// failure describes a failed run.
func (s *session) failure(ctx, runCtx context.Context, step, path string, cmd *exec.Cmd, stderr *lineWriter, err error) error {
	e := &ScriptError{Step: step, Path: path, ExitCode: -1, Timeout: s.opts.Timeout, Stderr: stderr.tail}
	switch {
	case ctx.Err() != nil:
		e.cause = ctx.Err()
	case runCtx.Err() != nil:
		e.TimedOut, e.cause = true, runCtx.Err()
	case cmd.ProcessState != nil:
		e.ExitCode = cmd.ProcessState.ExitCode()
	default:
		// It did not start.
		return fmt.Errorf("%s (%s) could not be started: %w", step, path, errors.Unwrap(err))
	}
	return e
}

// environ builds a script's environment: the base, the route's plain_env
// and env, then ottr's variables, later ones overriding earlier ones.
func (s *session) environ(step string, names []string, keyType, keyFile string) []string {
	a := s.target.Asset
	vars := map[string]string{}
	for _, kv := range s.baseEnv() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if vars["PATH"] == "" {
		vars["PATH"] = "/usr/local/bin:/usr/bin:/bin"
	}
	for _, kv := range slices.Concat(s.opts.PlainEnv, s.opts.Env) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	for k, v := range map[string]string{
		"OTTR_STEP":             step,
		"OTTR_SYSTEM_NAME":      a.SystemName,
		"OTTR_COMMON_NAME":      a.CommonName,
		"OTTR_SANS":             strings.Join(names, ","),
		"OTTR_KEY_TYPE":         keyType,
		"OTTR_IP_ADDRESS":       a.IPAddress,
		"OTTR_PORT":             strconv.Itoa(a.TLSPort()),
		"OTTR_DATA_CENTER":      a.DataCenter,
		"OTTR_HOST_PLATFORM":    a.HostPlatform,
		"OTTR_OS_VERSION":       a.OSVersion,
		"OTTR_DEVICE_MODEL":     a.DeviceModel,
		"OTTR_KNOWN_HOSTS_FILE": s.drv.cfg.KnownHostsFile,
		"OTTR_USERNAME":         s.creds.Username,
		"OTTR_PASSWORD":         s.creds.Password,
	} {
		vars[k] = v
	}
	if keyFile != "" {
		vars["OTTR_PRIVATE_KEY_FILE"] = keyFile
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

func (s *session) baseEnv() []string {
	if s.drv.cfg.BaseEnv != nil {
		return s.drv.cfg.BaseEnv
	}
	var env []string
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// writeKeyFile writes the credentials' private key to a new file in the
// session's private directory (os.CreateTemp makes it 0600), or returns ""
// when there is none. The file ends with a newline even when the key does
// not: a secret read from a file may have lost it, and OpenSSH refuses an
// OpenSSH-format key without it ("error in libcrypto").
func (s *session) writeKeyFile() (string, error) {
	key := s.creds.PrivateKey
	if len(key) == 0 {
		return "", nil
	}
	f, err := os.CreateTemp(s.dir, "key-")
	if err != nil {
		return "", fmt.Errorf("write the private key file: %w", err)
	}
	_, err = f.Write(key)
	if err == nil && key[len(key)-1] != '\n' {
		_, err = f.Write([]byte{'\n'})
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write the private key file: %w", err)
	}
	return f.Name(), nil
}

// logLine sends one standard error line to the logs.
func (s *session) logLine(step, line string) {
	s.log.Info("script: output", "step", step, "line", line)
	if s.drv.cfg.Log != nil {
		s.drv.cfg.Log("%s: %s", step, line)
	}
}

// cappedBuffer keeps the first limit bytes written and notes overflow,
// without ever blocking the writer: a script that prints too much must not
// hang on a full pipe.
type cappedBuffer struct {
	bytes.Buffer
	limit    int
	overflow bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.limit - c.Len(); room < len(p) {
		c.overflow = true
		c.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// lineWriter splits standard error into redacted lines, emits each and
// keeps the last few. Lines of a PEM private key are never emitted.
type lineWriter struct {
	redact  *redactor
	emit    func(string)
	partial []byte
	inKey   bool
	tail    []string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > maxLine {
		w.line(string(w.partial))
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

// flush emits a last line without a newline.
func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.line(string(w.partial))
		w.partial = nil
	}
}

func (w *lineWriter) line(raw string) {
	raw = strings.TrimRight(raw, "\r")
	switch {
	case strings.Contains(raw, "-----BEGIN") && strings.Contains(raw, "PRIVATE KEY-----"):
		w.inKey = true
		raw = "[private key redacted]"
	case w.inKey:
		if strings.Contains(raw, "-----END") {
			w.inKey = false
		}
		return
	}
	if len(raw) > maxLine {
		raw = raw[:maxLine] + " […]"
	}
	line := w.redact.apply(raw)
	w.emit(line)
	w.tail = append(w.tail, line)
	if len(w.tail) > tailLines {
		w.tail = w.tail[len(w.tail)-tailLines:]
	}
}

// redactor hides the session's secrets in text a script wrote.
type redactor struct {
	replacer *strings.Replacer
}

// minSecretLine is the shortest line of a private key's PEM that is
// redacted on its own; shorter lines (the last of the base64) are too
// likely to match ordinary text.
const minSecretLine = 16

func newRedactor(c driver.Credentials, envSecrets []string) *redactor {
	secrets := slices.Clone(envSecrets)
	if c.Password != "" {
		secrets = append(secrets, c.Password)
	}
	for _, line := range strings.Split(string(c.PrivateKey), "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= minSecretLine && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, "[redacted]")
	}
	return &redactor{replacer: strings.NewReplacer(pairs...)}
}

func (r *redactor) apply(s string) string { return r.replacer.Replace(s) }
