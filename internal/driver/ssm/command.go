package ssm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ottr-go/ottr/internal/driver/linuxhost"
)

// stderrTailLines is how much of a failed command's output an error keeps.
const stderrTailLines = linuxhost.TailLines

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

// wrapf prefixes err with the driver and the step.
func wrapf(step string, err error) error {
	return fmt.Errorf("ssm: %s: %w", step, err)
}

// commandRunner runs scripts on one instance as SSM commands
// (linuxhost.Runner).
type commandRunner struct {
	drv        *Driver
	client     *awsClient
	opts       *options
	instanceID string
	log        *slog.Logger
}

// stdinDelimiter ends the here-document that carries a script's standard
// input. It cannot be a line of PEM text.
const stdinDelimiter = "@@ottr-stdin"

// withInput returns script reading stdin from a here-document ahead of it:
// SSM commands have no standard input of their own. A here-document holds
// lines of text, so stdin must end with a newline and no line of it may be
// the delimiter.
func withInput(script string, stdin []byte) (string, error) {
	if len(stdin) > 0 && stdin[len(stdin)-1] != '\n' {
		return "", errors.New("the input of an SSM command must end with a newline")
	}
	if slices.Contains(strings.Split(string(stdin), "\n"), stdinDelimiter) {
		return "", fmt.Errorf("the input of an SSM command must not hold the line %s", stdinDelimiter)
	}
	return "exec 0<<'" + stdinDelimiter + "'\n" + string(stdin) + stdinDelimiter + "\n" + script, nil
}

// Run sends script to the instance, waits until SSM reports a final status
// and returns the script's standard output. A script that did not succeed
// becomes a *CommandError, returned with the output it printed.
func (r *commandRunner) Run(ctx context.Context, step, script string, stdin []byte) ([]byte, error) {
	if stdin != nil {
		var err error
		if script, err = withInput(script, stdin); err != nil {
			return nil, err
		}
	}
	id, err := r.client.sendCommand(ctx, r.instanceID, r.opts.Document, commandComment(step), script, r.opts.Timeout)
	if err != nil {
		return nil, err
	}
	r.log.Debug("ssm: command sent", "step", step, "command", id)
	inv, err := r.wait(ctx, id)
	if err != nil {
		return nil, err
	}
	r.log.Debug("ssm: command done", "step", step, "command", id, "status", inv.Status, "exit", inv.ResponseCode)
	stdout := []byte(inv.Stdout)
	if inv.Status != "Success" {
		return stdout, &CommandError{
			Step: step, CommandID: id, InstanceID: r.instanceID,
			Status: inv.Status, StatusDetails: inv.StatusDetails, ResponseCode: inv.ResponseCode,
			Stderr: tail([]byte(inv.Stderr), stderrTailLines),
		}
	}
	if utf8.RuneCountInString(inv.Stdout) >= outputLimit {
		return nil, fmt.Errorf("the output reached SSM's %d-character limit and may be cut short", outputLimit)
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
func (r *commandRunner) wait(ctx context.Context, commandID string) (*invocation, error) {
	waitCtx, cancel := context.WithTimeout(ctx, r.opts.Timeout+waitSlack)
	defer cancel()
	delay := r.drv.cfg.PollInterval
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-waitCtx.Done():
			r.cancelCommand(ctx, commandID)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("SSM command %s on %s did not finish within %s; it was cancelled",
				commandID, r.instanceID, r.opts.Timeout+waitSlack)
		case <-timer.C:
		}
		inv, err := r.client.commandInvocation(waitCtx, commandID, r.instanceID)
		switch {
		case errors.Is(err, errNotYetVisible):
		case err != nil && waitCtx.Err() != nil:
			// The next turn reports the timeout or cancellation.
		case err != nil:
			return nil, err
		case !slices.Contains(pendingStatuses, inv.Status):
			return inv, nil
		}
		delay = min(2*delay, r.drv.cfg.MaxPollInterval)
		timer.Reset(delay)
	}
}

// cancelCommand stops an abandoned command, so it does not go on changing
// files nobody waits for. It runs even though ctx has ended.
func (r *commandRunner) cancelCommand(ctx context.Context, commandID string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelTimeout)
	defer cancel()
	if err := r.client.cancelCommand(cctx, commandID, r.instanceID); err != nil {
		r.log.Warn("ssm: abandoned command not cancelled", "command", commandID, "err", err)
	}
}

// agentFailureLine is the line the SSM agent appends to a failed script's
// standard error; the error already says the exit code.
var agentFailureLine = regexp.MustCompile(`^failed to run commands: `)

// tail is linuxhost.Tail without the line the SSM agent adds to a failed
// script's standard error: the error already says the exit code.
func tail(b []byte, n int) string {
	lines := strings.Split(string(b), "\n")
	lines = slices.DeleteFunc(lines, func(line string) bool { return agentFailureLine.MatchString(strings.TrimSpace(line)) })
	return linuxhost.Tail([]byte(strings.Join(lines, "\n")), n)
}
