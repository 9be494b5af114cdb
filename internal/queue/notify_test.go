package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/queue"
	"github.com/ottr-go/ottr/internal/store/sqlite"
)

// scriptedChannel answers each send with the next of its answers, and
// success once they run out.
type scriptedChannel struct {
	mu      sync.Mutex
	answers []error
	sent    []time.Time
	events  []notify.Event
}

func (c *scriptedChannel) Name() string { return "pki.hook" }
func (c *scriptedChannel) Kind() string { return "webhook" }

func (c *scriptedChannel) Send(_ context.Context, e notify.Event) (notify.Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, time.Now())
	c.events = append(c.events, e)
	if len(c.sent) <= len(c.answers) {
		if err := c.answers[len(c.sent)-1]; err != nil {
			return notify.Receipt{}, err
		}
	}
	return notify.Receipt{Status: "200 OK"}, nil
}

func (c *scriptedChannel) sends() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.sent...)
}

// outcomes records what a Dispatcher reports of each attempt.
type outcomes struct {
	mu   sync.Mutex
	errs []error
}

func (o *outcomes) add(_, _ string, err error, _ bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errs = append(o.errs, err)
}

func (o *outcomes) failed() (failed, sent int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, err := range o.errs {
		if err != nil {
			failed++
		} else {
			sent++
		}
	}
	return failed, sent
}

// deliveryJob is the delivery job as River keeps it.
type deliveryJob struct {
	state    string
	attempt  int
	snoozes  int
	channel  string
	eventKey string
}

