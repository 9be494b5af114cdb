package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/storetest"
	"github.com/ottr-go/ottr/internal/testenv"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

// pg is the PostgreSQL server the tests share, one database each.
var pg pgtest.Shared

func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }

// openStore opens a store on url and closes it when t ends.
func openStore(t testing.TB, url string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// openFresh opens a store on a new database of the shared server.
func openFresh(t *testing.T, opts ...Option) *Store {
	t.Helper()
	return openStore(t, pg.NewDatabase(t), opts...)
}

func TestConformance(t *testing.T) {
	testenv.SkipInShort(t, testenv.PostgreSQL) // once, not in each subtest
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) })
}

func TestOpen(t *testing.T) {
	testenv.SkipInShort(t, testenv.PostgreSQL) // once, not in each subtest
	ctx := context.Background()

	t.Run("keeps data across a reopen", func(t *testing.T) {
		db := pg.NewDatabase(t)
		s, err := Open(ctx, db)
		must(t, err)
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1", DataCenter: "dc1"}))
		must(t, s.PutSecret(ctx, "k", []byte("v")))
		must(t, s.Close())

		s = openStore(t, db)
		a, err := s.GetAsset(ctx, "fw1")
		must(t, err)
		if a.DataCenter != "dc1" {
			t.Errorf("got data center %q after reopen, want dc1", a.DataCenter)
		}
		if v, err := s.GetSecret(ctx, "k"); err != nil || string(v) != "v" {
			t.Errorf("got secret %q, %v after reopen", v, err)
		}
	})

	t.Run("stamps rotations with the injected clock", func(t *testing.T) {
		clock := time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
		s := openFresh(t, WithClock(func() time.Time { return clock }))
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
		r, err := s.CreateRotation(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerAPI})
		must(t, err)
		want := clock.Truncate(time.Second).UTC()
		if r.CreatedAt != want || r.State != store.StatePending {
			t.Errorf("got created_at %v in state %q, want %v pending", r.CreatedAt, r.State, want)
		}
		got, err := s.GetRotation(ctx, r.ID)
		must(t, err)
		if got.CreatedAt != want {
			t.Errorf("read back created_at %v, want %v", got.CreatedAt, want)
		}
	})

	t.Run("stamps users and audit events with the injected clock", func(t *testing.T) {
		clock := time.Date(2030, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("x", 3600))
		s := openFresh(t, WithClock(func() time.Time { return clock }))
		must(t, s.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("h"), Role: store.RoleAdmin}))
		u, err := s.GetUser(ctx, "alice")
		must(t, err)
		if want := clock.Truncate(time.Second).UTC(); u.CreatedAt != want || u.UpdatedAt != want {
			t.Errorf("got created_at %v, updated_at %v, want both %v", u.CreatedAt, u.UpdatedAt, want)
		}
		e, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "alice", Action: "login", Target: "user/alice"})
		must(t, err)
		if want := clock.Truncate(time.Millisecond).UTC(); e.Time != want {
			t.Errorf("got event time %v, want %v", e.Time, want)
		}
	})

	t.Run("sets the pool size and connect timeout", func(t *testing.T) {
		// Open connects with the timeout, so it is longer than a loaded
		// machine needs, and differs from the default.
		s := openFresh(t, WithMaxConns(7), WithConnectTimeout(30*time.Second))
		cfg := s.Pool().Config()
		if cfg.MaxConns != 7 || cfg.ConnConfig.ConnectTimeout != 30*time.Second {
			t.Errorf("pool allows %d connections with a connect timeout of %s, want 7 and 30s",
				cfg.MaxConns, cfg.ConnConfig.ConnectTimeout)
		}
	})

	t.Run("connects with a default timeout when the URL sets none", func(t *testing.T) {
		s := openFresh(t)
		if got := s.Pool().Config().ConnConfig.ConnectTimeout; got != DefaultConnectTimeout {
			t.Errorf("connect timeout %s, want %s", got, DefaultConnectTimeout)
		}
	})
}

// withPassword returns databaseURL with its password replaced.
func withPassword(t *testing.T, databaseURL, password string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	must(t, err)
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

// withHost returns databaseURL pointing at host:port instead.
func withHost(t *testing.T, databaseURL, hostPort string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	must(t, err)
	u.Host = hostPort
	return u.String()
}

// closedPort returns an address on 127.0.0.1 that refuses connections. A
// TCP socket stays bound there without listening until the test ends: the
// kernel refuses connections to it, and no other process can take the
// port, as one could a port merely closed and then answer on it.
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	must(t, err)
	t.Cleanup(func() { syscall.Close(fd) })
	must(t, syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	bound, err := syscall.Getsockname(fd)
	must(t, err)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(bound.(*syscall.SockaddrInet4).Port))
}

