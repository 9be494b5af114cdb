package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ottr-go/ottr/internal/store"
)

// errClaimedBefore rolls back a claim one of whose keys is recorded.
var errClaimedBefore = errors.New("notification claimed before")

// ClaimNotification records every key, if none is recorded yet, and calls
// then with the pgx.Tx that records them; see store.Notifications. A
// process claiming a key another has claimed but not yet committed waits
// for that transaction, and records the key only if it rolled back.
func (s *Store) ClaimNotification(ctx context.Context, keys []string, then func(ctx context.Context, tx any) error) (bool, error) {
	keys, err := store.ClaimKeys(keys)
	if err != nil {
		return false, fmt.Errorf("postgres: claim notification: %w", err)
	}
	now := s.nowSecond()
	var thenErr error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		for _, key := range keys {
			tag, err := tx.Exec(ctx, `INSERT INTO notifications (key, claimed_at) VALUES ($1, $2)
				ON CONFLICT (key) DO NOTHING`, key, now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errClaimedBefore
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
	return false, fmt.Errorf("postgres: claim notification %s: %w", keys[0], err)
}

// ClaimedNotifications returns the keys of keys that are recorded.
func (s *Store) ClaimedNotifications(ctx context.Context, keys []string) (map[string]bool, error) {
	claimed := map[string]bool{}
	if len(keys) == 0 {
		return claimed, nil
	}
	err := s.retryRead(ctx, func() error {
		clear(claimed)
		rows, err := s.pool.Query(ctx, `SELECT key FROM notifications WHERE key = ANY($1)`, keys)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, key := range found {
			claimed[key] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claimed notifications: %w", err)
	}
	return claimed, nil
}
