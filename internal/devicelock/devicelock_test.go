package devicelock_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ottr-go/ottr/internal/devicelock"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }

// device counts the holders inside it at once, as a device would see
// rotations changing it.
type device struct {
	inside, most, turns atomic.Int32
}

// change is one rotation's change of the device.
func (d *device) change() {
	n := d.inside.Add(1)
	for {
		most := d.most.Load()
		if n <= most || d.most.CompareAndSwap(most, n) {
			break
		}
	}
	d.turns.Add(1)
	// Let the others run while this one is inside.
	for range 20 {
		runtime.Gosched()
	}
	d.inside.Add(-1)
}

// rotate has n rotations change d at once through lockers, spread over
// them, each taking key exclusively.
func rotate(t *testing.T, d *device, key string, n int, lockers ...*devicelock.Locker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			h, err := lockers[i%len(lockers)].Lock(ctx, devicelock.Request{Key: key, Holder: "rotation"})
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Unlock()
			d.change()
		})
	}
	wg.Wait()
}

func TestRotationsOfOneDeviceNeverOverlap(t *testing.T) {
	dir := t.TempDir()
	// pool connects to url as one more process would.
	pool := func(url string) *pgxpool.Pool {
		p, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		return p
	}
	cases := []struct {
		name    string
		lockers func() []*devicelock.Locker
	}{
		{"in one process", func() []*devicelock.Locker { return []*devicelock.Locker{devicelock.New(nil)} }},
		{"in two processes sharing a SQLite file's lock directory", func() []*devicelock.Locker {
			return []*devicelock.Locker{devicelock.New(devicelock.Files{Dir: dir}), devicelock.New(devicelock.Files{Dir: dir})}
		}},
		{"in two processes sharing a PostgreSQL database", func() []*devicelock.Locker {
			url := pg.NewDatabase(t)
			p1, p2 := pool(url), pool(url)
			return []*devicelock.Locker{devicelock.New(devicelock.NewAdvisory(p1)), devicelock.New(devicelock.NewAdvisory(p2))}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lockers := c.lockers()
			var d device
			rotate(t, &d, "ssh 192.0.2.1:22", 40, lockers...)
			if most := d.most.Load(); most != 1 {
				t.Errorf("%d rotations changed the device at once, want 1", most)
			}
			if got := d.turns.Load(); got != 40 {
				t.Errorf("%d rotations changed the device, want 40", got)
			}
		})
	}
}

