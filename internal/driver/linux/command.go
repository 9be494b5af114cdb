package linux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/driver/linuxhost"
)

// CommandError is a command that ran on the host and failed
// (linuxhost.CommandError).
type CommandError = linuxhost.CommandError

// sshRunner runs scripts over one SSH connection (linuxhost.Runner), each
// in a new SSH session (channel).
type sshRunner struct {
	client *ssh.Client
	// sudo runs every script through "sudo -n".
	sudo bool
	addr string
	log  *slog.Logger
}

// wrap turns a shell script into the command line the host's SSH server
// runs. The script always goes through "sh -c" so it means the same whatever
// the login shell is; with sudo it runs as "sudo -n sh -c", where -n makes a
// missing NOPASSWD rule fail at once instead of waiting for a password.
func (r *sshRunner) wrap(script string) string {
	cmd := "sh -c " + linuxhost.Quote(script)
	if r.sudo {
		cmd = "sudo -n " + cmd
	}
	return cmd
}

// Run executes script on the host in a new SSH session of the connection,
// feeding stdin to it, and returns its standard output. A non-zero exit
// becomes a *CommandError, returned with the output the script printed
// before it failed.
func (r *sshRunner) Run(ctx context.Context, step, script string, stdin []byte) ([]byte, error) {
	sess, err := r.client.NewSession()
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
	// command: the host sees the channel close and the server kills it.
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()

	r.log.Debug("linux: run", "step", step, "host", r.addr)
	runErr := sess.Run(r.wrap(script))
	if !stop() && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if runErr == nil {
		return stdout.Bytes(), nil
	}
	cmdErr := &CommandError{Step: step, ExitStatus: -1, Stderr: linuxhost.Tail(stderr.Bytes(), linuxhost.TailLines)}
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
