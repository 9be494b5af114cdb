package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// appendAudit appends e or fails t, and returns it as stored.
func appendAudit(t *testing.T, s store.Store, e store.AuditEvent) store.AuditEvent {
	t.Helper()
	got, err := s.AppendAudit(context.Background(), e)
	must(t, err)
	return got
}

// canonicalJSON decodes doc and encodes it again with sorted keys and
// numbers kept exact, so two documents that mean the same compare equal
// whatever their spacing and key order. Empty stays empty.
func canonicalJSON(t *testing.T, doc json.RawMessage) string {
	t.Helper()
	if len(doc) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	return mustJSON(t, v)
}

// assertEvent fails t unless got and want record the same event.
func assertEvent(t *testing.T, got, want store.AuditEvent) {
	t.Helper()
	if got.ID != want.ID || !got.Time.Equal(want.Time) || got.Actor != want.Actor || got.Action != want.Action ||
		got.Target != want.Target || got.RemoteAddr != want.RemoteAddr ||
		canonicalJSON(t, got.Before) != canonicalJSON(t, want.Before) ||
		canonicalJSON(t, got.After) != canonicalJSON(t, want.After) {
		t.Errorf("event differs\n got: %+v before=%s after=%s\nwant: %+v before=%s after=%s",
			got, got.Before, got.After, want, want.Before, want.After)
	}
}

// assertEventIDs fails t unless events holds exactly the events with ids,
// in that order.
func assertEventIDs(t *testing.T, events []store.AuditEvent, ids ...int64) {
	t.Helper()
	got := make([]int64, len(events))
	for i, e := range events {
		got[i] = e.ID
	}
	if mustJSON(t, got) != mustJSON(t, append([]int64{}, ids...)) {
		t.Errorf("got events %v, want %v", got, ids)
	}
}

