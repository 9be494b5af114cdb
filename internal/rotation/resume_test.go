package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// journaled decodes the entry rot's journal keeps for step.
func journaled[T any](t *testing.T, rot store.Rotation, step rotation.Step) T {
	t.Helper()
	e, ok := rot.Step(string(step))
	if !ok {
		t.Fatalf("the journal keeps no %s entry", step)
	}
	var out T
	if err := json.Unmarshal(e.Output, &out); err != nil {
		t.Fatalf("journaled %s entry %s: %v", step, e.Output, err)
	}
	return out
}

// journaledOrderURL returns the URL of the order rot's journal keeps.
func journaledOrderURL(t *testing.T, rot store.Rotation) string {
	t.Helper()
	out := journaled[struct {
		CA  string `json:"ca"`
		URL string `json:"url"`
	}](t, rot, rotation.StepOrder)
	if out.URL == "" || out.CA != "lab" {
		t.Fatalf("journaled order %+v; want the lab CA's order URL", out)
	}
	return out.URL
}

// journaledChain returns the serial and expiry of the chain rot's
// journal keeps.
func journaledChain(t *testing.T, rot store.Rotation) (string, time.Time) {
	t.Helper()
	out := journaled[struct {
		Serial   string    `json:"serial"`
		NotAfter time.Time `json:"not_after"`
	}](t, rot, rotation.StepIssue)
	if out.Serial == "" || out.NotAfter.IsZero() {
		t.Fatalf("journaled chain %+v; want its serial and expiry", out)
	}
	return out.Serial, out.NotAfter
}