// silentServer returns the address of a listener that accepts connections
// and never answers, as a firewall that drops packets makes a server look.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestOpenFailsClearly(t *testing.T) {
	ctx := context.Background()
	const password = "s3cret-Pa55word"
	db := pg.NewDatabase(t)
	silent := silentServer(t)
	closed := closedPort(t)

	// Only the silent server's case waits out a short connect timeout: a
	// server that answers gets a generous one, so a loaded machine's
	// slowness cannot turn the error it gives into a timeout.
	const silentTimeout, answerTimeout = 2 * time.Second, 10 * time.Second
	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		mention []string // what the error must say
	}{
		{"refuses a wrong password, naming the server", withPassword(t, db, password), answerTimeout,
			[]string{pgHost(t, db), "password authentication failed"}},
		{"reports a port nothing listens on", withPassword(t, withHost(t, db, closed), password), answerTimeout,
			[]string{closed, "refused"}},
		{"gives up on a server that never answers after the connect timeout", withPassword(t, withHost(t, db, silent), password), silentTimeout,
			[]string{silent, "timeout"}},
		{"reports a URL that does not parse", "postgres://ottr:" + password + "@127.0.0.1:notaport/ottr", answerTimeout,
			[]string{"URL is not valid"}},
		{"reports a key=value string that does not parse", "host=127.0.0.1 port=notaport password=" + password, answerTimeout,
			[]string{"URL is not valid"}},
		{"reports a password in the query of a URL that does not parse", "postgres://127.0.0.1:notaport/ottr?password=" + password, answerTimeout,
			[]string{"URL is not valid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.url, WithConnectTimeout(tt.timeout))
			if err == nil {
				s.Close()
				t.Fatal("opened a store")
			}
			for _, want := range tt.mention {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			t.Logf("error: %v", err)
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), password) {
					t.Errorf("error %q shows the password", e)
				}
			}
		})
	}
}

// pgHost returns host:port of databaseURL.
func pgHost(t *testing.T, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	must(t, err)
	return u.Host
}

