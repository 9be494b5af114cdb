//go:build unix

package ssmlab

import (
	"os/exec"
	"syscall"
)

// killProcessGroup makes cmd start its own process group and, when its
// context ends, kills the whole group: a script's children (a hook's
// sleep, an openssl) must not outlive a cancelled or timed-out command, as
// the SSM agent kills them too.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