// interrupt runs a rotation of h's asset in a process that stopIn
// stops, and checks it is left running for the next process, which
// stopIn's hooks no longer reach.
func interrupt(t *testing.T, h *labHarness, stopIn func(t *testing.T, st *journalHook, stop func())) store.Rotation {
	t.Helper()
	ctx := context.Background()
	st := &journalHook{Store: h.store}
	first := h.process(t, st)
	rot, err := first.runner.Create(ctx, h.name, store.TriggerManual, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	dying, stop := context.WithCancel(ctx)
	defer stop()
	stopIn(t, st, stop)
	if rot, err = first.runner.Run(dying, rot.ID); err == nil {
		t.Fatal("the interrupted rotation reported success")
	}
	labCA.AfterAnswer(nil)
	rot, err = h.store.GetRotation(ctx, rot.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rot.State != store.StateRunning {
		t.Fatalf("the interrupted rotation is %s (%s), want it left running", rot.State, rot.Error)
	}
	return rot
}

// stopAfterJournaling stops the process of interrupt once step's entry is
// journaled.
func stopAfterJournaling(step rotation.Step) func(*testing.T, *journalHook, func()) {
	return func(_ *testing.T, st *journalHook, stop func()) {
		st.after = func(e store.JournalEntry) {
			if rotation.Step(e.Step) == step {
				stop()
			}
		}
	}
}

// resume runs rot to its end in a new process and fails t unless it
// succeeds.
func resume(t *testing.T, h *labHarness, rot store.Rotation) store.Rotation {
	t.Helper()
	done, err := h.process(t, h.store).runner.Run(context.Background(), rot.ID)
	if err != nil || done.State != store.StateSucceeded {
		t.Fatalf("resumed rotation: state %s, err %v", done.State, err)
	}
	return done
}

func TestAResumedRotationPlacesNoSecondOrder(t *testing.T) {
	tests := []struct {
		name   string
		stopIn func(t *testing.T, st *journalHook, stop func())
	}{
		{"interrupted right after the CA created the order", stopAfterJournaling(rotation.StepOrder)},
		{"interrupted after its challenge was answered", func(t *testing.T, _ *journalHook, stop func()) {
			stopAt(t, "/chalZ/", stop)
		}},
		{"interrupted after the order was finalized and the CA issued", func(t *testing.T, _ *journalHook, stop func()) {
			stopAt(t, "/finalize-order/", stop)
		}},
		{"interrupted after the CA issued, before the chain was journaled", func(_ *testing.T, st *journalHook, stop func()) {
			st.before = func(e store.JournalEntry) error {
				if rotation.Step(e.Step) == rotation.StepIssue {
					stop()
					return context.Canceled
				}
				return nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLabHarness(t)
			before := countAtCA()
			rot := interrupt(t, h, tt.stopIn)
			if _, issued := rot.Step(string(rotation.StepIssue)); issued {
				t.Fatal("the chain was journaled before the interruption")
			}
			orderURL := journaledOrderURL(t, rot)

			done := resume(t, h, rot)
			if got := countAtCA().since(before); got != (caCounts{orders: 1, issued: 1}) {
				t.Errorf("the CA created %d orders and issued %d certificates, want 1 and 1", got.orders, got.issued)
			}
			if url := journaledOrderURL(t, done); url != orderURL {
				t.Errorf("the rotation ended with order %s, want the first one %s", url, orderURL)
			}
			if h.dev.csrs != 1 {
				t.Errorf("the device generated %d CSRs, want 1", h.dev.csrs)
			}
			h.checkServesTheCAsCertificate(t)
		})
	}
}

func TestAResumedRotationInstallsItsJournaledChainOnlyWithTheCAsMinimumLifetimeLeft(t *testing.T) {
	// The lab CA profile's min_lifetime is a day.
	tests := []struct {
		name string
		// left is what the journaled chain has left when the rotation
		// resumes.
		left          time.Duration
		wantOrders    int
		wantJournaled bool
	}{
		{"a chain with 23 hours left is replaced by a new certificate", 23 * time.Hour, 2, false},
		{"a chain with 25 hours left is installed", 25 * time.Hour, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLabHarness(t)
			before := countAtCA()
			rot := interrupt(t, h, stopAfterJournaling(rotation.StepIssue))
			journaled, notAfter := journaledChain(t, rot)
			skew := time.Until(notAfter.Add(-tt.left))
			h.now = func() time.Time { return time.Now().Add(skew) }

			done := resume(t, h, rot)
			if got := countAtCA().since(before); got != (caCounts{orders: tt.wantOrders, issued: tt.wantOrders}) {
				t.Errorf("the CA created %d orders and issued %d certificates, want %d and %d",
					got.orders, got.issued, tt.wantOrders, tt.wantOrders)
			}
			served := verify.SerialHex(h.served()[0])
			switch {
			case tt.wantJournaled && served != journaled:
				t.Errorf("the device serves serial %s, want the journaled chain's %s", served, journaled)
			case !tt.wantJournaled && served == journaled:
				t.Errorf("the device serves the journaled chain's serial %s, which had less than the CA's minimum lifetime left", served)
			}
			if kept, _ := journaledChain(t, done); kept != served {
				t.Errorf("the journal keeps serial %s, the device serves %s", kept, served)
			}
			if h.dev.csrs != 1 {
				t.Errorf("the device generated %d CSRs, want 1: a new order is for the key it has", h.dev.csrs)
			}
			h.checkServesTheCAsCertificate(t)
		})
	}
}

func TestAnOrderTheCAReportsInvalidIsReplacedByOneNewOrder(t *testing.T) {
	h := newLabHarness(t)
	before := countAtCA()
	rot := interrupt(t, h, stopAfterJournaling(rotation.StepOrder))
	expired := journaledOrderURL(t, rot)
	if err := labCA.ExpireOrder(expired); err != nil {
		t.Fatal(err)
	}

	done := resume(t, h, rot)
	if got := countAtCA().since(before); got != (caCounts{orders: 2, issued: 1}) {
		t.Errorf("the CA created %d orders and issued %d certificates, want 2 and 1", got.orders, got.issued)
	}
	if url := journaledOrderURL(t, done); url == expired {
		t.Errorf("the journal still keeps the expired order %s", url)
	}
	h.checkServesTheCAsCertificate(t)
}

func TestAnUnreadableJournalEntryStopsTheResumedRotation(t *testing.T) {
	tests := []struct {
		step rotation.Step
		// wantOrders is what the first process ordered.
		wantOrders int
	}{
		{rotation.StepCSR, 0},
		{rotation.StepOrder, 1},
		{rotation.StepIssue, 1},
		{rotation.StepInstall, 1},
	}
	for _, tt := range tests {
		t.Run("a truncated "+string(tt.step)+" entry", func(t *testing.T) {
			h := newLabHarness(t)
			ctx := context.Background()
			before := countAtCA()
			var written store.JournalEntry
			rot := interrupt(t, h, func(_ *testing.T, st *journalHook, stop func()) {
				st.after = func(e store.JournalEntry) {
					if rotation.Step(e.Step) == tt.step {
						written = e
						stop()
					}
				}
			})
			// A write cut short: half of the entry.
			written.Output = written.Output[:len(written.Output)/2]
			if err := h.store.AppendJournal(ctx, rot.ID, written); err != nil {
				t.Fatal(err)
			}
			servedBefore, csrsBefore := h.served(), h.dev.csrs

			done, err := h.process(t, h.store).runner.Run(ctx, rot.ID)
			var unreadable *rotation.JournalError
			if !errors.As(err, &unreadable) || unreadable.Step != tt.step || done.State != store.StateFailed {
				t.Fatalf("resumed rotation: state %s, err %v; want it failed on the %s entry", done.State, err, tt.step)
			}
			for _, want := range []string{"rotation " + strconv.FormatInt(rot.ID, 10), `step "` + string(tt.step) + `"`, "ottr rotate " + h.name + " --force"} {
				if !strings.Contains(done.Error, want) {
					t.Errorf("the rotation's error %q does not name %s", done.Error, want)
				}
			}
			if got := countAtCA().since(before); got.orders != tt.wantOrders {
				t.Errorf("the CA created %d orders, want the first process's %d and no more", got.orders, tt.wantOrders)
			}
			if h.dev.csrs != csrsBefore || len(h.served()) != len(servedBefore) {
				t.Errorf("the device was changed: %d CSRs (had %d), serves %d certificates (had %d)",
					h.dev.csrs, csrsBefore, len(h.served()), len(servedBefore))
			}
		})
	}
}

// flakyStore fails the writes named in failures, each as many times as
// given, with err: a database that is away for a while.
type flakyStore struct {
	store.Store
	err      error
	mu       sync.Mutex
	failures map[string]int
	failed   int
}

func (f *flakyStore) fail(what string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures[what] == 0 {
		return nil
	}
	f.failures[what]--
	f.failed++
	return f.err
}

func (f *flakyStore) AppendJournal(ctx context.Context, id int64, e store.JournalEntry) error {
	if err := f.fail("journal " + e.Step); err != nil {
		return fmt.Errorf("postgres: append journal step %q of rotation %d: %w", e.Step, id, err)
	}
	return f.Store.AppendJournal(ctx, id, e)
}

func (f *flakyStore) UpdateAsset(ctx context.Context, a asset.Asset) error {
	if err := f.fail("asset"); err != nil {
		return fmt.Errorf("postgres: update asset %q: %w", a.SystemName, err)
	}
	return f.Store.UpdateAsset(ctx, a)
}

func (f *flakyStore) UpdateRotationState(ctx context.Context, id int64, u store.StateUpdate) error {
	if err := f.fail("state " + string(u.State)); err != nil {
		return fmt.Errorf("postgres: update rotation %d: %w", id, err)
	}
	return f.Store.UpdateRotationState(ctx, id, u)
}

func TestADatabaseAwayForAWhileLosesNoChain(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"a PostgreSQL server shutting down (SQLSTATE 57P03)",
			&pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is shutting down"}},
		{"a connection lost (SQLSTATE 08006)",
			&pgconn.PgError{Severity: "FATAL", Code: "08006", Message: "connection failure"}},
		{"a connection refused",
			&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLabHarness(t)
			ctx := context.Background()
			flaky := &flakyStore{Store: h.store, err: tt.err, failures: map[string]int{
				"state " + string(store.StateRunning):     2,
				"journal " + string(rotation.StepOrder):   3,
				"journal " + string(rotation.StepIssue):   3,
				"state " + string(store.StateSucceeded):   2,
				"journal " + string(rotation.StepInstall): 1,
				// The record step's write of the new certificate.
				"asset": 2,
			}}
			injected := 13
			runner := h.process(t, flaky).runner
			rot, err := runner.Create(ctx, h.name, store.TriggerManual, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			before := countAtCA()

			done, err := runner.Run(ctx, rot.ID)
			if err != nil || done.State != store.StateSucceeded {
				t.Fatalf("state %s, err %v; want the writes retried until the database answers", done.State, err)
			}
			if flaky.failed != injected {
				t.Errorf("%d writes failed, want all %d injected failures", flaky.failed, injected)
			}
			if got := countAtCA().since(before); got != (caCounts{orders: 1, issued: 1}) {
				t.Errorf("the CA created %d orders and issued %d certificates, want 1 and 1", got.orders, got.issued)
			}
			h.checkServesTheCAsCertificate(t)
		})
	}
}

func TestAWriteTheDatabaseRefusesIsNotRetried(t *testing.T) {
	h := newLabHarness(t)
	ctx := context.Background()
	refused := &pgconn.PgError{Severity: "ERROR", Code: "23514", Message: `new row for relation "rotation_journal" violates check constraint`}
	flaky := &flakyStore{Store: h.store, err: refused, failures: map[string]int{"journal " + string(rotation.StepIssue): 100}}
	runner := h.process(t, flaky).runner
	rot, err := runner.Create(ctx, h.name, store.TriggerManual, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runner.Run(ctx, rot.ID)
	if !errors.As(err, new(*pgconn.PgError)) || !strings.Contains(err.Error(), "journal issue") {
		t.Fatalf("Run: %v; want the database's refusal of the issue journal", err)
	}
	if flaky.failed != 1 {
		t.Errorf("the refused write was tried %d times, want once", flaky.failed)
	}
}
