package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
)

// Open files the lab and a wave over it hold, as estimated for
// RLIMIT_NOFILE. The devices share their listening sockets (see sockets),
// so the count does not grow with the fleet.
const (
	// openFilesBase: standard streams, the database and its journal, the
	// CA's and DNS server's sockets, the counts server, the devices'
	// shared sockets, the runtime's own.
	openFilesBase = 128
	// openFilesPerRotation: a rotation in flight holds, at each end, an
	// SSH connection, a TLS check, ACME requests to the CA, a DNS update
	// and, on ottr's side, a database connection. A lab that rotates its
	// own fleet holds both ends.
	openFilesPerRotation = 5
)

// OpenFilesNeeded estimates how many files a lab of o's devices and a
// wave of o.Concurrency rotations at once keep open in the lab's process.
func OpenFilesNeeded(o Options) uint64 {
	ends := 2
	if o.RotatesElsewhere {
		ends = 1
	}
	return OpenFilesForRotations(max(o.Concurrency, 50) * ends)
}

// OpenFilesForRotations estimates how many files ottr keeps open with
// concurrency rotations at once, apart from the lab.
func OpenFilesForRotations(concurrency int) uint64 {
	return uint64(openFilesBase + openFilesPerRotation*concurrency)
}

// EnsureOpenFiles raises this process's soft RLIMIT_NOFILE to its hard
// limit when the soft one is below need, and says so; when even the hard
// limit is below need it changes nothing and says how to raise it.
func EnsureOpenFiles(need uint64, log *slog.Logger) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("lab: read the open-files limit: %w", err)
	}
	soft, err := openFilesLimit(need, lim.Cur, lim.Max)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if soft == lim.Cur {
		return nil
	}
	raised := syscall.Rlimit{Cur: soft, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return fmt.Errorf("lab: raise the open-files limit from %d to %d: %w", lim.Cur, soft, err)
	}
	if log != nil {
		log.Info("raised the open-files limit to the hard limit: the lab needs more than the soft one",
			"needed", need, "soft_limit_was", lim.Cur, "soft_limit", soft)
	}
	return nil
}

// errTooFewOpenFiles is the error of a lab the hard limit is too low for.
var errTooFewOpenFiles = errors.New("too few open files allowed")

// openFilesLimit returns the soft open-files limit a process that needs
// need files should run with, given its soft and hard limits: soft when it
// is enough, else hard; an error saying how to raise the limit when even
// hard is too low.
func openFilesLimit(need, soft, hard uint64) (uint64, error) {
	switch {
	case need <= soft:
		return soft, nil
	case need <= hard:
		return hard, nil
	}
	return 0, fmt.Errorf("%w: the lab needs about %d open files and this process may open at most %d (its hard limit); "+
		"raise it to %d or more (ulimit -n %d as root in the shell that starts ottr, or LimitNOFILE=%d in its systemd unit), "+
		"or run fewer devices or fewer rotations at once", errTooFewOpenFiles, need, hard, need, need, need)
}