func TestMigrate(t *testing.T) {
	testenv.SkipInShort(t, testenv.PostgreSQL) // once, not in each subtest
	ctx := context.Background()
	ms, err := loadMigrations()
	must(t, err)
	latest := ms[len(ms)-1].version

	// assertOneVersion fails t unless the database holds each migration
	// exactly once.
	assertOneVersion := func(t *testing.T, s *Store) {
		t.Helper()
		v, err := s.SchemaVersion(ctx)
		must(t, err)
		var rows, distinct int
		must(t, s.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &distinct))
		if v != latest || rows != latest || distinct != latest {
			t.Errorf("schema version %d with %d rows (%d versions), want %d of each", v, rows, distinct, latest)
		}
	}

	t.Run("lets many stores migrate one new database at once", func(t *testing.T) {
		db := pg.NewDatabase(t)
		const nodes = 8
		stores := make(chan *Store, nodes)
		errs := make(chan error, nodes)
		var wg sync.WaitGroup
		for range nodes {
			wg.Go(func() {
				s, err := Open(ctx, db, WithMaxConns(1))
				if err != nil {
					errs <- err
					return
				}
				stores <- s
			})
		}
		wg.Wait()
		close(stores)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for s := range stores {
			assertOneVersion(t, s)
			s.Close()
		}
	})

	t.Run("applies each migration once across reopens", func(t *testing.T) {
		db := pg.NewDatabase(t)
		for range 3 {
			s, err := Open(ctx, db)
			must(t, err)
			assertOneVersion(t, s)
			must(t, s.Close())
		}
	})

	t.Run("refuses a database whose schema is newer than it knows", func(t *testing.T) {
		db := pg.NewDatabase(t)
		s := openStore(t, db)
		_, err := s.Pool().Exec(ctx,
			`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from_the_future.sql', now())`, latest+1)
		must(t, err)
		for _, opts := range [][]Option{nil, {WithoutMigrations()}} {
			_, err = Open(ctx, db, opts...)
			if !errors.Is(err, ErrSchemaTooNew) {
				t.Fatalf("got error %v, want one wrapping ErrSchemaTooNew", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(latest+1)) {
				t.Errorf("error %q does not name the database's version %d", err, latest+1)
			}
		}
	})

	t.Run("leaves the schema alone when told to, and refuses an old one", func(t *testing.T) {
		db := pg.NewDatabase(t)
		_, err := Open(ctx, db, WithoutMigrations())
		if !errors.Is(err, ErrSchemaTooOld) {
			t.Fatalf("got error %v, want one wrapping ErrSchemaTooOld", err)
		}
		s := openStore(t, db)
		must(t, s.Migrate(ctx))
		openStore(t, db, WithoutMigrations())
		assertOneVersion(t, s)
	})

	t.Run("rolls back a failed migration whole", func(t *testing.T) {
		db := pg.NewDatabase(t)
		s := openStore(t, db)
		// A table of the first migration's name makes it fail part way.
		_, err := s.Pool().Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE TABLE secrets (x int)`)
		must(t, err)
		if err := s.Migrate(ctx); err == nil {
			t.Fatal("migrated over a conflicting table")
		}
		var assets, migrations bool
		must(t, s.Pool().QueryRow(ctx, `SELECT to_regclass('assets') IS NOT NULL, to_regclass('schema_migrations') IS NOT NULL`).
			Scan(&assets, &migrations))
		if assets || migrations {
			t.Errorf("a failed migration left tables behind: assets %v, schema_migrations %v", assets, migrations)
		}
	})
}

func TestAuditTrailIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	e, err := s.AppendAudit(ctx, store.AuditEvent{Actor: "alice", Action: "asset.delete", Target: "asset/fw1"})
	must(t, err)
	// The store has no method to change the trail; the table refuses it
	// from anything else sharing the database too.
	for _, stmt := range []string{
		`UPDATE audit_events SET actor = 'mallory' WHERE id = $1`,
		`DELETE FROM audit_events WHERE id = $1`,
		`TRUNCATE audit_events`,
	} {
		var args []any
		if strings.Contains(stmt, "$1") {
			args = append(args, e.ID)
		}
		if _, err := s.Pool().Exec(ctx, stmt, args...); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got error %v, want the trail's append-only refusal", stmt, err)
		}
	}
	got, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	if len(got) != 1 || got[0].Actor != "alice" {
		t.Errorf("got trail %+v, want alice's one event unchanged", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOrdersNamesByBytes runs on a database whose default collation sorts
// like a dictionary (ICU's en-US: case and punctuation mostly ignored):
// listings still come in byte order, as from SQLite, so keyset paging
// agrees with the order whatever the database was created with.
func TestOrdersNamesByBytes(t *testing.T) {
	ctx := context.Background()
	admin := openAdmin(t)
	_, err := admin.Exec(ctx, `CREATE DATABASE dictionary_order LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C' TEMPLATE template0`)
	must(t, err)
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, `DROP DATABASE dictionary_order WITH (FORCE)`); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(pg.Server(t).URL())
	must(t, err)
	u.Path = "/dictionary_order"
	s := openStore(t, u.String())

	byteOrder := []string{"B", "a-2", "a1", "b", "é"}
	for _, name := range []string{"é", "b", "a1", "B", "a-2"} {
		must(t, s.CreateAsset(ctx, asset.Asset{SystemName: name}))
		must(t, s.CreateUser(ctx, store.User{Username: name, PasswordHash: []byte("h"), Role: store.RoleAdmin}))
	}
	assets, err := s.ListAssets(ctx, store.AssetFilter{})
	must(t, err)
	users, err := s.ListUsers(ctx)
	must(t, err)
	page, err := s.ListAssets(ctx, store.AssetFilter{After: "a1"})
	must(t, err)
	var gotAssets, gotUsers, gotPage []string
	for _, a := range assets {
		gotAssets = append(gotAssets, a.SystemName)
	}
	for _, u := range users {
		gotUsers = append(gotUsers, u.Username)
	}
	for _, a := range page {
		gotPage = append(gotPage, a.SystemName)
	}
	if fmt.Sprint(gotAssets) != fmt.Sprint(byteOrder) || fmt.Sprint(gotUsers) != fmt.Sprint(byteOrder) {
		t.Errorf("listed assets %q and users %q, want both in byte order %q", gotAssets, gotUsers, byteOrder)
	}
	if fmt.Sprint(gotPage) != fmt.Sprint(byteOrder[3:]) {
		t.Errorf("the page after a1 holds %q, want %q", gotPage, byteOrder[3:])
	}
}

// openAdmin connects to the shared server's postgres database as the
// superuser, until t ends.
func openAdmin(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pg.Server(t).URL())
	must(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
