//go:build !unix

package testenv

import "time"

// ProcessCPUTime is not known here: benchmarks leave out their CPU figure.
func ProcessCPUTime() (time.Duration, bool) { return 0, false }
