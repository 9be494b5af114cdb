package linux

import (
	"strings"

	"github.com/ottr-go/ottr/internal/driver/linux/hostcheck"
)

// Shell functions and fragments the driver's scripts are made of. They use
// only builtins of every POSIX sh (read, printf, case, [) where they can: on
// the host, each external program a script runs is a fork and an exec,
// which costs more than reading a few kilobytes of PEM line by line.

// certBlocksFunc defines "cert_blocks FILE", which prints only the
// CERTIFICATE blocks of FILE (hostcheck.CertBlocksFunc).
const certBlocksFunc = hostcheck.CertBlocksFunc

// uploadEnd ends each file in an upload's standard input. It cannot be a
// line of PEM text.
const uploadEnd = "@@ottr-end"

// uploadFunc defines "upload", which copies standard input to standard
// output up to a line that is uploadEnd, and fails when the input ends
// first: a cut connection must not leave a truncated file to move into
// place. "read" takes one byte at a time from a pipe, so each call leaves
// the rest of the input to the next.
const uploadFunc = `upload() {
	while IFS= read -r line; do
		if [ "$line" = '` + uploadEnd + `' ]; then return 0; fi
		printf '%s\n' "$line"
	done
	return 1
}`

// uploadInput joins files into the standard input of a script that reads
// them with one "upload" call each, in order.
func uploadInput(files ...[]byte) []byte {
	var b strings.Builder
	for _, f := range files {
		b.Write(f)
		if len(f) > 0 && f[len(f)-1] != '\n' {
			b.WriteByte('\n')
		}
		b.WriteString(uploadEnd + "\n")
	}
	return []byte(b.String())
}

// exists is a shell test that is true when the quoted path names anything,
// a dangling symbolic link included.
func exists(quoted string) string {
	return "{ [ -e " + quoted + " ] || [ -L " + quoted + " ]; }"
}

// ensureDir is a shell line that creates dir unless it exists, without
// running mkdir when it does.
func ensureDir(dir string) string {
	q := shellQuote(dir)
	return "[ -d " + q + " ] || mkdir -p -- " + q
}
