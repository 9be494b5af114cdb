package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// journalArgs is a job that journals one step of a rotation, as the
// rotation worker does.
type journalArgs struct {
	RotationID int64  `json:"rotation_id"`
	Step       string `json:"step"`
}

func (journalArgs) Kind() string { return "test_journal" }

type journalWorker struct {
	river.WorkerDefaults[journalArgs]
	store *Store
}

func (w *journalWorker) Work(ctx context.Context, job *river.Job[journalArgs]) error {
	now := time.Now()
	if err := w.store.AppendJournal(ctx, job.Args.RotationID, store.JournalEntry{Step: job.Args.Step, StartedAt: now, FinishedAt: now}); err != nil {
		return err
	}
	return w.store.AppendLog(ctx, job.Args.RotationID, store.LogLine{Time: now, Level: "INFO", Step: job.Args.Step, Message: "done"})
}

// TestSharedWithRiver runs River on the store's own pool: River's
// migrations, its workers writing through the store, and store writers
// outside River, all at once.
func TestSharedWithRiver(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
	}{
		{"on the default single-connection pool", nil},
		{"on a pool of several connections", []Option{WithMaxOpenConns(4)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testSharedWithRiver(t, tt.opts...) })
	}
}

func testSharedWithRiver(t *testing.T, opts ...Option) {
	const jobs, outsideWriters = 25, 25
	// A guard against a hang, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := openTemp(t, opts...)

	driver := riversqlite.New(s.DB())
	migrator, err := rivermigrate.New(driver, nil)
	must(t, err)
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	must(t, err)

	must(t, s.CreateAsset(ctx, asset.Asset{SystemName: "fw1"}))
	rot, err := s.CreateRotation(ctx, store.Rotation{Asset: "fw1", Trigger: store.TriggerSchedule})
	must(t, err)

	workers := river.NewWorkers()
	river.AddWorker(workers, &journalWorker{store: s})
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
		TestOnly:          true,
	})
	must(t, err)
	completed, stopSubscription := client.Subscribe(river.EventKindJobCompleted)
	defer stopSubscription()
	must(t, client.Start(ctx))
	defer func() { must(t, client.Stop(context.Background())) }()

	errs := make(chan error, jobs+outsideWriters)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			_, err := client.Insert(ctx, journalArgs{RotationID: rot.ID, Step: fmt.Sprintf("job%02d", i)}, nil)
			errs <- err
		})
	}
	for i := range outsideWriters {
		wg.Go(func() {
			errs <- s.AppendLog(ctx, rot.ID, store.LogLine{Time: time.Now(), Level: "INFO", Message: fmt.Sprintf("outside %d", i)})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	for done := 0; done < jobs; {
		select {
		case ev := <-completed:
			if ev.Kind == river.EventKindJobCompleted {
				done++
			}
		case <-ctx.Done():
			t.Fatalf("only %d of %d jobs completed: %v", done, jobs, ctx.Err())
		}
	}

	got, err := s.GetRotation(ctx, rot.ID)
	must(t, err)
	if len(got.Journal) != jobs || len(got.Log) != jobs+outsideWriters {
		t.Errorf("got %d journal entries and %d log lines, want %d and %d", len(got.Journal), len(got.Log), jobs, jobs+outsideWriters)
	}
}
