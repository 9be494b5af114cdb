// Package pgtest runs real PostgreSQL servers for tests, from the binaries of
// Debian's postgresql package: each server gets its own data directory and
// unix socket directory under the system's temporary directory, listens on
// 127.0.0.1 on a free port, and is stopped and removed when its test ends.
//
// Clients log in over TCP as the superuser "postgres" with a random password
// (scram-sha-256), so a wrong password is refused as it would be in
// production; URL carries the password. Connections over the server's unix
// socket are trusted, but tests have no need for them.
//
// PostgreSQL refuses to run as root. When the test runs as root, the server
// runs as the "postgres" system user that the Debian package creates, or as
// "nobody" if there is none, and owns its directories.
//
// A server takes about a second to initialize, so the tests of one package
// usually share one, each in its own database:
//
//	var pg pgtest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		url := pg.NewDatabase(t) // a fresh, empty database
//		…
//	}
//
// A test that stops, restarts or kills PostgreSQL starts a server of its
// own with Start.
//
// Under go test -short, Start, Server and NewDatabase skip the test instead
// of starting PostgreSQL (see package testenv); `make test` runs it.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/testenv"
)

// Superuser is the name of the role URL logs in as.
const Superuser = "postgres"

// binRoot is where Debian installs each major version's server binaries,
// one directory per version.
const binRoot = "/usr/lib/postgresql"

// startTimeout bounds how long a server may take to accept connections, and
// stopTimeout how long it may take to shut down before it is killed.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is one running (or stopped) PostgreSQL server. Its methods are safe
// for concurrent use.
type Server struct {
	binDir   string
	dir      string // holds data/, run/ (the socket) and postgres.log
	port     int
	password string
	runAs    *syscall.Credential // nil: run as the current user
	shared   bool                // Stop, Start and Kill refuse a shared server

	databases atomic.Int64 // names NewDatabase's databases

	mu      sync.Mutex
	process *process // nil while stopped

	// admin is a connection to the "postgres" database that NewDatabase
	// reuses: opening one costs tens of milliseconds.
	adminMu sync.Mutex
	admin   *pgx.Conn
}

// process is one run of the postmaster.
type process struct {
	pid    int
	exited chan struct{} // closed once the postmaster has exited
}

// Start initializes and starts a new server for t, and stops it and removes
// its files when t ends. It fails t, naming the Debian package to install,
// when PostgreSQL is not installed, and skips t under go test -short.
func Start(t testing.TB) *Server {
	t.Helper()
	testenv.SkipInShort(t, testenv.PostgreSQL)
	s, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: end of the server log:\n%s", s.logTail())
		}
		if err := s.close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// newServer initializes a data directory and starts a server on it. The
// caller must close it.
func newServer() (*Server, error) {
	binDir, err := findBinDir(binRoot)
	if err != nil {
		return nil, err
	}
	runAs, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{binDir: binDir, dir: dir, password: rand.Text(), runAs: runAs}
	if err := s.initdb(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Another process can take the free port between our probe and the
	// server's bind; a new port almost always avoids that.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		err = s.start()
		if err == nil {
			return s, nil
		}
		if attempt == 3 || !strings.Contains(s.logTail(), "could not bind") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// URL returns the postgres:// URL of the server's "postgres" database, with
// the superuser's password.
func (s *Server) URL() string { return s.url("postgres") }

// DatabaseURL returns the URL of the named database on the server.
func (s *Server) DatabaseURL(database string) string { return s.url(database) }

func (s *Server) url(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, s.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on, on 127.0.0.1. It stays
// the same across Stop and Start.
func (s *Server) Port() int { return s.port }

// Password returns the superuser's password.
func (s *Server) Password() string { return s.password }

// NewDatabase creates a new, empty database for t, returns its URL, and
// drops it when t ends, closing any connection left to it.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "test_" + strconv.FormatInt(s.databases.Add(1), 10)
	if err := s.exec(context.Background(), `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !s.Running() {
			return // stopped by the test; the whole server goes soon
		}
		if err := s.exec(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.url(name)
}

// exec runs one statement as the superuser in the "postgres" database.
func (s *Server) exec(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	// The connection may have been lost to a restart since its last use:
	// a second attempt runs on a new one.
	var err error
	for range 2 {
		if s.admin == nil || s.admin.IsClosed() {
			if s.admin, err = pgx.Connect(ctx, s.URL()); err != nil {
				return err
			}
		}
		if _, err = s.admin.Exec(ctx, sql); err == nil || !s.admin.IsClosed() {
			return err
		}
	}
	return err
}

// closeAdmin closes the connection exec keeps.
func (s *Server) closeAdmin() {
	s.adminMu.Lock()
	defer s.adminMu.Unlock()
	if s.admin != nil {
		s.admin.Close(context.Background())
		s.admin = nil
	}
}

// Running reports whether the server's postmaster is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.process != nil
}

// Stop shuts the server down cleanly (a fast shutdown: clients are
// disconnected, committed work is kept) and waits until it has exited. The
// data stays for Start.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.refuseShared("stop"); err != nil {
		t.Fatal(err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// Kill kills the postmaster and every server process with SIGKILL, as a
// crash would, and waits until they have exited. Start recovers the data.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if err := s.refuseShared("kill"); err != nil {
		t.Fatal(err)
	}
	s.closeAdmin()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.process == nil {
		t.Fatal("pgtest: kill: the server is not running")
	}
	killGroup(s.process)
	s.process = nil
}

// Start starts a stopped or killed server again, on the same port and data,
// and waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.refuseShared("start"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.process != nil {
		t.Fatal("pgtest: start: the server is running already")
	}
	// While the server was down, an outgoing connection of this machine
	// may have been given its port; it is soon closed. After a kill, a
	// server process may still hold the old shared memory for a moment
	// after the postmaster is gone; it is soon released.
	for attempt := 1; ; attempt++ {
		logged := s.logSize()
		err := s.start()
		if err == nil {
			return
		}
		since := s.logSince(logged)
		passing := strings.Contains(since, "could not bind") || strings.Contains(since, "pre-existing shared memory block")
		if attempt == 20 || !passing {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Restart stops the server cleanly and starts it again.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

func (s *Server) refuseShared(what string) error {
	if s.shared {
		return fmt.Errorf("pgtest: %s: the server is shared by every test of the package; use pgtest.Start for a server of the test's own", what)
	}
	return nil
}

// stop shuts the server down if it runs: SIGINT asks for a fast shutdown;
// a server that has not exited after stopTimeout is killed.
func (s *Server) stop() error {
	s.closeAdmin()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.process
	if p == nil {
		return nil
	}
	s.process = nil
	syscall.Kill(p.pid, syscall.SIGINT)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopTimeout):
		killGroup(p)
		return fmt.Errorf("pgtest: postgres did not shut down within %s and was killed:\n%s", stopTimeout, s.logTail())
	}
}

// close stops the server and removes its files.
func (s *Server) close() error {
	err := s.stop()
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("pgtest: remove %s: %w", s.dir, rmErr)
	}
	return err
}
