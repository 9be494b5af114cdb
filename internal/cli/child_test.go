package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ottr-go/ottr/internal/cli"
)

// childArgsEnv carries the command line of an ottr child process.
const childArgsEnv = "OTTR_CLI_TEST_CHILD_ARGS"

// TestOttrChildProcess is the ottr command line in a process of its own,
// for tests that need one: to run as another user, or to host a lab whose
// embedded CA cannot share this process. It runs only when started by
// childCommand.
func TestOttrChildProcess(t *testing.T) {
	raw, ok := os.LookupEnv(childArgsEnv)
	if !ok {
		t.Skip("runs only in a child process that a test starts")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(cli.Main(args, os.Stdin, os.Stdout, os.Stderr))
}

// childCommand returns a command running the ottr command line with args
// in a new process of binary, a copy of this test binary.
func childCommand(t *testing.T, binary string, args ...string) *exec.Cmd {
	t.Helper()
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "-test.run=^TestOttrChildProcess$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(encoded))
	return cmd
}

// testBinary returns this test binary's path.
func testBinary(t *testing.T) string {
	t.Helper()
	path, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// nobody is the user that tests run ottr as when they run as root, so that
// file permissions apply.
const nobody = 65534

// runAsNobody runs the ottr command line as user nobody, in a child
// process. The test must run as root; files ottr needs must be reachable
// by nobody (see openWorkspace).
func runAsNobody(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// The test binary sits in a directory only root may enter: run a copy.
	dir := openTempDir(t)
	binary := copyBinary(t, testBinary(t), filepath.Join(dir, "ottr.test"))
	cmd := childCommand(t, binary, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return out.String(), errOut.String(), exitErr.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// openTempDir returns a new temporary directory every user may enter
// (t.TempDir's parent is root's alone), removed when t ends.
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ottr-cli-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// openWorkspace is workspace in a directory every user may enter, so a
// child process running as nobody reaches it once given its files.
func openWorkspace(t *testing.T) string {
	t.Helper()
	cfg, err := os.ReadFile(workspace(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(openTempDir(t), "ottr.yaml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// chownTree gives every file under root to uid.
func chownTree(t *testing.T, root string, uid int) {
	t.Helper()
	err := filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// treeState lists every file under root with its mode, owner and a hash
// of its contents, so a test can tell that a command changed nothing.
func treeState(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %s", strings.TrimPrefix(path, root), info.Mode())
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			line += fmt.Sprintf(" uid=%d", st.Uid)
		}
		if info.Mode().IsRegular() {
			if data, err := os.ReadFile(path); err == nil {
				line += fmt.Sprintf(" sha256=%x", sha256.Sum256(data))
			}
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
