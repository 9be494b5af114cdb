package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file finds the binaries and runs them: initdb once per server, the
// postmaster once per Start.

// findBinDir returns the bin directory of the newest PostgreSQL under root
// that has both initdb and postgres.
func findBinDir(root string) (string, error) {
	entries, _ := os.ReadDir(root)
	var versions []float64
	dirs := map[float64]string{}
	for _, e := range entries {
		v, err := strconv.ParseFloat(e.Name(), 64)
		bin := filepath.Join(root, e.Name(), "bin")
		if err != nil || !executable(filepath.Join(bin, "initdb")) || !executable(filepath.Join(bin, "postgres")) {
			continue
		}
		versions = append(versions, v)
		dirs[v] = bin
	}
	if len(versions) == 0 {
		return "", fmt.Errorf("pgtest: no PostgreSQL server binaries (initdb, postgres) in %s/*/bin: "+
			"install the Debian package postgresql (`make test` installs it when run as root)", root)
	}
	return dirs[slices.Max(versions)], nil
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// unprivilegedUser returns whom to run PostgreSQL as when we are root, or
// nil when we are not: the server refuses to start as root.
func unprivilegedUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("pgtest: running as root and found neither a postgres nor a nobody user to run PostgreSQL as " +
		"(the Debian package postgresql creates postgres)")
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) dataDir() string   { return filepath.Join(s.dir, "data") }
func (s *Server) socketDir() string { return filepath.Join(s.dir, "run") }
func (s *Server) logPath() string   { return filepath.Join(s.dir, "postgres.log") }

// initdb creates the data directory: UTF-8 with the C locale, so nothing
// depends on the machine's locales; password logins over TCP, trusted ones
// over the unix socket.
func (s *Server) initdb() error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Mkdir(s.socketDir(), 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	for _, path := range []string{s.dir, pwfile, s.socketDir()} {
		if err := s.chown(path); err != nil {
			return err
		}
	}
	cmd := s.command("initdb",
		"--pgdata="+s.dataDir(), "--username="+Superuser, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	out, err := cmd.CombinedOutput()
	os.Remove(pwfile)
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return nil
}

// chown gives path to the user the server runs as.
func (s *Server) chown(path string) error {
	if s.runAs == nil {
		return nil
	}
	if err := os.Chown(path, int(s.runAs.Uid), int(s.runAs.Gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// command returns a command running one of the server's binaries as the
// server's user, in the server's directory, with an environment of its own
// (no PG* variables of the test's leak in).
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.binDir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.runAs}
	return cmd
}

// start runs the postmaster and waits until it accepts connections.
func (s *Server) start() error {
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close() // the child keeps its own copy
	cmd := s.command("postgres",
		"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-k", s.socketDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		"-c", "TimeZone=UTC",
		// Durable against a crash of the server (Kill), which is what
		// tests check; not against one of the machine, which would lose
		// the temporary directory anyway.
		"-c", "fsync=off",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so Kill can kill the postmaster's children
	// with it, as a crash of the machine would. If the test binary dies
	// without stopping the server, the postmaster gets SIGQUIT (immediate
	// shutdown) instead of living on.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT

	p := &process{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The kernel sends Pdeathsig when the thread that started the
		// child exits, not the process: keep this thread for the child's
		// whole life.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		cmd.Wait()
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	if err := s.waitReady(p); err != nil {
		killGroup(p)
		return err
	}
	s.process = p
	return nil
}

// waitReady waits until the server accepts a login over TCP.
func (s *Server) waitReady(p *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("pgtest: postgres exited while starting:\n%s", s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres did not accept connections within %s: %v\n%s", startTimeout, err, s.logTail())
		}
	}
}

// killGroup kills the postmaster and every process it started with
// SIGKILL, and waits until they are gone: a server process that outlives
// the postmaster by a moment keeps the port and the shared memory that a
// new postmaster needs.
func killGroup(p *process) {
	syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.exited
	deadline := time.Now().Add(stopTimeout)
	for groupAlive(p.pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// groupAlive reports whether a process of the process group pgid is alive,
// zombies aside: they hold no port or memory, and whoever adopted them may
// be slow to reap them.
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) >= 3 && fields[0] != "Z" && fields[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// logTail returns the last lines of the server's log.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// logSize returns how long the server's log is now, for logSince.
func (s *Server) logSize() int64 {
	fi, err := os.Stat(s.logPath())
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince returns what the server logged after the log was size bytes.
func (s *Server) logSince(size int64) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil || int64(len(b)) < size {
		return ""
	}
	return string(b[size:])
}
