package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ottr-go/ottr/internal/store"
)

// jsonColumn returns the column value of an optional JSON document: nil
// (NULL) when absent, else its text as given, which the json column keeps
// byte for byte.
func jsonColumn(field string, doc json.RawMessage) (*string, error) {
	if len(doc) == 0 {
		return nil, nil
	}
	if !json.Valid(doc) {
		return nil, fmt.Errorf("%s is not valid JSON", field)
	}
	s := string(doc)
	return &s, nil
}

// AppendAudit records e and returns it with ID set, and Time set to the
// store's clock if it was zero. Times are kept to the millisecond and
// returned in UTC. Before and After must each be empty or valid JSON; they
// come back as written. Errors never include them: they may hold data the
// caller redacted only partly.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEvent) (store.AuditEvent, error) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = toMilli(e.Time)
	before, err := jsonColumn("before", e.Before)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("postgres: append audit event %q on %q: %w", e.Action, e.Target, err)
	}
	after, err := jsonColumn("after", e.After)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("postgres: append audit event %q on %q: %w", e.Action, e.Target, err)
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO audit_events
		(time, actor, action, target, "before", "after", remote_addr) VALUES ($1, $2, $3, $4, $5::json, $6::json, $7)
		RETURNING id`,
		e.Time, e.Actor, e.Action, e.Target, before, after, e.RemoteAddr).Scan(&e.ID)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("postgres: append audit event %q on %q: %w", e.Action, e.Target, err)
	}
	return e, nil
}

// ListAudit returns events matching f, newest first. IDs only grow, so the
// newest event has the highest ID whatever the clocks said; BeforeID pages
// backwards from an earlier page's last ID. With a filter, one of the
// (column, id) indexes serves both the filter and the order.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	w := &where{}
	w.eq("target", f.Target)
	w.eq("actor", f.Actor)
	w.eq("action", f.Action)
	if f.BeforeID > 0 {
		w.add("id < ", f.BeforeID)
	}
	if !f.Since.IsZero() {
		w.add("time >= ", f.Since)
	}
	if !f.Until.IsZero() {
		w.add("time < ", f.Until)
	}
	query := `SELECT id, time, actor, action, target, "before"::text, "after"::text, remote_addr FROM audit_events` +
		w.clause() + ` ORDER BY id DESC`
	args := w.args
	if f.Limit > 0 {
		query += ` LIMIT ` + w.next(1)
		args = append(args, f.Limit)
	}
	var out []store.AuditEvent
	err := s.retryRead(ctx, func() error {
		out = nil
		rows, err := s.pool.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e             store.AuditEvent
				before, after *string
			)
			if err := rows.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.Target, &before, &after, &e.RemoteAddr); err != nil {
				return err
			}
			e.Time = e.Time.UTC()
			if before != nil {
				e.Before = json.RawMessage(*before)
			}
			if after != nil {
				e.After = json.RawMessage(*after)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list audit events: %w", err)
	}
	return out, nil
}
