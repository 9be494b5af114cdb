package linuxhost

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// TailLines is how much of a failed script's standard error an error
// keeps: enough for the tool's own diagnosis, little enough for a log line.
const TailLines = 5

// privateKeyMarker starts every PEM private key block (PKCS#1, PKCS#8, SEC1,
// OpenSSH); no output ottr reads may contain it.
const privateKeyMarker = "PRIVATE KEY"

// CommandError is a script that ran on the host and failed, as a Runner
// reports it when its transport has nothing to add (package ssm's
// CommandError adds SSM's statuses).
type CommandError struct {
	// Step names what the driver was doing ("reload", "install").
	Step string
	// ExitStatus is the script's exit status, or -1 when the host sent
	// none (the script was killed or the connection dropped).
	ExitStatus int
	// Stderr holds the last lines the script wrote to its standard error
	// (Tail).
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

// Tail returns the last n non-empty lines of b, joined with "; " so an
// error stays on one line. Output that holds key material is withheld
// whole: dropping only the PEM armour lines would keep the base64 body.
func Tail(b []byte, n int) string {
	if bytes.Contains(b, []byte(privateKeyMarker)) {
		return "[output withheld: it contained a private key]"
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

// exec runs script through the transport and returns its output and the
// transport's error, without prefix. Whatever happened, output holding a
// private key is neither returned nor kept: the key must not leave the
// host.
func (h *Host) exec(ctx context.Context, step, script string, stdin []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := h.cfg.Runner.Run(ctx, step, script, stdin)
	if bytes.Contains(out, []byte(privateKeyMarker)) {
		clear(out)
		return nil, fmt.Errorf("the %s wrote a private key to the output; it was discarded and the step refused", h.cfg.Noun)
	}
	return out, err
}

// run is exec with the error prefixed with the driver and the step. The
// output a failed script printed is returned with the error.
func (h *Host) run(ctx context.Context, step, script string, stdin []byte) ([]byte, error) {
	out, err := h.exec(ctx, step, script, stdin)
	if err != nil {
		return out, h.wrap(step, err)
	}
	return out, nil
}
