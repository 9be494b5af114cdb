package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/store"
)

const rotationColumns = `id, asset, "trigger", force, state, attempts, error, created_at, updated_at, finished_at`

func scanRotation(row pgx.Row) (store.Rotation, error) {
	var r store.Rotation
	if err := row.Scan(&r.ID, &r.Asset, &r.Trigger, &r.Force, &r.State, &r.Attempts, &r.Error,
		&r.CreatedAt, &r.UpdatedAt, &r.FinishedAt); err != nil {
		return store.Rotation{}, err
	}
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC(), utcPtr(r.FinishedAt)
	r.Journal = []store.JournalEntry{}
	return r, nil
}

// CreateRotation inserts r and returns it with ID, CreatedAt and UpdatedAt
// set. An empty State means pending; r.Journal and r.Log are not written.
// store.ErrConflict if the asset already has an active rotation,
// store.ErrNotFound if the asset is absent.
func (s *Store) CreateRotation(ctx context.Context, r store.Rotation) (store.Rotation, error) {
	return s.CreateRotationWith(ctx, r, nil)
}

// CreateRotationWith inserts r as CreateRotation does and calls then, if
// not nil, in the same transaction with the pgx.Tx: River's riverpgxv5
// driver inserts the rotation's job through it, so the two are committed
// together.
func (s *Store) CreateRotationWith(ctx context.Context, r store.Rotation, then func(ctx context.Context, tx any, r store.Rotation) error) (store.Rotation, error) {
	if r.State == "" {
		r.State = store.StatePending
	}
	now := s.nowSecond()
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = now, now, nil
	if store.Final(r.State) {
		r.FinishedAt = &now
	}
	r.Journal, r.Log = []store.JournalEntry{}, nil

	var thenErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO rotations
			(asset, "trigger", force, state, attempts, error, created_at, updated_at, finished_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id`,
			r.Asset, r.Trigger, r.Force, r.State, r.Attempts, r.Error, now, r.FinishedAt).Scan(&r.ID)
		if err != nil || then == nil {
			return err
		}
		thenErr = then(ctx, tx, r)
		return thenErr
	})
	switch {
	case err == nil:
		return r, nil
	case thenErr != nil:
		return store.Rotation{}, thenErr
	case isUniqueViolation(err, "rotations_one_active_per_asset"):
		return store.Rotation{}, fmt.Errorf("postgres: create rotation for asset %q: active rotation exists: %w", r.Asset, store.ErrConflict)
	case isForeignKeyViolation(err):
		return store.Rotation{}, fmt.Errorf("postgres: create rotation for asset %q: asset %w", r.Asset, store.ErrNotFound)
	}
	return store.Rotation{}, fmt.Errorf("postgres: create rotation for asset %q: %w", r.Asset, err)
}

// GetRotation returns one rotation with its journal and log;
// store.ErrNotFound if absent.
func (s *Store) GetRotation(ctx context.Context, id int64) (store.Rotation, error) {
	var r store.Rotation
	err := s.inReadTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = loadRotation(ctx, tx, `SELECT `+rotationColumns+` FROM rotations WHERE id = $1`, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Rotation{}, fmt.Errorf("postgres: get rotation %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Rotation{}, fmt.Errorf("postgres: get rotation %d: %w", id, err)
	}
	return r, nil
}

// ActiveRotation returns the asset's pending or running rotation with its
// journal and log, or store.ErrNotFound.
func (s *Store) ActiveRotation(ctx context.Context, systemName string) (store.Rotation, error) {
	var r store.Rotation
	err := s.inReadTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = loadRotation(ctx, tx, `SELECT `+rotationColumns+` FROM rotations
			WHERE asset = $1 AND state IN ('pending', 'running')`, systemName)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Rotation{}, fmt.Errorf("postgres: active rotation of asset %q: %w", systemName, store.ErrNotFound)
	}
	if err != nil {
		return store.Rotation{}, fmt.Errorf("postgres: active rotation of asset %q: %w", systemName, err)
	}
	return r, nil
}

// loadRotation reads the one rotation query selects, then its journal and
// log; pgx.ErrNoRows if there is none.
func loadRotation(ctx context.Context, tx pgx.Tx, query string, args ...any) (store.Rotation, error) {
	r, err := scanRotation(tx.QueryRow(ctx, query, args...))
	if err != nil {
		return store.Rotation{}, err
	}
	journals, err := loadJournals(ctx, tx, []int64{r.ID})
	if err != nil {
		return store.Rotation{}, err
	}
	if j := journals[r.ID]; j != nil {
		r.Journal = j
	}
	r.Log, err = loadLog(ctx, tx, r.ID)
	if err != nil {
		return store.Rotation{}, err
	}
	return r, nil
}

// loadJournals reads the journals of the rotations ids, each in the order
// its steps were first written.
func loadJournals(ctx context.Context, tx pgx.Tx, ids []int64) (map[int64][]store.JournalEntry, error) {
	rows, err := tx.Query(ctx, `SELECT rotation_id, step, output, started_at, finished_at
		FROM rotation_journal WHERE rotation_id = ANY($1) ORDER BY rotation_id, id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64][]store.JournalEntry)
	for rows.Next() {
		var (
			id     int64
			e      store.JournalEntry
			output *string
		)
		if err := rows.Scan(&id, &e.Step, &output, &e.StartedAt, &e.FinishedAt); err != nil {
			return nil, err
		}
		if output != nil {
			e.Output = json.RawMessage(*output)
		}
		e.StartedAt, e.FinishedAt = e.StartedAt.UTC(), e.FinishedAt.UTC()
		out[id] = append(out[id], e)
	}
	return out, rows.Err()
}

