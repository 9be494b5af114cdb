package linux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/driver/linux/hostcheck"
)

// stderrTailLines is how much of a failed command's stderr an error keeps:
// enough for the tool's own diagnosis, little enough for a log line.
const stderrTailLines = 5

// privateKeyMarker starts every PEM private key block (PKCS#1, PKCS#8, SEC1,
// OpenSSH); no output ottr reads may contain it.
const privateKeyMarker = "PRIVATE KEY"

// CommandError is a command that ran on the device and failed.
type CommandError struct {
	// Step names what the driver was doing ("reload", "write certificate").
	Step string
	// ExitStatus is the command's exit status, or -1 when the device sent
	// none (the command was killed or the connection dropped).
	ExitStatus int
	// Stderr holds the last lines the command wrote to its standard error.
	Stderr string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("exit status %d", e.ExitStatus)
	if e.ExitStatus < 0 {
		msg = "no exit status (killed or disconnected)"
	}
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// errorf returns an error prefixed with the driver and the step.
func errorf(step, format string, args ...any) error {
	return fmt.Errorf("linux: "+step+": "+format, args...)
}

// wrapf prefixes err with the driver and the step.
func wrapf(step string, err error) error {
	return fmt.Errorf("linux: %s: %w", step, err)
}

// shellQuote returns s as one POSIX shell word that the shell reads back as
// exactly s (hostcheck.Quote): nothing is special inside single quotes, so
// no value can expand, split or inject.
func shellQuote(s string) string { return hostcheck.Quote(s) }

// wrap turns a shell script into the command line the device's SSH server
// runs. The script always goes through "sh -c" so it means the same whatever
// the login shell is; with sudo it runs as "sudo -n sh -c", where -n makes a
// missing NOPASSWD rule fail at once instead of waiting for a password.
func (s *session) wrap(script string) string {
	cmd := "sh -c " + shellQuote(script)
	if s.opts.Sudo {
		cmd = "sudo -n " + cmd
	}
	return cmd
}

// run executes script on the device in a new SSH session of the session's
// connection, feeding stdin to it, and returns its standard output. A
// non-zero exit becomes a *CommandError wrapped with the step; the output
// the script printed before it failed is returned with it, so a caller can
// tell how far a multi-step script got.
func (s *session) run(ctx context.Context, step, script string, stdin []byte) ([]byte, error) {
	out, err := s.exec(ctx, step, s.wrap(script), stdin)
	if err != nil {
		return out, wrapf(step, err)
	}
	return out, nil
}

func (s *session) exec(ctx context.Context, step, command string, stdin []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sess, err := s.client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("open SSH session: %w", err)
	}
	defer sess.Close()

	var stdout, stderr bytes.Buffer
	sess.Stdout = &stdout
	sess.Stderr = &stderr
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}

	// Closing the SSH session is the only way to abandon a running
	// command: the device sees the channel close and the server kills it.
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()

	s.log.Debug("linux: run", "step", step, "host", s.addr)
	runErr := sess.Run(command)
	if !stop() && ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Whatever happens next, output holding a private key is neither
	// returned nor kept in an error: the key must not leave the device.
	if bytes.Contains(stdout.Bytes(), []byte(privateKeyMarker)) {
		zero(stdout.Bytes())
		return nil, errors.New("the device wrote a private key to the output; it was discarded and the step refused")
	}
	if runErr != nil {
		cmdErr := &CommandError{Step: step, ExitStatus: -1, Stderr: tail(stderr.Bytes(), stderrTailLines)}
		var exitErr *ssh.ExitError
		var missing *ssh.ExitMissingError
		switch {
		case errors.As(runErr, &exitErr):
			cmdErr.ExitStatus = exitErr.ExitStatus()
		case errors.As(runErr, &missing):
		default:
			return nil, fmt.Errorf("run command: %w", runErr)
		}
		return stdout.Bytes(), cmdErr
	}
	return stdout.Bytes(), nil
}

// tail returns the last n non-empty lines of b, joined with "; " so the
// error stays on one line. Output that holds key material is withheld whole:
// dropping only the PEM armour lines would keep the base64 body.
func tail(b []byte, n int) string {
	if bytes.Contains(b, []byte(privateKeyMarker)) {
		return "[stderr withheld: it contained a private key]"
	}
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		lines = append(lines, line)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	const maxLen = 1000
	out := strings.Join(lines, "; ")
	if len(out) > maxLen {
		out = "…" + out[len(out)-maxLen:]
	}
	return out
}

func zero(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
