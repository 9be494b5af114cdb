package queue_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/store"
)

// lastDeliveryOfARefusal queues two events to the hook channel, which
// takes the first and refuses the second for good, and checks that the
// channel's last delivery is the refusal.
func lastDeliveryOfARefusal(t *testing.T, st store.Store, db *sql.DB, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	channel := &scriptedChannel{answers: []error{nil, errors.New("403 Forbidden: invalid token")}}
	d := notify.NewDispatcher(map[string]notify.Channel{"pki.hook": channel}, nil, nil)
	q, err := queue.New(ctx, queue.Config{DB: db, Pool: pool, Runner: &recordingRunner{ran: map[int64]int{}}, Deliverer: d,
		DeliveryBackoff: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := queue.LastDeliveries(ctx, db, pool); err != nil || len(got) != 0 {
		t.Fatalf("before any delivery: %v, %v; want none", got, err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	for _, key := range []string{"rotation.failed/fw1/a", "rotation.failed/fw1/b"} {
		e := notify.Event{Kind: notify.RotationFailed, Key: key, Summary: "Rotation of fw1 failed: " + key}
		ok, err := st.ClaimNotification(ctx, []string{key}, func(ctx context.Context, tx any) error {
			return q.EnqueueDeliveriesTx(ctx, tx, []notify.Delivery{{Channel: "pki.hook", Event: e}})
		})
		if err != nil || !ok {
			t.Fatalf("claim %s: %v, %v", key, ok, err)
		}
		waitFor(t, "the delivery of "+key+" to end", func() bool {
			last, err := queue.LastDeliveries(ctx, db, pool)
			if err != nil {
				t.Fatal(err)
			}
			l := last["pki.hook"]
			return l.Summary == e.Summary && (l.State == "completed" || l.State == "cancelled")
		})
	}
	last, err := queue.LastDeliveries(ctx, db, pool)
	if err != nil {
		t.Fatal(err)
	}
	l := last["pki.hook"]
	if l.State != "cancelled" || l.Kind != "rotation.failed" || l.Attempt != 1 || l.Error != "notify: channel pki.hook: 403 Forbidden: invalid token" {
		t.Errorf("last delivery %+v, want the second event's refusal at attempt 1", l)
	}
	if age := time.Since(l.At); age < 0 || age > time.Hour {
		t.Errorf("the last delivery ended at %v, not just now", l.At)
	}
}

func TestLastDeliveriesOnSQLite(t *testing.T) {
	st, _ := setup(t, 0)
	lastDeliveryOfARefusal(t, st, st.DB(), nil)
}

func TestLastDeliveriesOnPostgres(t *testing.T) {
	st, _ := setupPostgres(t, 0)
	lastDeliveryOfARefusal(t, st, nil, st.Pool())
}