func loadLog(ctx context.Context, tx pgx.Tx, id int64) ([]store.LogLine, error) {
	rows, err := tx.Query(ctx, `SELECT time, level, step, message
		FROM rotation_log WHERE rotation_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.LogLine
	for rows.Next() {
		var l store.LogLine
		if err := rows.Scan(&l.Time, &l.Level, &l.Step, &l.Message); err != nil {
			return nil, err
		}
		l.Time = l.Time.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// ListRotations returns rotations matching f, newest first, with their
// journals but without their log lines.
func (s *Store) ListRotations(ctx context.Context, f store.RotationFilter) ([]store.Rotation, error) {
	w := &where{}
	w.eq("asset", f.Asset)
	w.eq("state", string(f.State))
	// IDs only grow, so the newest rotation has the highest ID, and ties
	// in created_at (second precision) cannot reorder them.
	query := `SELECT ` + rotationColumns + ` FROM rotations` + w.clause() + ` ORDER BY id DESC`
	args := w.args
	if f.Limit > 0 {
		query += ` LIMIT ` + w.next(1)
		args = append(args, f.Limit)
	}

	var out []store.Rotation
	err := s.inReadTx(ctx, func(tx pgx.Tx) error {
		out = nil
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var ids []int64
		for rows.Next() {
			r, err := scanRotation(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
			ids = append(ids, r.ID)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		// One query for every listed rotation's journal, instead of one
		// query per rotation.
		journals, err := loadJournals(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i := range out {
			if j := journals[out[i].ID]; j != nil {
				out[i].Journal = j
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list rotations: %w", err)
	}
	return out, nil
}

// UpdateRotationState sets state, attempts and error, and sets FinishedAt
// for a final state (clearing it otherwise). store.ErrNotFound if the
// rotation is absent; store.ErrConflict if the rotation would become active
// while the asset has another active rotation.
func (s *Store) UpdateRotationState(ctx context.Context, id int64, u store.StateUpdate) error {
	now := s.nowSecond()
	var finishedAt *time.Time
	if store.Final(u.State) {
		finishedAt = &now
	}
	tag, err := s.pool.Exec(ctx, `UPDATE rotations
		SET state = $1, attempts = $2, error = $3, updated_at = $4, finished_at = $5
		WHERE id = $6`, u.State, u.Attempts, u.Error, now, finishedAt, id)
	if isUniqueViolation(err, "rotations_one_active_per_asset") {
		return fmt.Errorf("postgres: update rotation %d to %s: another active rotation: %w", id, u.State, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: update rotation %d to %s: %w", id, u.State, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: update rotation %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// AppendJournal records one finished step, its times to the millisecond;
// writing a step twice replaces the earlier entry in place.
// store.ErrNotFound if the rotation is absent.
func (s *Store) AppendJournal(ctx context.Context, id int64, e store.JournalEntry) error {
	var output *string
	if e.Output != nil {
		o := string(e.Output)
		output = &o
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO rotation_journal
		(rotation_id, step, output, started_at, finished_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (rotation_id, step) DO UPDATE SET
			output = excluded.output, started_at = excluded.started_at, finished_at = excluded.finished_at`,
		id, e.Step, output, toMilli(e.StartedAt), toMilli(e.FinishedAt))
	if isForeignKeyViolation(err) {
		return fmt.Errorf("postgres: append journal step %q of rotation %d: rotation %w", e.Step, id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: append journal step %q of rotation %d: %w", e.Step, id, err)
	}
	return nil
}

// appendLogSQL numbers the new lines after the rotation's last one, in the
// order given.
const appendLogSQL = `INSERT INTO rotation_log (rotation_id, seq, time, level, step, message)
	SELECT $1, last.seq + line.n, line.time, line.level, line.step, line.message
	FROM (SELECT coalesce(max(seq), 0) AS seq FROM rotation_log WHERE rotation_id = $1) AS last,
	     unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[])
	         WITH ORDINALITY AS line (time, level, step, message, n)`

// AppendLog adds lines, in order, after the rotation's earlier log lines,
// their times to the millisecond. store.ErrNotFound if the rotation is
// absent.
func (s *Store) AppendLog(ctx context.Context, id int64, lines ...store.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	times := make([]time.Time, len(lines))
	levels := make([]string, len(lines))
	steps := make([]string, len(lines))
	messages := make([]string, len(lines))
	for i, l := range lines {
		times[i], levels[i], steps[i], messages[i] = toMilli(l.Time), l.Level, l.Step, l.Message
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// A rotation's log is what it said, not what it did: losing its
		// last lines to a crash of the database server costs no work, so
		// the commit does not wait for the disk, and the writes that do
		// matter (the journal, the order a CA created) wait less.
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
			return err
		}
		// Appenders to one rotation take turns on its row, so no two read
		// the same last seq. The insert is a statement of its own: only
		// one that starts after the lock is taken sees the lines of the
		// appender before.
		var locked int64
		err := tx.QueryRow(ctx, `SELECT id FROM rotations WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&locked)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, appendLogSQL, id, times, levels, steps, messages)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("postgres: append log of rotation %d: rotation %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: append log of rotation %d: %w", id, err)
	}
	return nil
}
