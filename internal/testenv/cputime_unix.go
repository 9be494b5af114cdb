//go:build unix

package testenv

import (
	"syscall"
	"time"
)

// ProcessCPUTime is the CPU time this process has used, user and system,
// and whether it is known. On a machine shared with other work, a
// benchmark's CPU time per operation says more than its wall-clock time,
// which counts the time others held the cores.
func ProcessCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
