package devicelock

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// advisoryClass is the first key of every device lock
// (pg_advisory_lock(int, int)): "ottr" in ASCII, so the device locks keep
// to a space of their own beside other advisory locks on the database.
const advisoryClass int32 = 0x6f747472

// Advisory is the Backend of a cluster: a device's key is a PostgreSQL
// session advisory lock. All the device locks of a process are held on one
// connection taken from Pool while any is held (a connection per device
// would empty the pool the rotations journal through), and given back when
// none is. If that connection breaks, PostgreSQL drops its locks; the next
// lock or unlock finds out and opens another.
type Advisory struct {
	Pool *pgxpool.Pool

	mu   sync.Mutex
	conn *pgxpool.Conn
	held int
	// gen counts the connections taken: a release for an earlier one,
	// which broke, has nothing left to unlock.
	gen int
}

// NewAdvisory returns the Backend of the processes sharing pool's database.
func NewAdvisory(pool *pgxpool.Pool) *Advisory { return &Advisory{Pool: pool} }

// Acquire polls pg_try_advisory_lock from every 10ms to every 250ms: one
// waiting query per device and process at most, and a wait ctx can end.
// The database being briefly away does not fail the wait, as it fails no
// rotation's other writes: it asks again until ctx ends, and then says
// what the database answered last.
func (a *Advisory) Acquire(ctx context.Context, key, _ string, busy func(string)) (func(), error) {
	id := advisoryID(key)
	wait := 10 * time.Millisecond
	told := false
	var lastErr error
	for {
		ok, gen, err := a.try(ctx, id)
		switch {
		case ok:
			var once sync.Once
			return func() { once.Do(func() { a.unlock(id, gen) }) }, nil
		case err != nil:
			lastErr = err
		case !told && busy != nil:
			told = true
			busy(a.holder(ctx, id))
		}
		pause := wait
		if err != nil {
			pause = time.Second
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("devicelock: PostgreSQL advisory lock of %s: %w (and then %w)", key, lastErr, ctx.Err())
			}
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// try takes id if it is free, and says on which connection.
func (a *Advisory) try(ctx context.Context, id int32) (ok bool, gen int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		conn, err := a.Pool.Acquire(ctx)
		if err != nil {
			return false, 0, err
		}
		a.conn = conn
		a.gen++
	}
	// Not the caller's ctx: a query it cut short would close the
	// connection, and with it every other device's lock.
	queryCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queryTimeout)
	defer cancel()
	err = a.conn.QueryRow(queryCtx, "SELECT pg_try_advisory_lock($1, $2)", advisoryClass, id).Scan(&ok)
	switch {
	case err != nil:
		a.drop()
		return false, 0, err
	case ok:
		a.held++
	case a.held == 0:
		a.conn.Release()
		a.conn = nil
	}
	return ok, a.gen, nil
}

// holder says which process holds id, as far as PostgreSQL knows: the
// address it connects from and its server process; "" when it cannot say.
func (a *Advisory) holder(ctx context.Context, id int32) string {
	var who string
	err := a.Pool.QueryRow(ctx, `SELECT 'the ottr process at ' || coalesce(host(a.client_addr), 'the database host') ||
			' (PostgreSQL backend ' || l.pid || ')'
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
			AND l.classid = $1::int8::oid AND l.objid = $2::int8::oid`,
		int64(uint32(advisoryClass)), int64(uint32(id))).Scan(&who)
	if err != nil {
		return ""
	}
	return who
}

// unlock releases id, and the connection once it holds no lock.
func (a *Advisory) unlock(id int32, gen int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil || gen != a.gen {
		// The connection broke since: its locks went with it.
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	if _, err := a.conn.Exec(ctx, "SELECT pg_advisory_unlock($1, $2)", advisoryClass, id); err != nil {
		a.drop()
		return
	}
	a.held--
	if a.held == 0 {
		a.conn.Release()
		a.conn = nil
	}
}

// drop closes the connection, which ends its session and every lock it
// holds, rather than give the pool a connection that may still hold some.
// Called with a.mu held.
func (a *Advisory) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.conn.Conn().Close(ctx)
	a.conn.Release()
	a.conn = nil
	a.held = 0
}

// queryTimeout bounds a query on the connection that holds the locks; one
// that takes longer finds the connection broken, and drops it.
const queryTimeout = 10 * time.Second

// advisoryID is the second key of key's advisory lock. Two devices whose
// keys share it only wait for each other.
func advisoryID(key string) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int32(h.Sum32())
}
