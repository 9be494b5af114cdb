package ui

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

type rotationData struct {
	Rotation store.Rotation
	Final    bool
	Steps    []stepView
	// PreviousSerial is what the device served before; IssuedSerial what
	// the CA issued; ServedSerial what the device was seen serving after
	// the install: the new certificate.
	PreviousSerial, IssuedSerial, ServedSerial string
	RolledBack                                 bool
	Duration                                   time.Duration
}

// stepView is one step of the pipeline: finished (with its timings), the
// one under way, or still to come.
type stepView struct {
	Name       string
	Status     string
	StartedAt  time.Time
	FinishedAt time.Time
	Took       time.Duration
}

// serials are the serial fields of the steps' journal outputs.
type serials struct {
	Serial        string `json:"serial"`
	CurrentSerial string `json:"current_serial"`
}

// loadRotation reads the rotation named in the path and lays it out.
func (u *UI) loadRotation(r *http.Request) (*rotationData, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return nil, userError(http.StatusNotFound, "no rotation "+r.PathValue("id")+": rotation numbers are whole numbers from 1")
	}
	rot, err := u.store.GetRotation(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, userError(http.StatusNotFound, "no rotation "+r.PathValue("id")+" (its asset may have been deleted)")
	}
	if err != nil {
		return nil, err
	}
	d := &rotationData{Rotation: rot, Final: store.Final(rot.State), RolledBack: rot.State == store.StateRolledBack}
	// The journal's times have milliseconds, the rotation's seconds.
	start, end := rot.CreatedAt, u.now()
	if rot.FinishedAt != nil {
		end = *rot.FinishedAt
	}
	if n := len(rot.Journal); n > 0 {
		start = rot.Journal[0].StartedAt
		if d.Final {
			end = rot.Journal[n-1].FinishedAt
		}
	}
	d.Duration = end.Sub(start).Round(time.Millisecond)
	// The first step without a journal entry is the one under way, or
	// where a rotation that did not succeed stopped.
	reached := false
	for _, step := range rotation.Steps() {
		v := stepView{Name: string(step)}
		e, done := rot.Step(string(step))
		switch {
		case done:
			v.Status, v.StartedAt, v.FinishedAt = "done", e.StartedAt, e.FinishedAt
			v.Took = e.FinishedAt.Sub(e.StartedAt).Round(time.Millisecond)
			d.noteSerial(step, e.Output)
		case !reached && !d.Final:
			v.Status, reached = "under way", true
		case !reached && rot.State != store.StateSucceeded:
			v.Status, reached = "failed here", true
		case d.Final:
			v.Status = "not run"
		default:
			v.Status = "to come"
		}
		d.Steps = append(d.Steps, v)
	}
	return d, nil
}

// noteSerial keeps the serial a step's journal output records.
func (d *rotationData) noteSerial(step rotation.Step, output json.RawMessage) {
	var out serials
	if json.Unmarshal(output, &out) != nil {
		return
	}
	switch step {
	case rotation.StepPreflight:
		d.PreviousSerial = out.CurrentSerial
	case rotation.StepIssue:
		d.IssuedSerial = out.Serial
	case rotation.StepVerify:
		d.ServedSerial = out.Serial
	}
}

// rotationPage shows one rotation: its steps with their timings, its
// captured log, its error and rollback. While it runs, the page polls
// rotationLive and swaps in the new state until the rotation ends.
func (u *UI) rotationPage(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := u.loadRotation(r)
	if err != nil {
		return err
	}
	return u.render(w, r, s, http.StatusOK, "rotation", "Rotation "+r.PathValue("id")+" of "+d.Rotation.Asset, d)
}

// rotationLive is the part of the rotation page htmx polls while it runs.
func (u *UI) rotationLive(w http.ResponseWriter, r *http.Request, s *session) error {
	d, err := u.loadRotation(r)
	if err != nil {
		return err
	}
	return u.renderPartial(w, r, s, "rotation", "live", d)
}
