package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// jsonColumn returns the column value of an optional JSON document: NULL
// when absent, else its text as given, so what was written comes back byte
// for byte.
func jsonColumn(field string, doc json.RawMessage) (any, error) {
	if len(doc) == 0 {
		return nil, nil
	}
	if !json.Valid(doc) {
		return nil, fmt.Errorf("%s is not valid JSON", field)
	}
	return string(doc), nil
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
	e.Time = time.UnixMilli(e.Time.UnixMilli()).UTC()
	before, err := jsonColumn("before", e.Before)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("sqlite: append audit event %q on %q: %w", e.Action, e.Target, err)
	}
	after, err := jsonColumn("after", e.After)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("sqlite: append audit event %q on %q: %w", e.Action, e.Target, err)
	}
	err = s.db.QueryRowContext(ctx, `INSERT INTO audit_events
		(time, actor, action, target, "before", "after", remote_addr) VALUES (?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		e.Time.UnixMilli(), e.Actor, e.Action, e.Target, before, after, e.RemoteAddr).Scan(&e.ID)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("sqlite: append audit event %q on %q: %w", e.Action, e.Target, err)
	}
	return e, nil
}

// auditQuery returns the query and arguments that list f's events. With a
// filter, one of the (column, id) indexes serves both the filter and the
// newest-first order from the cursor down, without a sort.
func auditQuery(f store.AuditFilter) (string, []any) {
	var w where
	w.eq("target", f.Target)
	w.eq("actor", f.Actor)
	w.eq("action", f.Action)
	if f.BeforeID > 0 {
		w.add("id < ?", f.BeforeID)
	}
	if !f.Since.IsZero() {
		w.add("time >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		w.add("time < ?", f.Until.UnixMilli())
	}
	query := `SELECT id, time, actor, action, target, "before", "after", remote_addr FROM audit_events`
	if len(w.conds) > 0 {
		query += ` WHERE ` + strings.Join(w.conds, " AND ")
	}
	query += ` ORDER BY id DESC`
	args := w.args
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return query, args
}

// ListAudit returns events matching f, newest first. IDs only grow, so the
// newest event has the highest ID whatever the clocks said; BeforeID pages
// backwards from an earlier page's last ID.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEvent, error) {
	query, args := auditQuery(f)
	rows, err := s.read.QueryContext(readContext(ctx), query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit events: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var (
			e             store.AuditEvent
			ms            int64
			before, after sql.NullString
		)
		if err := rows.Scan(&e.ID, &ms, &e.Actor, &e.Action, &e.Target, &before, &after, &e.RemoteAddr); err != nil {
			return nil, fmt.Errorf("sqlite: list audit events: %w", err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		if before.Valid {
			e.Before = json.RawMessage(before.String)
		}
		if after.Valid {
			e.After = json.RawMessage(after.String)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit events: %w", err)
	}
	return out, nil
}
