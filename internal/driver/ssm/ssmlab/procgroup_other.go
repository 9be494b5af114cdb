//go:build !unix

package ssmlab

import "os/exec"

// killProcessGroup leaves cmd's default cancellation (killing the shell
// alone) where process groups do not exist.
func killProcessGroup(*exec.Cmd) {}
