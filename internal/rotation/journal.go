package rotation

import (
	"encoding/json"
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
	Step       string
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
			return &JournalError{RotationID: rot.ID, Asset: rot.Asset, Step: e.Step, Err: err}
		}
	}
	return nil
}

// readEntry decodes one journal entry's output.
func readEntry(e store.JournalEntry) error {
	var err error
	switch e.Step {
	case StepPreflight:
		err = json.Unmarshal(e.Output, new(preflightOutput))
	case StepCSR:
		var out csrOutput
		if err = json.Unmarshal(e.Output, &out); err == nil {
			_, err = parseCSR(out.CSR)
		}
	case StepOrder:
		_, err = decodeOrder(e)
	case StepIssue:
		var out issueOutput
		if err = json.Unmarshal(e.Output, &out); err == nil {
			_, err = parseChain(out.Chain)
		}
	case StepInstall:
		err = json.Unmarshal(e.Output, new(installOutput))
	case StepVerify:
		err = json.Unmarshal(e.Output, new(verifyOutput))
	default:
		// The record step's output, or one a later version journals.
		if len(e.Output) > 0 && !json.Valid(e.Output) {
			err = fmt.Errorf("not JSON")
		}
	}
	return err
}
