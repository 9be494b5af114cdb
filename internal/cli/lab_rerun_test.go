package cli_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/testenv/output"
)

// needLabTools fails the test when the lab's hosts cannot run.
func needLabTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"openssl", "ssh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the lab needs %s (Debian packages openssl and openssh-client; 'make test' installs them as root)", tool)
		}
	}
}

// runChild runs the ottr command line in a child process of binary (each
// lab's CA needs a process of its own) and returns its output.
func runChild(t *testing.T, binary string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := childCommand(t, binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		return out.String(), errOut.String(), exitErr.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// deviceRow matches a device's row of the lab's table: its name, old and
// new serial.
var deviceRow = regexp.MustCompile(`(?m)^(\S+\.lab\.ottr\.test)\s+(\S+)\s+(\S+)\s`)

// A second lab on the same --data directory is refused unless --reuse
// says to run on it; with --reuse, the table shows this run's rotation
// and not the last run's.
func TestLabRunAgainOnItsDataDirectory(t *testing.T) {
	needLabTools(t)
	dir := filepath.Join(t.TempDir(), "lab")
	args := []string{"lab", "--devices", "1", "--data", dir, "--ca-validation-time", "0"}

	out, errOut, code := runChild(t, testBinary(t), args...)
	if code != 0 || !strings.Contains(out, "1 rotated, 0 failed") {
		t.Fatalf("first lab: exit %d\n%s\n%s", code, out, errOut)
	}
	first := deviceRow.FindStringSubmatch(out)
	if first == nil {
		t.Fatalf("the first lab's table has no device row:\n%s", out)
	}

	out, errOut, code = runChild(t, testBinary(t), args...)
	if code == 0 || !strings.Contains(errOut, "--data "+dir+" holds an earlier lab") || !strings.Contains(errOut, "pass --reuse") {
		t.Errorf("a second lab on the directory without --reuse: exit %d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "starting the lab") {
		t.Errorf("the refused lab started:\n%s", out)
	}

	out, errOut, code = runChild(t, testBinary(t), append(args, "--reuse")...)
	if code != 0 || !strings.Contains(out, "1 rotated, 0 failed") {
		t.Fatalf("the lab with --reuse: exit %d\n%s\n%s", code, out, errOut)
	}
	rows := deviceRow.FindAllStringSubmatch(out, -1)
	if len(rows) != 1 {
		t.Fatalf("the table of the rerun has %d device rows, want this run's one:\n%s", len(rows), out)
	}
	if old, renewed := rows[0][2], rows[0][3]; old == renewed || renewed == first[3] {
		t.Errorf("the rerun's row shows serial %s -> %s, the first run's new serial was %s: want a new one", old, renewed, first[3])
	}
}

// The command a lab that stays up suggests can be typed as it is: the go
// command's own when this ottr was built by go run, "ottr" when that is
// what the shell finds, and the executable's path otherwise.
func TestLabSuggestsACommandTheOperatorCanType(t *testing.T) {
	needLabTools(t)
	moduleRoot, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moduleRoot, "cmd", "ottr")); err != nil {
		t.Fatalf("the module root is not two levels up: %v", err)
	}
	bin := t.TempDir()
	installed := copyBinary(t, testBinary(t), filepath.Join(bin, "ottr"))
	elsewhere := copyBinary(t, testBinary(t), filepath.Join(t.TempDir(), "ottr-build"))
	tests := []struct {
		name string
		// binary runs from dir, with bin on PATH when onPath is set.
		binary, dir string
		onPath      bool
		want        string
	}{
		{"go run from the module's root", testBinary(t), moduleRoot, false, "go run ./cmd/ottr"},
		{"go run from elsewhere in the module", testBinary(t), "", false, "go run github.com/ottr-go/ottr/cmd/ottr"},
		{"a binary the shell finds as ottr", installed, "", true, "ottr"},
		{"a binary the shell does not find", elsewhere, "", false, elsewhere},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "lab")
			cmd := childCommand(t, tt.binary, "lab", "--no-rotate", "--devices", "1", "--data", data)
			cmd.Dir = tt.dir
			if tt.onPath {
				cmd.Env = append(cmd.Env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			}
			out := &output.Buffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				_ = cmd.Wait()
			}()
			for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(out.String(), "or look first"); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the lab did not come up:\n%s", out.String())
				}
			}
			config := filepath.Join(data, "ottr.yaml")
			for _, want := range []string{"\n  " + tt.want + " serve --config " + config + "\n", "\n  " + tt.want + " --config " + config + " plan\n"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the lab does not suggest %q:\n%s", strings.TrimSpace(want), out.String())
				}
			}
		})
	}
}

// copyBinary copies the executable from to to, and returns to.
func copyBinary(t *testing.T, from, to string) string {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}
