//go:build unix

package script

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// killProcessGroup runs cmd in a process group of its own and makes the
// end of its context kill the whole group: a shell script's ssh, openssl
// and sleep die with it instead of living on, holding the device.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// A negative PID signals every process of the group.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
}
