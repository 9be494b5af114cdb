package store

import (
	"context"
	"errors"
	"slices"
)

// Notifications remembers which notifications were decided, so that each
// is told once in the whole cluster, whichever process sees its cause
// first: a key names the cause (the first failure of a streak, a
// certificate crossing an expiry threshold), and a claimed key is never
// claimed again.
type Notifications interface {
	// ClaimNotification records every key of keys, in one transaction,
	// if none of them is recorded yet, and reports whether it did. In
	// that transaction it calls then, if not nil, with the transaction —
	// a *sql.Tx on SQLite, a pgx.Tx on PostgreSQL — so what then writes
	// (the deliveries' jobs) is committed with the keys or not at all.
	// When any key is recorded already, nothing is written, then is not
	// called, and it returns false and no error. When then fails,
	// nothing is written and its error is returned. then must not use the
	// store: it runs inside the transaction, which on SQLite holds the
	// only write connection.
	ClaimNotification(ctx context.Context, keys []string, then func(ctx context.Context, tx any) error) (bool, error)
	// ClaimedNotifications returns the keys of keys that are recorded.
	ClaimedNotifications(ctx context.Context, keys []string) (map[string]bool, error)
}

// ClaimKeys returns keys sorted and without repeats, the order both
// implementations record them in: two processes claiming overlapping keys
// then take their row locks in one order and never deadlock. It fails for
// an empty list or an empty key.
func ClaimKeys(keys []string) ([]string, error) {
	if len(keys) == 0 {
		return nil, errors.New("no notification key to claim")
	}
	out := slices.Clone(keys)
	slices.Sort(out)
	out = slices.Compact(out)
	if out[0] == "" {
		return nil, errors.New("a notification key is empty")
	}
	return out, nil
}
