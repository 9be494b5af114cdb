package rotation

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/store"
)

// JournalError is a journal entry a resumed rotation cannot read — a
// write cut short, a damaged database. The rotation stops before doing
// anything: redoing the step instead would, for the issue step or its
// order, order a second certificate while the CA may have issued the
// first.
type JournalError struct {
	RotationID int64
	Asset      string
	Step       Step
	Err        error
}

func (e *JournalError) Error() string {
	return fmt.Sprintf("rotation %d of %s cannot resume: its journal entry for step %q cannot be read (%v), so it stopped without "+
		"contacting the device or the CA; check the database for damage, then start a new rotation with `ottr rotate %s --force`, "+
		"which does every step again", e.RotationID, e.Asset, e.Step, e.Err, e.Asset)
}

func (e *JournalError) Unwrap() error { return e.Err }

// checkJournal reads every entry of rot's journal as a resumed run would,
// and returns the first one that cannot be read, or nil.
func checkJournal(rot store.Rotation) *JournalError {
	for _, e := range rot.Journal {
		if err := readEntry(e); err != nil {
			return &JournalError{RotationID: rot.ID, Asset: rot.Asset, Step: Step(e.Step), Err: err}
		}
	}
	return nil
}

// readEntry decodes one journal entry's output.
func readEntry(e store.JournalEntry) error {
	if s, ok := stepNamed(Step(e.Step)); ok {
		return s.read(e.Output)
	}
	if Step(e.Step) == StepOrder {
		_, err := decode[orderOutput](e.Output)
		return err
	}
	// An entry a later version journals.
	if len(e.Output) > 0 && !json.Valid(e.Output) {
		return errors.New("not JSON")
	}
	return nil
}
