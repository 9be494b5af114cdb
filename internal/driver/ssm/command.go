package ssm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// stderrTailLines is how much of a failed command's output an error keeps:
// enough for the tool's own diagnosis, little enough for a log line.
const stderrTailLines = 5

// privateKeyMarker starts every PEM private key block; no output ottr reads
// may contain it.
const privateKeyMarker = "PRIVATE KEY"

// outputLimit is how many characters of each output GetCommandInvocation
// returns; longer output is cut.
const outputLimit = 24000

// waitSlack is how long past the route's timeout the driver keeps polling
// a command: SSM needs a moment to report a command its agent timed out.
const waitSlack = 2 * time.Minute

// cancelTimeout bounds the CancelCommand sent when a wait is abandoned.
const cancelTimeout = 15 * time.Second

// Command statuses that mean SSM is not done with the command yet; every
// other status (Success, Failed, Cancelled, TimedOut, …) is final.
var pendingStatuses = []string{"Pending", "InProgress", "Delayed", "Cancelling"}

// CommandError is an SSM command that ran, or was meant to run, on the
// instance and did not succeed.
type CommandError struct {
	// Step names what the driver was doing ("csr", "install").
	Step       string
	CommandID  string
	InstanceID string
	// Status is SSM's status: Failed, Cancelled, TimedOut, …
	Status string
	// StatusDetails is SSM's finer status, e.g. "Execution Timed Out".
	StatusDetails string
	// ResponseCode is the script's exit code, or -1 when it has none.
	ResponseCode int
	// Stderr holds the last lines the command wrote to its standard error.
	Stderr string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("SSM command %s on %s: %s", e.CommandID, e.InstanceID, e.Status)
	if e.StatusDetails != "" && e.StatusDetails != e.Status {
		msg += " (" + e.StatusDetails + ")"
	}
	if e.ResponseCode >= 0 {
		msg += fmt.Sprintf(", exit code %d", e.ResponseCode)
	}
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// HookError is a pre or post hook that failed on the instance.
type HookError struct {
	// Phase is "pre" or "post".
	Phase string
	// Hook is the hook's path on the instance.
	Hook string
	// ExitStatus is the hook's exit status.
	ExitStatus int
	// Output holds the last lines the hook printed.
	Output string
}

func (e *HookError) Error() string {
	msg := fmt.Sprintf("%s hook %s failed with exit status %d", e.Phase, e.Hook, e.ExitStatus)
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

// errorf returns an error prefixed with the driver and the step.
func errorf(step, format string, args ...any) error {
	return fmt.Errorf("ssm: "+step+": "+format, args...)
}

// wrapf prefixes err with the driver and the step.
func wrapf(step string, err error) error {
	return fmt.Errorf("ssm: %s: %w", step, err)
}

// run sends script to the instance, waits until SSM reports a final status
// and returns the script's standard output. A script that did not succeed
// becomes a *CommandError wrapped with the step; the output it printed is
// returned with it, so a caller can tell how far a multi-step script got.
func (s *session) run(ctx context.Context, step, script string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id, err := s.client.sendCommand(ctx, s.instanceID, s.opts.Document, commandComment(step), script, s.opts.Timeout)
	if err != nil {
		return nil, wrapf(step, err)
	}
	s.log.Debug("ssm: command sent", "step", step, "command", id)
	inv, err := s.wait(ctx, id)
	if err != nil {
		return nil, wrapf(step, err)
	}
	s.log.Debug("ssm: command done", "step", step, "command", id, "status", inv.Status, "exit", inv.ResponseCode)

	// Whatever happens next, output holding a private key is neither
	// returned nor kept in an error: the key must not leave the instance.
	if strings.Contains(inv.Stdout, privateKeyMarker) {
		return nil, errorf(step, "the instance wrote a private key to the output; it was discarded and the step refused")
	}
	stdout := []byte(inv.Stdout)
	if inv.Status != "Success" {
		return stdout, wrapf(step, &CommandError{
			Step: step, CommandID: id, InstanceID: s.instanceID,
			Status: inv.Status, StatusDetails: inv.StatusDetails, ResponseCode: inv.ResponseCode,
			Stderr: tail([]byte(inv.Stderr), stderrTailLines),
		})
	}
	if utf8.RuneCountInString(inv.Stdout) >= outputLimit {
		return nil, errorf(step, "the output reached SSM's %d-character limit and may be cut short", outputLimit)
	}
	return stdout, nil
}

// commandComment is the SendCommand comment (at most 100 characters), so
// the command is recognisable in the SSM console.
func commandComment(step string) string {
	c := "ottr: " + step
	if len(c) > 100 {
		c = c[:100]
	}
	return c
}

// wait polls GetCommandInvocation, with a growing interval, until the
// command reaches a final status. When ctx ends or the route's timeout
// passes first, the command is cancelled on the instance.
func (s *session) wait(ctx context.Context, commandID string) (*invocation, error) {
	waitCtx, cancel := context.WithTimeout(ctx, s.opts.Timeout+waitSlack)
	defer cancel()
	delay := s.drv.cfg.PollInterval
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-waitCtx.Done():
			s.cancelCommand(ctx, commandID)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("SSM command %s on %s did not finish within %s; it was cancelled",
				commandID, s.instanceID, s.opts.Timeout+waitSlack)
		case <-timer.C:
		}
		inv, err := s.client.commandInvocation(waitCtx, commandID, s.instanceID)
		switch {
		case errors.Is(err, errNotYetVisible):
		case err != nil && waitCtx.Err() != nil:
			// The next turn reports the timeout or cancellation.
		case err != nil:
			return nil, err
		case !slices.Contains(pendingStatuses, inv.Status):
			return inv, nil
		}
		delay = min(2*delay, s.drv.cfg.MaxPollInterval)
		timer.Reset(delay)
	}
}

// cancelCommand stops an abandoned command, so it does not go on changing
// files nobody waits for. It runs even though ctx has ended.
func (s *session) cancelCommand(ctx context.Context, commandID string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if err := s.client.cancelCommand(cctx, commandID, s.instanceID); err != nil {
		s.log.Warn("ssm: abandoned command not cancelled", "command", commandID, "err", err)
	}
}

// agentFailureLine is the line the SSM agent appends to a failed script's
// standard error; the error already says the exit code.
var agentFailureLine = regexp.MustCompile(`^failed to run commands: `)

// tail returns the last n non-empty lines of b, joined with "; " so the
// error stays on one line. Output that holds key material is withheld whole:
// dropping only the PEM armour lines would keep the base64 body.
func tail(b []byte, n int) string {
	if bytes.Contains(b, []byte(privateKeyMarker)) {
		return "[output withheld: it contained a private key]"
	}
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || agentFailureLine.MatchString(line) {
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
