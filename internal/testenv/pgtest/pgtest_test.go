package pgtest

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ottr-go/ottr/internal/testenv"
)

var pg Shared

func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }

// connect opens a connection to url, closed when t ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, url, table string) int {
	t.Helper()
	conn := connect(t, url)
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSharedServer(t *testing.T) {
	testenv.SkipInShort(t, testenv.PostgreSQL)
	ctx := context.Background()

	t.Run("gives each test a fresh, empty database", func(t *testing.T) {
		a, b := pg.NewDatabase(t), pg.NewDatabase(t)
		if a == b {
			t.Fatalf("two databases share the URL %s", a)
		}
		mustExec(t, connect(t, a), `CREATE TABLE things (id int)`)
		var exists bool
		if err := connect(t, b).QueryRow(ctx, `SELECT to_regclass('things') IS NOT NULL`).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Error("a table created in one database shows in the other")
		}
	})

	t.Run("is one server for every test", func(t *testing.T) {
		if pg.Server(t) != pg.Server(t) {
			t.Error("two calls returned two servers")
		}
	})

	t.Run("drops a test's database when the test ends", func(t *testing.T) {
		var name string
		t.Run("inner", func(t *testing.T) {
			u, err := url.Parse(pg.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			name = strings.TrimPrefix(u.Path, "/")
			connect(t, u.String()) // left open: the drop must close it
		})
		var exists bool
		if err := connect(t, pg.Server(t).URL()).QueryRow(ctx,
			`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	})

	t.Run("refuses to be stopped by one test", func(t *testing.T) {
		if err := pg.Server(t).refuseShared("stop"); err == nil {
			t.Error("the shared server accepts Stop")
		}
	})
}

func TestLogin(t *testing.T) {
	srv := pg.Server(t)

	t.Run("listens on 127.0.0.1", func(t *testing.T) {
		u, err := url.Parse(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		if u.Hostname() != "127.0.0.1" || u.Port() != strconv.Itoa(srv.Port()) {
			t.Errorf("URL %s, want 127.0.0.1:%d", u.Redacted(), srv.Port())
		}
	})

	t.Run("refuses a wrong password", func(t *testing.T) {
		u, err := url.Parse(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(Superuser, "wrong")
		_, err = pgx.Connect(context.Background(), u.String())
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
			t.Errorf("got error %v, want invalid_password (28P01)", err)
		}
	})

	t.Run("runs PostgreSQL as an unprivileged user", func(t *testing.T) {
		var pid int
		if err := connect(t, srv.URL()).QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
		if err != nil {
			t.Fatal(err)
		}
		uid := fi.Sys().(*syscall.Stat_t).Uid
		if os.Geteuid() == 0 && uid == 0 {
			t.Error("the server runs as root")
		}
		if os.Geteuid() != 0 && uid != uint32(os.Geteuid()) {
			t.Errorf("the server runs as uid %d, want the test's own %d", uid, os.Geteuid())
		}
	})
}

func TestRestart(t *testing.T) {
	srv := Start(t)
	db := srv.NewDatabase(t)
	conn := connect(t, db)
	mustExec(t, conn, `CREATE TABLE things (id int)`)
	mustExec(t, conn, `INSERT INTO things VALUES (1)`)

	srv.Stop(t)
	if srv.Running() {
		t.Fatal("server runs after Stop")
	}
	if _, err := pgx.Connect(context.Background(), db); err == nil {
		t.Fatal("connected to a stopped server")
	}
	srv.Start(t)
	if n := count(t, db, "things"); n != 1 {
		t.Errorf("got %d rows after a restart, want 1", n)
	}

	mustExec(t, connect(t, db), `INSERT INTO things VALUES (2)`)
	srv.Kill(t)
	srv.Start(t)
	if n := count(t, db, "things"); n != 2 {
		t.Errorf("got %d rows after a crash, want the 2 committed", n)
	}

	srv.Restart(t)
	if n := count(t, db, "things"); n != 2 {
		t.Errorf("got %d rows after Restart, want 2", n)
	}
}

func TestStopRemovesEverything(t *testing.T) {
	testenv.SkipInShort(t, testenv.PostgreSQL)
	s, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	pid := s.process.pid
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory %s left behind: %v", s.dir, err)
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster %d still runs after close", pid)
	}
}

func TestMissingBinaries(t *testing.T) {
	_, err := findBinDir(t.TempDir())
	if err == nil {
		t.Fatal("found binaries in an empty directory")
	}
	for _, want := range []string{"postgresql", "make test"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFindsTheNewestVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "16", "17"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		names := []string{"initdb", "postgres"}
		if v == "17" {
			names = names[:1] // incomplete: no server binary
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(bin, name), nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := findBinDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "16", "bin"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
