// Package testenv sorts ottr's tests into two tiers. `make test`, which CI
// runs, runs every test. `go test -short ./...` (`make test-short`) is the
// fast loop: it skips the tests that start real servers, each with one line
// naming what it would have started, and keeps what runs in the test
// process (the embedded Pebble CA, the lab DNS server, the SSH device
// emulators, SQLite).
//
// The full tier never skips: a test whose Debian package is missing fails
// there, naming the package, so CI cannot pass without running it.
package testenv

import "testing"

// Tier is what the tests of one slow tier start, as their skip line says.
type Tier string

const (
	// PostgreSQL is a real PostgreSQL server (pgtest).
	PostgreSQL Tier = "PostgreSQL"
	// RealServers are the servers installed from Debian that the
	// end-to-end tests drive (realserver, and Prometheus in metrics).
	RealServers Tier = "real servers from Debian (sshd, nginx, HAProxy, BIND 9, Prometheus, SMTP)"
	// Cluster is ottr serve and workers as processes on one PostgreSQL.
	Cluster Tier = "an ottr cluster on PostgreSQL"
	// KillTest is ottr serve, killed and restarted mid-wave.
	KillTest Tier = "ottr serve and kills it mid-wave"
)

// SkipLine is the one line a test of tier says when -short skips it.
func (tier Tier) SkipLine() string {
	return "short: starts " + string(tier) + "; make test runs it"
}

// SkipInShort skips t when the tests run with -short.
func SkipInShort(t testing.TB, tier Tier) {
	t.Helper()
	if testing.Short() {
		t.Skip(tier.SkipLine())
	}
}
