package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/store"
)

// errClaimedBefore rolls back a claim one of whose keys is recorded.
var errClaimedBefore = errors.New("notification claimed before")

// ClaimNotification records every key, if none is recorded yet, and calls
// then with the *sql.Tx that records them; see store.Notifications. With
// the default single read-write connection, then must not write through
// the store (see WithMaxOpenConns).
func (s *Store) ClaimNotification(ctx context.Context, keys []string, then func(ctx context.Context, tx any) error) (bool, error) {
	keys, err := store.ClaimKeys(keys)
	if err != nil {
		return false, fmt.Errorf("sqlite: claim notification: %w", err)
	}
	now := s.now().Unix()
	var thenErr error
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for _, key := range keys {
			res, err := tx.ExecContext(ctx, `INSERT INTO notifications (key, claimed_at) VALUES (?, ?)
				ON CONFLICT (key) DO NOTHING`, key, now)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return cmp.Or(err, errClaimedBefore)
			}
		}
		if then == nil {
			return nil
		}
		thenErr = then(ctx, tx)
		return thenErr
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errClaimedBefore):
		return false, nil
	case thenErr != nil:
		return false, thenErr
	}
	return false, fmt.Errorf("sqlite: claim notification %s: %w", keys[0], err)
}

// claimedPage bounds the keys of one query, well under SQLite's limit on
// a statement's parameters.
const claimedPage = 500

// ClaimedNotifications returns the keys of keys that are recorded.
func (s *Store) ClaimedNotifications(ctx context.Context, keys []string) (map[string]bool, error) {
	ctx = readContext(ctx) // see readContext
	claimed := map[string]bool{}
	for start := 0; start < len(keys); start += claimedPage {
		page := keys[start:min(start+claimedPage, len(keys))]
		args := make([]any, len(page))
		for i, k := range page {
			args[i] = k
		}
		query := `SELECT key FROM notifications WHERE key IN (?` + strings.Repeat(", ?", len(page)-1) + `)`
		rows, err := s.read.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claimed notifications: %w", err)
		}
		for rows.Next() {
			var key string
			if err := rows.Scan(&key); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: claimed notifications: %w", err)
			}
			claimed[key] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: claimed notifications: %w", err)
		}
	}
	return claimed, nil
}
