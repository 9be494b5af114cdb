package killtest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/testenv/output"
)

// child is one ottr process the test started. It runs in a process group
// of its own, so killing the group ends whatever it started too, and dies
// with the test binary (Pdeathsig), so a test that times out leaves no lab
// or serve behind holding ports.
type child struct {
	name   string
	cmd    *exec.Cmd
	out    *output.Buffer
	exited chan struct{}
	// ready is when the process said it was serving, for serve.
	ready time.Time
}

// startChild runs ottr with args and kills it when the test ends.
func startChild(t *testing.T, name string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(ottrBinary, args...)
	out := &output.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, out: out, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("last output of %s (pid %d, %s):\n%s", name, cmd.Process.Pid, cmd.ProcessState, lastLines(out.String(), 25))
		}
	})
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// running reports whether the process has not exited yet.
func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL to the child's process group and waits for the child
// to be gone. Killing it again does nothing.
func (c *child) kill() {
	if c.running() {
		// The group is the child's own (Setpgid): its ID is the child's.
		_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	}
	<-c.exited
}

// stop ends the child with SIGTERM, as systemd does, and kills it if it
// has not exited within limit. It reports whether SIGTERM was enough.
func (c *child) stop(limit time.Duration) bool {
	if !c.running() {
		return true
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return true
	case <-time.After(limit):
		c.kill()
		return false
	}
}

// waitForLine waits until the child has printed a line containing want, and
// returns that line. It fails when the child exits first or ctx ends.
func (c *child) waitForLine(ctx context.Context, want string) (string, error) {
	for {
		if line, ok := c.out.LineWith(want); ok {
			return line, nil
		}
		select {
		case <-c.exited:
			if line, ok := c.out.LineWith(want); ok {
				return line, nil
			}
			return "", fmt.Errorf("%s exited (%s) before printing %q:\n%s", c.name, c.cmd.ProcessState, want, lastLines(c.out.String(), 25))
		case <-ctx.Done():
			return "", fmt.Errorf("%s printed no %q: %w", c.name, want, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// errDeadline ends the test's waits early enough to report and clean up
// before `go test -timeout` would kill the binary.
var errDeadline = errors.New("the test's -timeout is near")

// testContext is a context that ends before the test's deadline, by margin
// or by a fifth of the time left, whichever is less.
func testContext(t *testing.T, margin time.Duration) context.Context {
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		margin = min(margin, time.Until(deadline)/5)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, deadline.Add(-margin), errDeadline)
		t.Cleanup(cancel)
	}
	return ctx
}

// buildOttr builds cmd/ottr into dir and returns its path.
func buildOttr(dir string) (string, error) {
	bin := filepath.Join(dir, "ottr")
	build := exec.Command("go", "build", "-o", bin, "github.com/ottr-go/ottr/cmd/ottr")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build ottr: %w\n%s", err, out)
	}
	return bin, nil
}
