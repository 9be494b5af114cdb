package rotation_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/store/postgres"
	"github.com/ottr-go/ottr/internal/testenv/pgtest"
)

// failureWatch is a store that tells, once, of the first journal write of
// a step that fails.
type failureWatch struct {
	store.Store
	step   rotation.Step
	once   sync.Once
	failed chan error
}

func (f *failureWatch) AppendJournal(ctx context.Context, id int64, e store.JournalEntry) error {
	err := f.Store.AppendJournal(ctx, id, e)
	if err != nil && rotation.Step(e.Step) == f.step {
		f.once.Do(func() { f.failed <- err })
	}
	return err
}

// TestAPostgresRestartWhileTheChainComesBackOrdersOnce replays the
// cluster's fault: PostgreSQL restarts while the CA issues, so the issue
// step's journal write meets a server that is shutting down or gone.
func TestAPostgresRestartWhileTheChainComesBackOrdersOnce(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Start(t)
	st, err := postgres.Open(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := newLabHarnessOn(t, st)
	watch := &failureWatch{Store: st, step: rotation.StepIssue, failed: make(chan error, 1)}
	runner := h.process(t, watch).runner
	rot, err := runner.Create(ctx, h.name, store.TriggerManual, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	// The CA holds its answer to the finalize request — the certificate
	// is issued — until PostgreSQL is down.
	issued, held := make(chan struct{}), make(chan struct{})
	announce, release := sync.OnceFunc(func() { close(issued) }), sync.OnceFunc(func() { close(held) })
	labCA.AfterAnswer(func(path string) {
		if strings.HasPrefix(path, "/finalize-order/") {
			announce()
			<-held
		}
	})
	t.Cleanup(func() { labCA.AfterAnswer(nil) })
	t.Cleanup(release)
	before := countAtCA()
	type result struct {
		rot store.Rotation
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := runner.Run(ctx, rot.ID)
		done <- result{r, err}
	}()

	<-issued
	pg.Stop(t)
	release()
	// A guard against a hang, not a timing assertion.
	select {
	case err := <-watch.failed:
		t.Logf("the issue journal write failed while PostgreSQL was down: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the issue step never tried to journal its chain")
	}
	pg.Start(t)
	res := <-done

	if res.err != nil || res.rot.State != store.StateSucceeded {
		t.Fatalf("state %s, err %v; want the chain journaled once PostgreSQL is back", res.rot.State, res.err)
	}
	if got := countAtCA().since(before); got != (caCounts{orders: 1, issued: 1}) {
		t.Errorf("the CA created %d orders and issued %d certificates, want 1 and 1", got.orders, got.issued)
	}
	h.checkServesTheCAsCertificate(t)
}
