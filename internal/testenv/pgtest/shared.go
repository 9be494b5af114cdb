package pgtest

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/ottr-go/ottr/internal/testenv"
)

// Shared is one server that every test of a test binary shares, each test
// in databases of its own. The first test that asks for it starts it, and
// Run stops it once every test has run: a test's cleanup cannot, since the
// tests after it still need the server. The zero value is ready to use;
// declare one per test package and call Run from TestMain:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }
type Shared struct {
	mu      sync.Mutex
	running bool // inside Run
	server  *Server
	err     error // why the server did not start; every test fails with it
}

// Run runs the tests of m, then stops and removes the server if a test
// started it, and returns the code to exit with.
func (sh *Shared) Run(m *testing.M) int {
	sh.mu.Lock()
	sh.running = true
	sh.mu.Unlock()

	code := m.Run()

	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.running = false
	if sh.server != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "pgtest: end of the shared server's log:\n%s\n", sh.server.logTail())
		}
		if err := sh.server.close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
		sh.server = nil
	}
	return code
}

// Server returns the shared server, starting it on first use. It fails t if
// PostgreSQL is not installed or did not start, or if Run is not running the
// tests (nothing would stop the server), and skips t under go test -short.
func (sh *Shared) Server(t testing.TB) *Server {
	t.Helper()
	testenv.SkipInShort(t, testenv.PostgreSQL)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.running {
		t.Fatal("pgtest: a Shared server needs TestMain to run the tests with its Run method, which stops it at the end: " +
			"func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }")
	}
	if sh.server == nil && sh.err == nil {
		sh.server, sh.err = newServer()
		if sh.err == nil {
			sh.server.shared = true
		}
	}
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.server
}

// NewDatabase creates a new, empty database on the shared server for t and
// returns its URL; the database is dropped when t ends.
func (sh *Shared) NewDatabase(t testing.TB) string {
	t.Helper()
	return sh.Server(t).NewDatabase(t)
}
