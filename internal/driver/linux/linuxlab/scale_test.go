package linuxlab

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// BenchmarkStart2000Hosts starts the lab's largest fleet in one process,
// each host on its own loopback IP as `ottr lab` runs them, and reports the
// process's resident memory with all of them idle, then checks that one of
// them answers.
//
//	go test -run '^$' -bench Start2000Hosts -benchtime 1x ./internal/driver/linux/linuxlab/
func BenchmarkStart2000Hosts(b *testing.B) {
	const hosts = 2000
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		root := b.TempDir()
		started := make([]*Host, 0, hosts)
		for i := range hosts {
			ip := fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
			h, err := Start(context.Background(), Config{
				Name:          fmt.Sprintf("web%d.example.test", i),
				Dir:           filepath.Join(root, strconv.Itoa(i)),
				SSHAddr:       ip + ":0",
				TLSAddr:       ip + ":0",
				AuthorizedKey: signer.PublicKey(),
			})
			if err != nil {
				b.Fatalf("host %d: %v", i, err)
			}
			started = append(started, h)
		}
		runtime.GC()
		rss := residentMiB(b)
		b.ReportMetric(rss, "RSS-MiB")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")

		last := started[len(started)-1]
		client, err := ssh.Dial("tcp", last.SSHAddr(), &ssh.ClientConfig{
			User: "ottr", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(last.HostKey()),
		})
		if err != nil {
			b.Fatalf("the last host does not answer: %v", err)
		}
		_ = client.Close()

		for _, h := range started {
			_ = h.Close()
		}
	}
}

// residentMiB reads the process's resident set size from /proc.
func residentMiB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("VmRSS not found")
	return 0
}
