package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Liveness tells whether the process that holds a running job is still
// alive, so its rotations can be taken over as soon as it is not, rather
// than after the job timeout River's own rescue waits for.
type Liveness interface {
	// Register announces this process, named id, as alive until the
	// returned release is called (or the process dies). fence, if not nil,
	// is called with true when this process can no longer prove it is
	// alive and others may soon take its jobs over — it must stop touching
	// devices — and with false once it can again.
	Register(ctx context.Context, id string, fence func(fenced bool)) (release func(), err error)
	// Dead returns which of the named processes are known to be dead. A
	// process it knows nothing about is not reported: its jobs are left to
	// River's own rescue.
	Dead(ctx context.Context, ids []string) (map[string]bool, error)
}

// LockFiles is the Liveness of processes that share one machine, as those
// sharing a SQLite file do: each holds an exclusive flock on a file named
// after it in Dir for as long as it lives. The kernel drops the lock the
// moment the process dies, however it dies, so a restarted process finds
// its predecessor's jobs free at once.
type LockFiles struct {
	// Dir holds the lock files; it is created 0700.
	Dir string
}

// lockFileName is the file of process id in dir. Client IDs are host
// names and numbers; anything else is replaced so the name stays one path
// element.
func lockFileName(dir, id string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, id)
	return filepath.Join(dir, safe+".lock")
}

// Register creates and locks id's file. The lock is held by an open file
// description of this process, so it ends with the process.
func (l LockFiles) Register(_ context.Context, id string, _ func(bool)) (func(), error) {
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: process lock directory: %w", err)
	}
	name := lockFileName(l.Dir, id)
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: process lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: process lock %s is held by another process (two processes with one ID?): %w", name, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// Remove before unlocking: a checker that opens the file
			// after the unlock but before the remove would find it free
			// and remove it too, which is harmless either way.
			os.Remove(name)
			f.Close()
		})
	}, nil
}

// Dead reports a process dead when its lock file is gone or no process
// holds its lock. A dead process's file is removed.
func (l LockFiles) Dead(_ context.Context, ids []string) (map[string]bool, error) {
	dead := map[string]bool{}
	for _, id := range ids {
		name := lockFileName(l.Dir, id)
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			// Every process of this version locks a file before it takes
			// a job; on one machine, one without a file is gone.
			dead[id] = true
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("queue: process lock: %w", err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			dead[id] = true
			os.Remove(name)
		}
		f.Close()
		if err != nil && !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("queue: process lock %s: %w", name, err)
		}
	}
	return dead, nil
}

// Heartbeats is the Liveness of processes on several machines sharing a
// PostgreSQL database: each writes a heartbeat every Interval, and one
// whose last heartbeat is older than After is dead. Times are the
// database's, so the machines' clocks need not agree. A process that
// cannot write its heartbeat for half of After fences itself (stops its
// rotations) before anyone may take them over.
type Heartbeats struct {
	Pool *pgxpool.Pool
	// Interval between heartbeats. Default 5s.
	Interval time.Duration
	// After is how long a silent process is taken for alive. Default 30s.
	After  time.Duration
	Logger *slog.Logger
}

func (h Heartbeats) withDefaults() Heartbeats {
	if h.Interval <= 0 {
		h.Interval = 5 * time.Second
	}
	if h.After <= 0 {
		h.After = 30 * time.Second
	}
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	return h
}

// heartbeatTable is created with River's tables (MigratePostgres).
const heartbeatTable = `CREATE TABLE IF NOT EXISTS ottr_queue_processes (
	id           text        PRIMARY KEY,
	heartbeat_at timestamptz NOT NULL
)`

// forgetAfter is how long a dead process's row is kept: long enough for
// every check to have taken its jobs over.
const forgetAfter = 24 * time.Hour

func (h Heartbeats) beat(ctx context.Context, id string) error {
	_, err := h.Pool.Exec(ctx, `INSERT INTO ottr_queue_processes (id, heartbeat_at) VALUES ($1, now())
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, id)
	return err
}

// Register writes the first heartbeat and keeps beating until released.
func (h Heartbeats) Register(ctx context.Context, id string, fence func(bool)) (func(), error) {
	h = h.withDefaults()
	if err := h.beat(ctx, id); err != nil {
		return nil, fmt.Errorf("queue: heartbeat: %w", err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		last := time.Now()
		fenced := false
		tick := time.NewTicker(h.Interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			bctx, cancel := context.WithTimeout(context.Background(), h.Interval)
			err := h.beat(bctx, id)
			cancel()
			switch {
			case err == nil:
				if fenced {
					h.Logger.Info("heartbeat written again; taking rotations again", "process", id)
					if fence != nil {
						fence(false)
					}
				}
				last, fenced = time.Now(), false
			case !fenced && time.Since(last) > h.After/2:
				fenced = true
				h.Logger.Error("no heartbeat written for half the takeover time; stopping this process's rotations before another process takes them over",
					"process", id, "since", last.Format(time.RFC3339), "err", err)
				if fence != nil {
					fence(true)
				}
			default:
				h.Logger.Warn("could not write the heartbeat", "process", id, "err", err)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			// Released once River has stopped: what this process still
			// holds (a job that outlived the stop timeout) is free to be
			// taken over at once.
			ctx, cancel := context.WithTimeout(context.Background(), h.Interval)
			defer cancel()
			_, _ = h.Pool.Exec(ctx, `UPDATE ottr_queue_processes SET heartbeat_at = '-infinity' WHERE id = $1`, id)
		})
	}, nil
}

// Dead returns the processes whose last heartbeat is older than After.
func (h Heartbeats) Dead(ctx context.Context, ids []string) (map[string]bool, error) {
	h = h.withDefaults()
	dead := map[string]bool{}
	if len(ids) == 0 {
		return dead, nil
	}
	rows, err := h.Pool.Query(ctx, `SELECT id FROM ottr_queue_processes
		WHERE id = ANY($1) AND heartbeat_at < now() - make_interval(secs => $2)`, ids, h.After.Seconds())
	if err != nil {
		return nil, fmt.Errorf("queue: heartbeats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("queue: heartbeats: %w", err)
		}
		dead[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: heartbeats: %w", err)
	}
	_, _ = h.Pool.Exec(ctx, `DELETE FROM ottr_queue_processes WHERE heartbeat_at < now() - make_interval(secs => $1)`, forgetAfter.Seconds())
	return dead, nil
}