func TestDevicesWithOtherKeysAreChangedAtTheSameTime(t *testing.T) {
	l := devicelock.New(nil)
	ctx := context.Background()
	first, err := l.Lock(ctx, devicelock.Request{Key: "ssh 192.0.2.1:22"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Unlock()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	second, err := l.Lock(ctx, devicelock.Request{Key: "ssh 192.0.2.2:22"})
	if err != nil {
		t.Fatalf("another device waited for the first: %v", err)
	}
	second.Unlock()
}

func TestAWaitingRotationIsToldWhoChangesTheDevice(t *testing.T) {
	cases := []struct {
		name     string
		sameProc bool
		want     string
	}{
		{"in the same process, by the rotation", true, "rotation 1 of web1.example.com"},
		{"in another process, by the rotation and the process", false, "rotation 1 of web1.example.com (process "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			holder := devicelock.New(devicelock.Files{Dir: dir})
			waiter := holder
			if !c.sameProc {
				waiter = devicelock.New(devicelock.Files{Dir: dir})
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			h, err := holder.Lock(ctx, devicelock.Request{Key: "ssh 192.0.2.1:22", Holder: "rotation 1 of web1.example.com"})
			if err != nil {
				t.Fatal(err)
			}
			told := make(chan string, 1)
			got := make(chan error, 1)
			go func() {
				h2, err := waiter.Lock(ctx, devicelock.Request{Key: "ssh 192.0.2.1:22", Holder: "rotation 2 of web2.example.com",
					Waiting: func(holders string) { told <- holders }})
				if err == nil {
					h2.Unlock()
				}
				got <- err
			}()
			if who := <-told; !strings.HasPrefix(who, c.want) {
				t.Errorf("the waiting rotation was told %q, want %q", who, c.want)
			}
			h.Unlock()
			if err := <-got; err != nil {
				t.Errorf("the waiting rotation did not get the device once it was free: %v", err)
			}
		})
	}
}

func TestAWaitThatIsCancelledLeavesTheDeviceToTheOthers(t *testing.T) {
	l := devicelock.New(devicelock.Files{Dir: t.TempDir()})
	ctx := context.Background()
	h, err := l.Lock(ctx, devicelock.Request{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	waiting := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := l.Lock(cancelled, devicelock.Request{Key: "k", Waiting: func(string) { close(waiting) }})
		done <- err
	}()
	<-waiting
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait returned %v, want context.Canceled", err)
	}
	h.Unlock()
	ctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	h, err = l.Lock(ctx, devicelock.Request{Key: "k"})
	if err != nil {
		t.Fatalf("the device stayed taken after the wait was cancelled: %v", err)
	}
	h.Unlock()
}

// Batch rotations waiting while the device is changed take the next turn
// together, and their reloads run once.
func TestBatchRotationsWaitingForADeviceShareOneTurnAndOneReload(t *testing.T) {
	l := devicelock.New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := l.Lock(ctx, devicelock.Request{Key: "k", Batch: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	var waiting sync.WaitGroup
	waiting.Add(n)
	var reloads, inTurn atomic.Int32
	members := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			h, err := l.Lock(ctx, devicelock.Request{Key: "k", Batch: true, Waiting: func(string) { waiting.Done() }})
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Unlock()
			inTurn.Add(1)
			members <- h.Members()
			err = h.Together(ctx, "reload", func(context.Context) error {
				reloads.Add(1)
				if got := inTurn.Load(); got != n {
					t.Errorf("the reload ran with %d of the %d installs switched", got, n)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	waiting.Wait()
	first.Unlock()
	wg.Wait()
	close(members)
	for m := range members {
		if m != n {
			t.Errorf("a rotation shared its turn with %d, want all %d waiting", m, n)
		}
	}
	if got := reloads.Load(); got != 1 {
		t.Errorf("the turn reloaded %d times, want once", got)
	}
}

// A member that settles without reloading (its install failed before) is
// not waited for; a rollback runs once every install is over, alone.
func TestATurnWaitsOnlyForTheInstallsStillGoing(t *testing.T) {
	l := devicelock.New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	blocker, err := l.Lock(ctx, devicelock.Request{Key: "k", Batch: true})
	if err != nil {
		t.Fatal(err)
	}
	var waiting sync.WaitGroup
	waiting.Add(3)
	holds := make(chan *devicelock.Hold, 3)
	for range 3 {
		go func() {
			h, err := l.Lock(ctx, devicelock.Request{Key: "k", Batch: true, Waiting: func(string) { waiting.Done() }})
			if err != nil {
				t.Error(err)
			}
			holds <- h
		}()
	}
	waiting.Wait()
	blocker.Unlock()
	failed, reloading, rollingBack := <-holds, <-holds, <-holds
	var reloaded atomic.Bool
	var switched sync.WaitGroup
	switched.Add(1)
	go func() {
		defer switched.Done()
		err := reloading.Together(ctx, "reload", func(context.Context) error { reloaded.Store(true); return nil })
		if err != nil {
			t.Error(err)
		}
		reloading.Settle()
	}()
	rolledBack := make(chan bool, 1)
	go func() {
		_ = rollingBack.Alone(ctx, func(context.Context) error { rolledBack <- reloaded.Load(); return nil })
	}()
	failed.Settle()
	switched.Wait()
	if !<-rolledBack {
		t.Error("the rollback ran before the other install's reload")
	}
	for _, h := range []*devicelock.Hold{failed, reloading, rollingBack} {
		h.Unlock()
	}
}

// A process whose database session ends (it died, or its connection
// broke) holds no device any more: the others take it, and the first
// process's own unlock afterwards harms nobody.
func TestADeviceHeldByALostDatabaseSessionIsFreeForTheOthers(t *testing.T) {
	url := pg.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pools := make([]*pgxpool.Pool, 2)
	for i := range pools {
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools[i] = p
	}
	lost, other := devicelock.New(devicelock.NewAdvisory(pools[0])), devicelock.New(devicelock.NewAdvisory(pools[1]))
	held, err := lost.Lock(ctx, devicelock.Request{Key: "ssh 192.0.2.1:22"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pools[1].Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	h, err := other.Lock(ctx, devicelock.Request{Key: "ssh 192.0.2.1:22"})
	if err != nil {
		t.Fatalf("the device stayed taken after its holder's session ended: %v", err)
	}
	held.Unlock()
	// The unlock of the lost session did not free the device another
	// process holds now.
	busy := make(chan string, 1)
	waitCtx, stop := context.WithCancel(ctx)
	go func() {
		_, _ = lost.Lock(waitCtx, devicelock.Request{Key: "ssh 192.0.2.1:22", Waiting: func(who string) { busy <- who }})
	}()
	if who := <-busy; !strings.HasPrefix(who, "the ottr process at 127.0.0.1 (PostgreSQL backend ") {
		t.Errorf("the waiting process was told %q, want the holder's address and PostgreSQL backend", who)
	}
	stop()
	h.Unlock()
}

func TestTheLockDirectoryKeepsOnlyTheDevicesBeingChanged(t *testing.T) {
	dir := t.TempDir()
	var d device
	rotate(t, &d, "ssh 192.0.2.1:22", 20, devicelock.New(devicelock.Files{Dir: dir}), devicelock.New(devicelock.Files{Dir: dir}))
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("%d lock files left once every rotation ended, want none: %v", len(left), left)
	}
}