func runAuditTests(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()

	t.Run("round-trips an event and assigns it an ID", func(t *testing.T) {
		s := newStore(t)
		want := store.AuditEvent{
			Time:       base.Add(1234 * time.Millisecond).In(elsewhere),
			Actor:      "alice",
			Action:     "asset.update",
			Target:     "asset/fw1.example.com",
			Before:     json.RawMessage(`{"data_center":"dc1","port":443}`),
			After:      json.RawMessage(`{"data_center":"dc2","port":8443}`),
			RemoteAddr: "192.0.2.7:51234",
		}
		got := appendAudit(t, s, want)
		if got.ID == 0 {
			t.Fatal("event has no ID")
		}
		want.ID = got.ID
		want.Time = want.Time.UTC()
		assertEvent(t, got, want)
		assertUTC(t, "appended event", &got.Time)

		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, err)
		if len(listed) != 1 {
			t.Fatalf("got %d events, want 1", len(listed))
		}
		assertEvent(t, listed[0], want)
		assertUTC(t, "listed event", &listed[0].Time)
	})

	t.Run("keeps times to the millisecond", func(t *testing.T) {
		s := newStore(t)
		at := base.Add(987 * time.Millisecond)
		got := appendAudit(t, s, store.AuditEvent{Time: at, Actor: "alice", Action: "login", Target: "user/alice"})
		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, err)
		for _, e := range []store.AuditEvent{got, listed[0]} {
			if !e.Time.Equal(at) {
				t.Errorf("got time %v, want %v", e.Time, at)
			}
		}
	})

	t.Run("stamps an event without a time", func(t *testing.T) {
		s := newStore(t)
		got := appendAudit(t, s, store.AuditEvent{Actor: "alice", Action: "login", Target: "user/alice"})
		if got.Time.IsZero() {
			t.Fatal("event without a time came back without one")
		}
		assertUTC(t, "stamped event", &got.Time)
		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, err)
		if len(listed) != 1 || !listed[0].Time.Equal(got.Time) {
			t.Errorf("listed %+v, want one event at %v", listed, got.Time)
		}
	})

	t.Run("keeps before and after documents as written", func(t *testing.T) {
		s := newStore(t)
		docs := []struct {
			name          string
			before, after json.RawMessage
		}{
			{"a creation has no before", nil, json.RawMessage(`{"system_name":"fw1","labels":{"team":"netops"}}`)},
			{"a deletion has no after", json.RawMessage(`{"system_name":"fw1"}`), nil},
			{"nested documents with every JSON type", json.RawMessage(`{
				"z": [1, 2.5, -3e2, 12345678901234567890, true, false, null],
				"a": {"unicode": "grüße ✓ \u00e9\n", "empty": {}, "list": []}
			}`), json.RawMessage(`["x", {"y": "z"}]`)},
			{"scalars", json.RawMessage(`"text"`), json.RawMessage(`42`)},
		}
		var want []store.AuditEvent
		for _, d := range docs {
			want = append(want, appendAudit(t, s, store.AuditEvent{
				Time: base, Actor: "alice", Action: d.name, Target: "asset/fw1", Before: d.before, After: d.after,
			}))
		}
		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, err)
		if len(listed) != len(want) {
			t.Fatalf("got %d events, want %d", len(listed), len(want))
		}
		for i, got := range listed {
			w := want[len(want)-1-i]
			assertEvent(t, got, w)
			if (len(got.Before) == 0) != (len(w.Before) == 0) || (len(got.After) == 0) != (len(w.After) == 0) {
				t.Errorf("%s: got before %q after %q, want before %q after %q", w.Action, got.Before, got.After, w.Before, w.After)
			}
		}
	})

	t.Run("refuses a before or after that is not JSON", func(t *testing.T) {
		s := newStore(t)
		for _, e := range []store.AuditEvent{
			{Actor: "alice", Action: "asset.update", Target: "asset/fw1", Before: json.RawMessage(`{"unterminated":`)},
			{Actor: "alice", Action: "asset.update", Target: "asset/fw1", After: json.RawMessage(`not json`)},
		} {
			if _, err := s.AppendAudit(ctx, e); err == nil {
				t.Errorf("appended an event with before %q after %q", e.Before, e.After)
			}
		}
		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, err)
		if len(listed) != 0 {
			t.Errorf("got %d events after refused appends, want 0", len(listed))
		}
	})

	// One trail for the listing tests: three users acting on three records,
	// with times out of order so only the ID decides what is newest.
	s := newStore(t)
	var trail []store.AuditEvent
	for i, e := range []store.AuditEvent{
		{Actor: "alice", Action: "asset.create", Target: "asset/fw1"},
		{Actor: "bob", Action: "asset.create", Target: "asset/fw2"},
		{Actor: "alice", Action: "asset.update", Target: "asset/fw1"},
		{Actor: "carol", Action: "user.create", Target: "user/dave"},
		{Actor: "bob", Action: "asset.update", Target: "asset/fw1"},
		{Actor: "alice", Action: "asset.delete", Target: "asset/fw2"},
	} {
		e.Time = base.Add(time.Duration(i%2*10-i) * time.Second)
		trail = append(trail, appendAudit(t, s, e))
	}
	id := func(i int) int64 { return trail[i].ID }

	t.Run("assigns increasing IDs", func(t *testing.T) {
		for i := 1; i < len(trail); i++ {
			if trail[i].ID <= trail[i-1].ID {
				t.Errorf("event %d has ID %d, not above the previous %d", i, trail[i].ID, trail[i-1].ID)
			}
		}
	})

	tests := []struct {
		name   string
		filter store.AuditFilter
		want   []int64
	}{
		{"lists every event newest first", store.AuditFilter{}, []int64{id(5), id(4), id(3), id(2), id(1), id(0)}},
		{"filters by actor", store.AuditFilter{Actor: "alice"}, []int64{id(5), id(2), id(0)}},
		{"filters by action", store.AuditFilter{Action: "asset.update"}, []int64{id(4), id(2)}},
		{"filters by target", store.AuditFilter{Target: "asset/fw1"}, []int64{id(4), id(2), id(0)}},
		{"combines filters", store.AuditFilter{Actor: "alice", Target: "asset/fw1"}, []int64{id(2), id(0)}},
		{"combines all three filters", store.AuditFilter{Actor: "bob", Action: "asset.update", Target: "asset/fw1"}, []int64{id(4)}},
		{"finds nothing when no event matches", store.AuditFilter{Actor: "mallory"}, nil},
		{"caps the result at Limit, keeping the newest", store.AuditFilter{Limit: 2}, []int64{id(5), id(4)}},
		{"starts below the BeforeID cursor", store.AuditFilter{BeforeID: id(3)}, []int64{id(2), id(1), id(0)}},
		{"applies BeforeID and Limit with a filter", store.AuditFilter{Target: "asset/fw1", BeforeID: id(4), Limit: 1}, []int64{id(2)}},
		{"finds nothing below the oldest event", store.AuditFilter{BeforeID: id(0)}, nil},
		{"keeps the events at or after Since", store.AuditFilter{Since: base.Add(5 * time.Second)}, []int64{id(5), id(3), id(1)}},
		{"keeps the events before Until", store.AuditFilter{Until: base}, []int64{id(4), id(2)}},
		{"combines Since, Until and a filter", store.AuditFilter{Actor: "alice", Since: base.Add(-3 * time.Second), Until: base.Add(6 * time.Second)}, []int64{id(5), id(2), id(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.filter)
			must(t, err)
			assertEventIDs(t, got, tt.want...)
		})
	}

	t.Run("returns whole events when listing", func(t *testing.T) {
		got, err := s.ListAudit(ctx, store.AuditFilter{Target: "user/dave"})
		must(t, err)
		if len(got) != 1 {
			t.Fatalf("got %d events, want 1", len(got))
		}
		assertEvent(t, got[0], trail[3])
	})

	t.Run("pages through every event with BeforeID and Limit", func(t *testing.T) {
		var seen []store.AuditEvent
		f := store.AuditFilter{Limit: 4}
		for range 10 {
			page, err := s.ListAudit(ctx, f)
			must(t, err)
			if len(page) == 0 {
				break
			}
			seen = append(seen, page...)
			f.BeforeID = page[len(page)-1].ID
		}
		assertEventIDs(t, seen, id(5), id(4), id(3), id(2), id(1), id(0))
	})

	t.Run("keeps a user's events after the user is deleted", func(t *testing.T) {
		s := newStore(t)
		must(t, s.CreateUser(ctx, store.User{Username: "alice", PasswordHash: []byte("h"), Role: store.RoleAdmin}))
		e := appendAudit(t, s, store.AuditEvent{Time: base, Actor: "alice", Action: "asset.create", Target: "asset/fw1"})
		must(t, s.DeleteUser(ctx, "alice"))
		got, err := s.ListAudit(ctx, store.AuditFilter{Actor: "alice"})
		must(t, err)
		assertEventIDs(t, got, e.ID)
	})
}