func deliveryJobs(t *testing.T, st *sqlite.Store) []deliveryJob {
	t.Helper()
	rows, err := st.DB().Query(`SELECT state, attempt, json(metadata), json(args) FROM river_job WHERE kind = 'notification' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var jobs []deliveryJob
	for rows.Next() {
		var j deliveryJob
		var metadata, args []byte
		if err := rows.Scan(&j.state, &j.attempt, &metadata, &args); err != nil {
			t.Fatal(err)
		}
		var m struct {
			Snoozes int `json:"snoozes"`
		}
		var a notify.Delivery
		if err := json.Unmarshal(metadata, &m); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(args, &a); err != nil {
			t.Fatal(err)
		}
		j.snoozes, j.channel, j.eventKey = m.Snoozes, a.Channel, a.Event.Key
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}

// delivering starts a queue on st that delivers through channel.
func delivering(t *testing.T, st *sqlite.Store, channel notify.Channel, report func(channel, kind string, err error, final bool)) *queue.Queue {
	t.Helper()
	ctx := context.Background()
	d := notify.NewDispatcher(map[string]notify.Channel{"pki.hook": channel}, nil, report)
	q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: &recordingRunner{ran: map[int64]int{}}, Deliverer: d,
		DeliveryBackoff: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	return q
}

// claimAndQueue claims key and queues its event to the hook channel, as a
// Notifier does.
func claimAndQueue(t *testing.T, st *sqlite.Store, q *queue.Queue, key string) {
	t.Helper()
	e := notify.Event{Kind: notify.RotationFailed, Key: key, Summary: "Rotation of fw1 failed at install (1st failure)"}
	ok, err := st.ClaimNotification(context.Background(), []string{key}, func(ctx context.Context, tx any) error {
		return q.EnqueueDeliveriesTx(ctx, tx, []notify.Delivery{{Channel: "pki.hook", Event: e}})
	})
	if err != nil || !ok {
		t.Fatalf("claim %s: %v, %v", key, ok, err)
	}
}

func TestDeliveries(t *testing.T) {
	t.Run("retries a delivery the channel refused for now until it is sent", func(t *testing.T) {
		st, _ := setup(t, 0)
		down := &notify.RetryableError{Err: errors.New("503 Service Unavailable")}
		channel := &scriptedChannel{answers: []error{down, down}}
		var seen outcomes
		q := delivering(t, st, channel, seen.add)
		claimAndQueue(t, st, q, "rotation.failed/fw1/never")
		waitFor(t, "the delivery to be sent", func() bool { _, sent := seen.failed(); return sent == 1 })
		waitFor(t, "the job to complete", func() bool { return deliveryJobs(t, st)[0].state == "completed" })
		if failed, sent := seen.failed(); failed != 2 || sent != 1 {
			t.Errorf("the dispatcher reported %d failed and %d sent attempts, want 2 and 1", failed, sent)
		}
		if j := deliveryJobs(t, st)[0]; j.attempt != 3 || j.channel != "pki.hook" || j.eventKey != "rotation.failed/fw1/never" {
			t.Errorf("job %+v, want the event's delivery to pki.hook completed at its third attempt", j)
		}
		for _, e := range channel.events {
			if e.Key != "rotation.failed/fw1/never" || e.Summary == "" {
				t.Errorf("the channel was sent %+v, want the queued event each time", e)
			}
		}
	})

	t.Run("honours the channel's Retry-After without spending an attempt", func(t *testing.T) {
		st, _ := setup(t, 0)
		const retryAfter = 300 * time.Millisecond
		limited := &notify.RetryableError{After: retryAfter, Err: errors.New("429 Too Many Requests")}
		channel := &scriptedChannel{answers: []error{limited, limited}}
		q := delivering(t, st, channel, nil)
		claimAndQueue(t, st, q, "certificate.expiring/fw1/4a1b/14")
		waitFor(t, "the job to complete", func() bool { return deliveryJobs(t, st)[0].state == "completed" })
		sent := channel.sends()
		if len(sent) != 3 {
			t.Fatalf("%d sends, want 3", len(sent))
		}
		for i := 1; i < len(sent); i++ {
			if gap := sent[i].Sub(sent[i-1]); gap < retryAfter {
				t.Errorf("send %d came %v after the one the channel answered 429 with Retry-After %v", i+1, gap, retryAfter)
			}
		}
		if j := deliveryJobs(t, st)[0]; j.attempt != 1 || j.snoozes != 2 {
			t.Errorf("job at attempt %d with %d snoozes, want attempt 1 and 2 snoozes: waiting as asked is no failed attempt", j.attempt, j.snoozes)
		}
	})

	t.Run("gives up at once when the channel refuses for good", func(t *testing.T) {
		st, _ := setup(t, 0)
		channel := &scriptedChannel{answers: []error{errors.New("403 Forbidden: invalid token")}}
		var seen outcomes
		q := delivering(t, st, channel, seen.add)
		claimAndQueue(t, st, q, "rotation.rolled_back/7")
		waitFor(t, "the job to end", func() bool { return deliveryJobs(t, st)[0].state == "cancelled" })
		if n := len(channel.sends()); n != 1 {
			t.Errorf("%d sends, want 1", n)
		}
		if failed, sent := seen.failed(); failed != 1 || sent != 0 {
			t.Errorf("the dispatcher reported %d failed and %d sent attempts, want 1 and 0", failed, sent)
		}
	})

	t.Run("delivers what was queued before the process stopped", func(t *testing.T) {
		st, _ := setup(t, 0)
		ctx := context.Background()
		// A process that runs rotations but delivers nothing (a worker)
		// decides the event; a process that delivers starts later.
		worker, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: &recordingRunner{ran: map[int64]int{}}, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := worker.Start(ctx); err != nil {
			t.Fatal(err)
		}
		claimAndQueue(t, st, worker, "rotation.recovered/fw1/never")
		if err := worker.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if j := deliveryJobs(t, st); len(j) != 1 || j[0].state != "available" {
			t.Fatalf("jobs %+v, want one delivery waiting", j)
		}
		channel := &scriptedChannel{}
		delivering(t, st, channel, nil)
		waitFor(t, "the delivery to be sent", func() bool { return len(channel.sends()) == 1 })
	})

	t.Run("queues nothing for a claim that is rolled back", func(t *testing.T) {
		st, _ := setup(t, 0)
		ctx := context.Background()
		q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: &recordingRunner{ran: map[int64]int{}}})
		if err != nil {
			t.Fatal(err)
		}
		failure := errors.New("a later insert failed")
		_, err = st.ClaimNotification(ctx, []string{"digest/2026-12-07"}, func(ctx context.Context, tx any) error {
			if err := q.EnqueueDeliveriesTx(ctx, tx, []notify.Delivery{{Channel: "hook", Event: notify.Event{Kind: notify.DigestKind}}}); err != nil {
				return err
			}
			return failure
		})
		if !errors.Is(err, failure) {
			t.Fatalf("claim: %v, want the failure", err)
		}
		if j := deliveryJobs(t, st); len(j) != 0 {
			t.Errorf("jobs %+v after the claim rolled back, want none", j)
		}
	})
}

func TestTasks(t *testing.T) {
	st, _ := setup(t, 0)
	ctx := context.Background()
	ran := make(chan string, 10)
	q, err := queue.New(ctx, queue.Config{DB: st.DB(), Runner: &recordingRunner{ran: map[int64]int{}}, Scanner: noScan{},
		PollInterval: 20 * time.Millisecond,
		Tasks: []queue.Task{{Name: "drift_check", Every: 200 * time.Millisecond, Run: func(context.Context) error {
			ran <- "drift_check"
			return nil
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer q.Stop(ctx)
	for i := range 2 {
		select {
		case name := <-ran:
			if name != "drift_check" {
				t.Fatalf("ran %q", name)
			}
		case <-time.After(time.Minute):
			t.Fatalf("the task ran %d times in a minute, want it every 200ms once the leader is elected", i)
		}
	}
}

type noScan struct{}

func (noScan) Scan(context.Context) error { return nil }

func TestATaskNeedsALeader(t *testing.T) {
	st, _ := setup(t, 0)
	_, err := queue.New(context.Background(), queue.Config{DB: st.DB(), NoLead: true,
		Tasks: []queue.Task{{Name: "digest", Run: func(context.Context) error { return nil }}}})
	if err == nil || !strings.Contains(err.Error(), "never leads") {
		t.Fatalf("got %v, want a refusal: only a leader schedules tasks", err)
	}
}
