package ui

import (
	"fmt"
	"net/http"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// overviewListed is how many assets each list of the overview shows.
const overviewListed = 10

type overviewData struct {
	Total  int
	States []stateCount
	Chart  histogram
	// Failing are the failing assets, soonest expiry first, each with its
	// last rotation's error.
	Failing      []failingAsset
	FailingTotal int
	// Running are the pending and running rotations.
	Running []store.Rotation
	// NextWave are the assets whose renewal time comes next.
	NextWave     []assetRow
	ScanInterval time.Duration
}

type stateCount struct {
	State string
	Count int
}

type failingAsset struct {
	assetRow
	Error      string
	RotationID int64
}

// overviewPage shows the fleet at a glance: how many assets are in each
// state, when their certificates expire, what fails, what runs, and what
// renews next.
func (u *UI) overviewPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	now := u.now().UTC()
	fleet, err := u.fleet.view(ctx)
	if err != nil {
		return err
	}
	d := &overviewData{ScanInterval: u.app.Config.Scheduler.Interval}
	counts := fleet.counts()
	for _, state := range displayStates {
		d.States = append(d.States, stateCount{state, counts[state]})
		d.Total += counts[state]
	}
	d.Chart = expiryHistogram(fleet.expiries(expiryBounds(now)))

	rows, total, err := u.page(ctx, fleet, assetQuery{state: stateFailing, sort: "expiry", limit: overviewListed})
	if err != nil {
		return err
	}
	d.FailingTotal = total
	for _, row := range rows {
		f := failingAsset{assetRow: row}
		if rots, err := u.store.ListRotations(ctx, store.RotationFilter{Asset: row.Asset.SystemName, Limit: 1}); err == nil && len(rots) > 0 {
			f.Error, f.RotationID = rots[0].Error, rots[0].ID
		}
		d.Failing = append(d.Failing, f)
	}

	for _, state := range []store.State{store.StateRunning, store.StatePending} {
		rots, err := u.store.ListRotations(ctx, store.RotationFilter{State: state, Limit: overviewListed})
		if err != nil {
			return err
		}
		d.Running = append(d.Running, rots...)
	}

	if d.NextWave, _, err = u.page(ctx, fleet, assetQuery{state: stateOK, sort: "renewal", limit: overviewListed}); err != nil {
		return err
	}
	return u.render(w, r, s, http.StatusOK, "overview", "Fleet", d)
}

// expiryDays are the histogram's bucket limits after "expired".
var expiryDays = []int{7, 14, 30, 60}

func expiryBounds(now time.Time) []time.Time {
	bounds := []time.Time{now}
	for _, d := range expiryDays {
		bounds = append(bounds, now.Add(time.Duration(d)*24*time.Hour))
	}
	return bounds
}

// histogram is an SVG bar chart drawn on the server.
type histogram struct {
	Width, Height int
	Bars          []bar
	Summary       string
	Unknown       int
}

type bar struct {
	Label         string
	Count         int
	X, Y, W, H    int
	LabelX, TextY int
	Class         string
	// Days is the assets table's expiry filter for the bar: 0 for the
	// expired, -1 for the last bar, which has none.
	Days int
}

// expiryHistogram lays out one bar per bucket: expired, under each of
// expiryDays, and later.
func expiryHistogram(buckets []expiryBucket, unknown int) histogram {
	const (
		width, height = 600, 220
		top, bottom   = 24, 40
		gap           = 14
	)
	labels := []string{"expired"}
	for _, d := range expiryDays {
		labels = append(labels, fmt.Sprintf("< %d days", d))
	}
	labels = append(labels, "later")
	highest := 1
	for _, b := range buckets {
		highest = max(highest, b.Count)
	}
	h := histogram{Width: width, Height: height, Unknown: unknown}
	barWidth := (width - gap*(len(buckets)+1)) / len(buckets)
	summary := ""
	for i, b := range buckets {
		barHeight := b.Count * (height - top - bottom) / highest
		if b.Count > 0 {
			barHeight = max(barHeight, 2)
		}
		x := gap + i*(barWidth+gap)
		class := "bar"
		switch {
		case i == 0:
			class += " expired"
		case i <= 2:
			class += " soon"
		}
		days := -1
		switch {
		case i == 0:
			days = 0
		case i <= len(expiryDays):
			days = expiryDays[i-1]
		}
		h.Bars = append(h.Bars, bar{
			Label: labels[i], Count: b.Count, Class: class, Days: days,
			X: x, W: barWidth, Y: height - bottom - barHeight, H: barHeight,
			LabelX: x + barWidth/2, TextY: height - bottom - barHeight - 6,
		})
		if i > 0 {
			summary += ", "
		}
		summary += fmt.Sprintf("%s: %d", labels[i], b.Count)
	}
	h.Summary = "Certificates by time to expiry: " + summary
	return h
}
