package rotation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite"
)

// sqliteBusyError returns the error SQLite answers a write with while
// another connection holds the database's write lock.
func sqliteBusyError(t *testing.T) error {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	holder, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.ExecContext(ctx, "ROLLBACK") }()
	writer, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	_, err = writer.ExecContext(ctx, "INSERT INTO t VALUES (1)")
	if err == nil {
		t.Fatal("a write beside a held write lock succeeded")
	}
	return err
}

// refusedConnectionError returns the error of dialling a port nothing
// listens on.
func refusedConnectionError(t *testing.T) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn, err := net.Dial("tcp", addr)
	if err == nil {
		conn.Close()
		t.Skip("something else took the closed port")
	}
	return err
}

func TestOnlyADatabaseBrieflyAwayIsRetried(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a PostgreSQL server shutting down", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"a PostgreSQL server that crashed", &pgconn.PgError{Code: "57P02", Message: "terminating connection because of crash of another server process"}, true},
		{"a PostgreSQL server not yet accepting connections", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{"a PostgreSQL connection exception", &pgconn.PgError{Code: "08006", Message: "connection failure"}, true},
		{"a PostgreSQL connection closed under a query", fmt.Errorf("postgres: journal: %w", pgconn.ErrConnClosed), true},
		{"SQLite busy with another writer", sqliteBusyError(t), true},
		{"a connection refused", fmt.Errorf("postgres: connect: %w", refusedConnectionError(t)), true},
		{"a constraint the row breaks", &pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}, false},
		{"a query PostgreSQL cancelled", &pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}, false},
		{"a rotation that does not exist", errors.New("sqlite: append journal: rotation not found"), false},
		{"the job's time running out", fmt.Errorf("postgres: journal: %w", context.DeadlineExceeded), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.want {
				t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRetriesEndWithTheJobsTime(t *testing.T) {
	r := &Runner{d: Deps{Logger: slog.New(slog.DiscardHandler)}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	away := &pgconn.PgError{Code: "57P03", Message: "the database system is shutting down"}
	var tries int
	err := r.writeStore(ctx, 1, "journal issue", func(context.Context) error {
		tries++
		return away
	})
	if !errors.Is(err, away) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the database's error and the end of the job's time", err)
	}
	if tries < 2 || !strings.Contains(err.Error(), fmt.Sprintf("tried %d times", tries)) {
		t.Errorf("err %q after %d tries, want it to say how often it tried", err, tries)
	}
}
