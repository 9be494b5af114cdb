package linux

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver/linux/linuxlab"
)

// BenchmarkRotation runs the driver's part of a rotation (current
// certificate, CSR, install with its reload) against one emulated host and
// reports the processes the machine started per rotation, read from
// /proc/stat: each process a host's script starts is a fork and an exec,
// the host-side cost the driver controls. The count is machine-wide, so
// other load on the machine adds to it.
//
//	go test -run '^$' -bench Rotation ./internal/driver/linux/
func BenchmarkRotation(b *testing.B) {
	f := newFixture(b, linuxlab.Config{})
	sess := f.open(b, f.driver())
	ca := newCA(b)
	ctx := context.Background()
	commands := f.host.Commands()
	forks := forkCount(b)
	for b.Loop() {
		if _, err := sess.CurrentCertificate(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := sess.Install(ctx, f.issue(b, sess, ca)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(forkCount(b)-forks)/float64(b.N), "processes/op")
	b.ReportMetric(float64(f.host.Commands()-commands)/float64(b.N), "commands/op")
}

// forkCount reads how many processes the machine has started since boot.
func forkCount(b *testing.B) int64 {
	file, err := os.Open("/proc/stat")
	if err != nil {
		b.Skipf("no /proc/stat: %v", err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "processes "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no processes line in /proc/stat")
	return 0
}
