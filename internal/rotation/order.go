package rotation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/store"
)

// StepOrder is the journal entry of the order a CA created during the
// issue step, written as soon as the order exists and before any of its
// challenges is answered. It is not a step of its own: a rotation
// interrupted in the issue step continues that order when it resumes —
// even when the CA has already issued its certificate — rather than
// placing another.
const StepOrder Step = "order"

// orderOutput is the journaled order: the CA profile that created it and
// what the issuer needs to continue it.
type orderOutput struct {
	CA string `json:"ca"`
	issuer.OrderRef
}

// journaledOrder returns the order an interrupted issue step created, or
// nil when there is none to continue. An issue step done again because
// its journaled chain has aged out starts afresh: its order's
// certificate is that chain.
func (rn *run) journaledOrder() (*orderOutput, error) {
	e, ok := rn.journaled(StepOrder)
	if !ok {
		return nil, nil
	}
	if _, issued := rn.journaled(StepIssue); issued {
		return nil, nil
	}
	out, err := decode[orderOutput](e.Output)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func (o orderOutput) check() error {
	if o.CA == "" || o.URL == "" {
		return errors.New("the order entry names no CA or no order URL")
	}
	return nil
}

// keepOrder returns the callback that journals an order ca created, so
// that a resumed rotation continues it. The write is retried while the
// database is briefly away; if it cannot be made, the issuer gives the
// order up before answering any challenge.
func (rn *run) keepOrder(ca string) func(ctx context.Context, o issuer.OrderRef) error {
	return func(ctx context.Context, o issuer.OrderRef) error {
		raw, err := json.Marshal(orderOutput{CA: ca, OrderRef: o})
		if err != nil {
			return fmt.Errorf("encode the order: %w", err)
		}
		now := rn.r.d.Now()
		e := store.JournalEntry{Step: string(StepOrder), Output: raw, StartedAt: now, FinishedAt: now}
		err = rn.r.writeStore(ctx, rn.rot.ID, "journal "+string(StepOrder), func(ctx context.Context) error {
			return rn.r.d.Store.AppendJournal(ctx, rn.rot.ID, e)
		})
		if err != nil {
			return fmt.Errorf("rotation %d: journal the order %s: %w", rn.rot.ID, o.URL, err)
		}
		// The store replaces an entry of the same step; so does the copy.
		rn.rot.Journal = slices.DeleteFunc(rn.rot.Journal, func(j store.JournalEntry) bool { return Step(j.Step) == StepOrder })
		rn.rot.Journal = append(rn.rot.Journal, e)
		rn.logf(slog.LevelInfo, "CA %s created order %s", ca, o.URL)
		return nil
	}
}
