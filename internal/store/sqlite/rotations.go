package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// rowsQuerier is what *sql.DB, *sql.Tx and preparedTx offer.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

const rotationColumns = `id, asset, "trigger", force, state, attempts, error, created_at, updated_at, finished_at`

// The queries a rotation runs again and again, kept prepared (statements).
const (
	insertRotationSQL = `INSERT INTO rotations
		(asset, "trigger", force, state, attempts, error, created_at, updated_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	rotationByIDSQL      = `SELECT ` + rotationColumns + ` FROM rotations WHERE id = ?`
	activeRotationSQL    = `SELECT ` + rotationColumns + ` FROM rotations WHERE asset = ? AND state IN ('pending', 'running')`
	journalOfRotationSQL = `SELECT rotation_id, step, output, started_at, finished_at
		FROM rotation_journal WHERE rotation_id = ? ORDER BY rowid`
	logOfRotationSQL = `SELECT time, level, step, message
		FROM rotation_log WHERE rotation_id = ? ORDER BY seq`
	updateRotationStateSQL = `UPDATE rotations
		SET state = ?, attempts = ?, error = ?, updated_at = ?, finished_at = ?
		WHERE id = ?`
	appendJournalSQL = `INSERT INTO rotation_journal
		(rotation_id, step, output, started_at, finished_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (rotation_id, step) DO UPDATE SET
			output = excluded.output, started_at = excluded.started_at, finished_at = excluded.finished_at`
	lastLogSeqSQL = `SELECT coalesce(max(seq), 0) FROM rotation_log WHERE rotation_id = ?`
	appendLogSQL  = `INSERT INTO rotation_log
		(rotation_id, seq, time, level, step, message) VALUES (?, ?, ?, ?, ?, ?)`
)

// readTxQueries and writeTxQueries are the queries that run inside
// transactions on the lookup and the read-write pool: Open prepares them.
var (
	readTxQueries  = []string{rotationByIDSQL, activeRotationSQL, journalOfRotationSQL, logOfRotationSQL}
	writeTxQueries = []string{insertRotationSQL, lastLogSeqSQL, appendLogSQL}
)

// preparedTx runs queries in tx through the prepared statements of its
// pool.
type preparedTx struct {
	tx    *sql.Tx
	stmts *statements
}

func (p preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := p.stmts.inTx(ctx, p.tx, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

func (p preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) scanner {
	stmt, err := p.stmts.inTx(ctx, p.tx, query)
	if err != nil {
		return errRow{err}
	}
	return stmt.QueryRowContext(ctx, args...)
}

func scanRotation(row scanner) (store.Rotation, error) {
	var (
		r                    store.Rotation
		force                int
		createdAt, updatedAt int64
		finishedAt           sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.Asset, &r.Trigger, &force, &r.State, &r.Attempts, &r.Error,
		&createdAt, &updatedAt, &finishedAt); err != nil {
		return store.Rotation{}, err
	}
	r.Force = force != 0
	r.CreatedAt = timeOf(createdAt)
	r.UpdatedAt = timeOf(updatedAt)
	r.FinishedAt = fromUnix(finishedAt)
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
// not nil, in the same transaction with the *sql.Tx: River's riversqlite
// driver inserts the rotation's job through it, so the two are committed
// together. With the default single read-write connection, then must not
// write through the store itself (see WithMaxOpenConns).
func (s *Store) CreateRotationWith(ctx context.Context, r store.Rotation, then func(ctx context.Context, tx any, r store.Rotation) error) (store.Rotation, error) {
	if r.State == "" {
		r.State = store.StatePending
	}
	now := s.nowSeconds()
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = now, now, nil
	if store.Final(r.State) {
		r.FinishedAt = &now
	}
	r.Journal, r.Log = []store.JournalEntry{}, nil

	var thenErr error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := preparedTx{tx, s.writes}.QueryRowContext(ctx, insertRotationSQL,
			r.Asset, r.Trigger, boolInt(r.Force), r.State, r.Attempts, r.Error,
			now.Unix(), now.Unix(), unixSeconds(r.FinishedAt)).Scan(&r.ID)
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
	case isUniqueViolation(err):
		return store.Rotation{}, fmt.Errorf("sqlite: create rotation for asset %q: active rotation exists: %w", r.Asset, store.ErrConflict)
	case isForeignKeyViolation(err):
		return store.Rotation{}, fmt.Errorf("sqlite: create rotation for asset %q: asset %w", r.Asset, store.ErrNotFound)
	}
	return store.Rotation{}, fmt.Errorf("sqlite: create rotation for asset %q: %w", r.Asset, err)
}

// GetRotation returns one rotation with its journal and log;
// store.ErrNotFound if absent.
func (s *Store) GetRotation(ctx context.Context, id int64) (store.Rotation, error) {
	ctx = readContext(ctx) // see readContext
	var r store.Rotation
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = loadRotation(ctx, preparedTx{tx, s.lookups}, rotationByIDSQL, id)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Rotation{}, fmt.Errorf("sqlite: get rotation %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Rotation{}, fmt.Errorf("sqlite: get rotation %d: %w", id, err)
	}
	return r, nil
}

// ActiveRotation returns the asset's pending or running rotation with its
// journal and log, or store.ErrNotFound.
func (s *Store) ActiveRotation(ctx context.Context, systemName string) (store.Rotation, error) {
	ctx = readContext(ctx) // see readContext
	var r store.Rotation
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = loadRotation(ctx, preparedTx{tx, s.lookups}, activeRotationSQL, systemName)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Rotation{}, fmt.Errorf("sqlite: active rotation of asset %q: %w", systemName, store.ErrNotFound)
	}
	if err != nil {
		return store.Rotation{}, fmt.Errorf("sqlite: active rotation of asset %q: %w", systemName, err)
	}
	return r, nil
}

// loadRotation reads the one rotation query selects, then its journal and
// log; sql.ErrNoRows if there is none.
func loadRotation(ctx context.Context, q preparedTx, query string, args ...any) (store.Rotation, error) {
	r, err := scanRotation(q.QueryRowContext(ctx, query, args...))
	if err != nil {
		return store.Rotation{}, err
	}
	journals, err := loadJournals(ctx, q, journalOfRotationSQL, r.ID)
	if err != nil {
		return store.Rotation{}, err
	}
	if j := journals[r.ID]; j != nil {
		r.Journal = j
	}
	r.Log, err = loadLog(ctx, q, r.ID)
	if err != nil {
		return store.Rotation{}, err
	}
	return r, nil
}

// loadJournals runs a query of journal rows in order and groups them by
// rotation.
func loadJournals(ctx context.Context, q rowsQuerier, query string, args ...any) (map[int64][]store.JournalEntry, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64][]store.JournalEntry)
	for rows.Next() {
		var (
			id                    int64
			e                     store.JournalEntry
			output                sql.NullString
			startedAt, finishedAt int64
		)
		if err := rows.Scan(&id, &e.Step, &output, &startedAt, &finishedAt); err != nil {
			return nil, err
		}
		if output.Valid {
			e.Output = json.RawMessage(output.String)
		}
		e.StartedAt, e.FinishedAt = time.UnixMilli(startedAt).UTC(), time.UnixMilli(finishedAt).UTC()
		out[id] = append(out[id], e)
	}
	return out, rows.Err()
}

func loadLog(ctx context.Context, q rowsQuerier, id int64) ([]store.LogLine, error) {
	rows, err := q.QueryContext(ctx, logOfRotationSQL, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.LogLine
	for rows.Next() {
		var (
			l   store.LogLine
			sec int64
		)
		if err := rows.Scan(&sec, &l.Level, &l.Step, &l.Message); err != nil {
			return nil, err
		}
		l.Time = time.UnixMilli(sec).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// ListRotations returns rotations matching f, newest first, with their
// journals but without their log lines.
func (s *Store) ListRotations(ctx context.Context, f store.RotationFilter) ([]store.Rotation, error) {
	ctx = readContext(ctx) // see readContext
	var conds []string
	var args []any
	if f.Asset != "" {
		conds = append(conds, "asset = ?")
		args = append(args, f.Asset)
	}
	if f.State != "" {
		conds = append(conds, "state = ?")
		args = append(args, f.State)
	}
	selection := `FROM rotations`
	if len(conds) > 0 {
		selection += ` WHERE ` + strings.Join(conds, " AND ")
	}
	// IDs only grow, so the newest rotation has the highest ID, and ties
	// in created_at (second precision) cannot reorder them.
	selection += ` ORDER BY id DESC`
	if f.Limit > 0 {
		selection += ` LIMIT ?`
		args = append(args, f.Limit)
	}

	var out []store.Rotation
	err := s.inReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+rotationColumns+` `+selection, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRotation(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if len(out) == 0 {
			return nil
		}
		// One query for every listed rotation's journal, selected by the
		// same filter, instead of one query per rotation.
		journals, err := loadJournals(ctx, tx, `SELECT rotation_id, step, output, started_at, finished_at
			FROM rotation_journal WHERE rotation_id IN (SELECT id `+selection+`) ORDER BY rowid`, args...)
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
		return nil, fmt.Errorf("sqlite: list rotations: %w", err)
	}
	return out, nil
}

// UpdateRotationState sets state, attempts and error, and sets FinishedAt
// for a final state (clearing it otherwise). store.ErrNotFound if the
// rotation is absent; store.ErrConflict if the rotation would become active
// while the asset has another active rotation.
func (s *Store) UpdateRotationState(ctx context.Context, id int64, u store.StateUpdate) error {
	now := s.nowSeconds()
	var finishedAt any
	if store.Final(u.State) {
		finishedAt = now.Unix()
	}
	res, err := s.writes.ExecContext(ctx, updateRotationStateSQL, u.State, u.Attempts, u.Error, now.Unix(), finishedAt, id)
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: update rotation %d to %s: another active rotation: %w", id, u.State, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: update rotation %d to %s: %w", id, u.State, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: update rotation %d to %s: %w", id, u.State, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: update rotation %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// AppendJournal records one finished step; writing a step twice replaces the
// earlier entry in place. store.ErrNotFound if the rotation is absent.
func (s *Store) AppendJournal(ctx context.Context, id int64, e store.JournalEntry) error {
	var output any
	if e.Output != nil {
		output = string(e.Output)
	}
	_, err := s.writes.ExecContext(ctx, appendJournalSQL, id, e.Step, output, e.StartedAt.UnixMilli(), e.FinishedAt.UnixMilli())
	if isForeignKeyViolation(err) {
		return fmt.Errorf("sqlite: append journal step %q of rotation %d: rotation %w", e.Step, id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: append journal step %q of rotation %d: %w", e.Step, id, err)
	}
	return nil
}

// AppendLog adds lines, in order, after the rotation's earlier log lines.
// store.ErrNotFound if the rotation is absent.
func (s *Store) AppendLog(ctx context.Context, id int64, lines ...store.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	// The transaction holds the write lock from BEGIN, so no other writer
	// can take the same seq between the max() and the inserts.
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := (preparedTx{tx, s.writes}).QueryRowContext(ctx, lastLogSeqSQL, id).Scan(&last); err != nil {
			return err
		}
		stmt, err := s.writes.inTx(ctx, tx, appendLogSQL)
		if err != nil {
			return err
		}
		for i, l := range lines {
			if _, err := stmt.ExecContext(ctx, id, last+int64(i)+1, l.Time.UnixMilli(), l.Level, l.Step, l.Message); err != nil {
				return err
			}
		}
		return nil
	})
	if isForeignKeyViolation(err) {
		return fmt.Errorf("sqlite: append log of rotation %d: rotation %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: append log of rotation %d: %w", id, err)
	}
	return nil
}
