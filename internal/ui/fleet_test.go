package ui

import (
	"context"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/asset"

	"github.com/ottr-go/ottr/internal/testenv"
)

func TestTheFleetIndexTakesTheUIsChangesAtOnceAndOthersWithinItsMaxAge(t *testing.T) {
	e := newEnv(t)
	fleet := e.fleet()
	ctx := context.Background()
	clock := testenv.NewClock(time.Now())
	index := &fleetIndex{store: e.app.Store, routes: e.app.Routes, now: clock.Now}
	paused := func() int {
		v, err := index.view(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v.counts()[asset.StatePaused]
	}
	if n := paused(); n != 1 {
		t.Fatalf("%d paused, want 1", n)
	}

	// A change the UI makes is patched in.
	a := e.fleetAsset(fleet["ok"].SystemName)
	a.Paused = true
	if err := e.app.Store.UpdateAsset(ctx, a); err != nil {
		t.Fatal(err)
	}
	index.patch(nil, nil)
	if n := paused(); n != 1 {
		t.Fatalf("the index shows a change it was not told of before it is read again: %d paused", n)
	}
	index.patch([]asset.Asset{a}, nil)
	if n := paused(); n != 2 {
		t.Errorf("after the patch %d paused, want 2", n)
	}

	// A change made elsewhere shows once the index is older than its
	// max age and read again.
	b := e.fleetAsset(fleet["due"].SystemName)
	b.Paused = true
	if err := e.app.Store.UpdateAsset(ctx, b); err != nil {
		t.Fatal(err)
	}
	clock.Add(fleetMaxAge + time.Second)
	deadline := time.Now().Add(time.Minute)
	for paused() != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the index was not read again after its max age")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
