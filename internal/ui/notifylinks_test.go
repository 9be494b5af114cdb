package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/notify"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// toldEvents records the events a notifier queues for delivery.
type toldEvents struct {
	mu     sync.Mutex
	events []notify.Event
}

func (q *toldEvents) EnqueueDeliveriesTx(_ context.Context, _ any, ds []notify.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range ds {
		q.events = append(q.events, d.Event)
	}
	return nil
}

// link is the link of the one event of kind told.
func (q *toldEvents) link(t *testing.T, kind notify.Kind) string {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	var links []string
	for _, e := range q.events {
		if e.Kind == kind {
			links = append(links, e.Link)
		}
	}
	if len(links) != 1 {
		t.Fatalf("told %d events of kind %s, want 1", len(links), kind)
	}
	return links[0]
}

func TestTheLinksOfNotificationsOpenTheUIsPagesOfTheRotationAndTheAsset(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	fleet := e.fleet()
	told := &toldEvents{}
	n, err := notify.New(notify.Config{
		Settings: config.Notifications{
			ExternalURL: e.srv.URL,
			Channels:    map[string]config.NotifyChannel{"hook": {Kind: "webhook"}},
			Expiry:      config.NotifyExpiry{Days: []int{7}},
		},
		Store:  e.app.Store,
		Routes: e.app.Routes,
		Policy: e.app.Config.Policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.SetEnqueuer(told)

	// The ok asset's rotation fails: its message links to the rotation.
	before := fleet["ok"]
	rot, err := e.app.Store.CreateRotation(ctx, store.Rotation{Asset: before.SystemName, Trigger: store.TriggerSchedule, State: store.StateFailed})
	if err != nil {
		t.Fatal(err)
	}
	after := before.Clone()
	after.FailureCount = 1
	n.RotationEnded(ctx, rotation.Ending{Rotation: rot, Before: before, After: after, Step: rotation.StepInstall, Err: errors.New("reload failed")})

	// A paused asset expires in 5 days: its message links to the asset.
	paused := fleet["paused"]
	expiry, issued := time.Now().Add(5*24*time.Hour), time.Now().Add(-85*24*time.Hour)
	paused.CertificateExpiration, paused.CertificateNotBefore = &expiry, &issued
	if err := e.app.Store.UpdateAsset(ctx, paused); err != nil {
		t.Fatal(err)
	}
	if _, err := n.CheckExpiry(ctx); err != nil {
		t.Fatal(err)
	}

	b := e.loggedIn("developer")
	for _, tt := range []struct {
		kind notify.Kind
		want string
	}{
		{notify.RotationFailed, fmt.Sprintf("<h1>Rotation %d of", rot.ID)},
		{notify.CertificateExpiring, "<h1>" + paused.SystemName + " "},
	} {
		link := told.link(t, tt.kind)
		path, ok := strings.CutPrefix(link, e.srv.URL)
		if !ok {
			t.Fatalf("the %s message links to %s, not under the external URL %s", tt.kind, link, e.srv.URL)
		}
		p := b.get(path)
		if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || !strings.Contains(p.body, tt.want) {
			t.Errorf("the %s message's link %s opens: status %d, %s, want 200 and the UI's page with %q:\n%s",
				tt.kind, link, p.status, p.header.Get("Content-Type"), tt.want, p.body)
		}
	}
}
