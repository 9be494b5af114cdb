//go:build !unix

package script

import "os/exec"

// killProcessGroup keeps exec's default on systems without process groups:
// the end of the context kills the script itself.
func killProcessGroup(*exec.Cmd) {}
