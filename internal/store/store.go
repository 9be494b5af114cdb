// Package store defines where ottr keeps its state — assets, rotations with
// their step journal and log, encrypted secrets, API users and the audit
// trail — and the contract every implementation must keep. The storetest
// package checks that contract; the sqlite package implements it for the
// embedded deployment.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// Sentinel errors callers branch on. Implementations wrap them with %w.
var (
	// ErrNotFound: no record with that key.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with that key exists already.
	ErrExists = errors.New("already exists")
	// ErrConflict: the change lost a race (for example a second active
	// rotation for one asset).
	ErrConflict = errors.New("conflict")
)

// Store is ottr's persistent state. Every method is safe for concurrent use.
// Times are stored with at least second precision — journal, log and audit
// times with at least millisecond precision, since steps take milliseconds —
// and returned in UTC. AppendJournal and AppendLog return ErrNotFound for a
// rotation that does not exist.
type Store interface {
	Users
	Audit
	Notifications

	// CreateAsset inserts a; ErrExists if its system_name is taken.
	CreateAsset(ctx context.Context, a asset.Asset) error
	// UpdateAsset replaces the asset with a's system_name; ErrNotFound if absent.
	UpdateAsset(ctx context.Context, a asset.Asset) error
	// GetAsset returns one asset; ErrNotFound if absent.
	GetAsset(ctx context.Context, systemName string) (asset.Asset, error)
	// DeleteAsset removes one asset and its rotations; ErrNotFound if absent.
	DeleteAsset(ctx context.Context, systemName string) error
	// ListAssets returns the assets matching f, ordered by system_name.
	ListAssets(ctx context.Context, f AssetFilter) ([]asset.Asset, error)
	// CountAssets returns how many assets match f, ignoring its Limit and After.
	CountAssets(ctx context.Context, f AssetFilter) (int, error)
	// DueAssets returns up to limit assets, earliest RenewalTime first, that
	// are not paused, whose NextAttemptAt is nil or <= now, and whose
	// RenewalTime is nil or <= now. It must use an index, not a full scan:
	// the scheduler calls it every few minutes over the whole inventory.
	DueAssets(ctx context.Context, now time.Time, limit int) ([]asset.Asset, error)
	// AssetsToRecheck returns up to limit assets, earliest RenewalCheckAt
	// first (unset first of all, then by system_name), that are not paused,
	// have a RenewalCertID, and whose RenewalCheckAt is nil or <= now: the
	// certificates whose renewal window (ACME ARI) the CA should be asked
	// about again. Like DueAssets, it must use an index, not a full scan.
	AssetsToRecheck(ctx context.Context, now time.Time, limit int) ([]asset.Asset, error)
	// DataCenters returns the distinct data_center values of the
	// inventory, sorted; "" stands for the assets without one.
	DataCenters(ctx context.Context) ([]string, error)
	// ImportAssets inserts or replaces every asset in one transaction:
	// either all are written or none.
	ImportAssets(ctx context.Context, assets []asset.Asset) error

	// CreateRotation inserts r and returns it with ID, CreatedAt and
	// UpdatedAt set. ErrConflict if the asset already has an active
	// (pending or running) rotation; ErrNotFound if the asset is absent.
	CreateRotation(ctx context.Context, r Rotation) (Rotation, error)
	// CreateRotationWith inserts r as CreateRotation does and, in the same
	// transaction, calls then with the rotation and the transaction — a
	// *sql.Tx on SQLite, a pgx.Tx on PostgreSQL — so what then writes
	// (the rotation's job) is committed with the rotation or not at all.
	// When then fails nothing is written and its error is returned.
	CreateRotationWith(ctx context.Context, r Rotation, then func(ctx context.Context, tx any, r Rotation) error) (Rotation, error)
	// GetRotation returns one rotation with its journal and log.
	GetRotation(ctx context.Context, id int64) (Rotation, error)
	// ActiveRotation returns the asset's pending or running rotation, or
	// ErrNotFound.
	ActiveRotation(ctx context.Context, systemName string) (Rotation, error)
	// ListRotations returns rotations matching f, newest first, without their
	// log lines (the journal is included).
	ListRotations(ctx context.Context, f RotationFilter) ([]Rotation, error)
	// UpdateRotationState sets state, attempts, error and, for a final state,
	// FinishedAt.
	UpdateRotationState(ctx context.Context, id int64, u StateUpdate) error
	// AppendJournal records one finished step. Steps are unique per rotation:
	// writing a step twice replaces the earlier entry.
	AppendJournal(ctx context.Context, id int64, e JournalEntry) error
	// AppendLog adds lines to the rotation's captured log. An
	// implementation may commit them without waiting for the disk: the
	// last lines written before a crash of the database server itself may
	// be lost, never a journal entry.
	AppendLog(ctx context.Context, id int64, lines ...LogLine) error

	// PutSecret stores an opaque (already encrypted) value under name.
	PutSecret(ctx context.Context, name string, value []byte) error
	// CreateSecret stores value under name only if nothing is stored there
	// yet, and returns ErrExists otherwise: two processes that both found
	// no value (say, no ACME account) agree on the first one written.
	CreateSecret(ctx context.Context, name string, value []byte) error
	// GetSecret returns the value stored under name, or ErrNotFound.
	GetSecret(ctx context.Context, name string) ([]byte, error)
	// SecretNames returns the name of every stored secret, in byte order.
	SecretNames(ctx context.Context) ([]string, error)
	// ResealSecrets replaces every stored secret's value by what reseal
	// returns for it, in one transaction, and returns how many it
	// replaced. If reseal fails for any value, nothing is replaced and its
	// error is returned. No other write to the secrets lands between the
	// read of a value and its replacement. reseal must not use the store:
	// it runs inside the transaction.
	ResealSecrets(ctx context.Context, reseal func(name string, value []byte) ([]byte, error)) (int, error)

	// Close releases the store's resources.
	Close() error
}

// AssetFilter selects assets. Zero fields do not filter.
type AssetFilter struct {
	SystemName   string
	IPAddress    string
	DataCenter   string
	HostPlatform string
	Origin       string
	// ExpiresBefore keeps assets whose certificate_expiration is before it
	// (unknown expiries are included: they are the most urgent).
	ExpiresBefore *time.Time
	// After is a keyset cursor: only system_names greater than it.
	After string
	// Limit caps the result; 0 means no limit.
	Limit int
}

// State is where a rotation is in its life: pending, then running, then
// one of the final states.
type State string

// Rotation states.
const (
	StatePending    State = "pending"
	StateRunning    State = "running"
	StateSucceeded  State = "succeeded"
	StateFailed     State = "failed"
	StateRolledBack State = "rolled_back"
)

// Final reports whether state ends a rotation.
func Final(state State) bool {
	return state == StateSucceeded || state == StateFailed || state == StateRolledBack
}

// Trigger is what started a rotation.
type Trigger string

// Rotation triggers.
const (
	TriggerSchedule Trigger = "schedule"
	TriggerManual   Trigger = "manual"
	TriggerAPI      Trigger = "api"
)

// Rotation is one attempt to replace an asset's certificate.
type Rotation struct {
	ID         int64          `json:"id"`
	Asset      string         `json:"asset"`
	Trigger    Trigger        `json:"trigger"`
	Force      bool           `json:"force"`
	State      State          `json:"state"`
	Attempts   int            `json:"attempts"`
	Error      string         `json:"error,omitempty"`
	Journal    []JournalEntry `json:"journal"`
	Log        []LogLine      `json:"log,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
}

// Step returns the journal entry of the named step, if it finished.
func (r *Rotation) Step(name string) (JournalEntry, bool) {
	for _, e := range r.Journal {
		if e.Step == name {
			return e, true
		}
	}
	return JournalEntry{}, false
}

// JournalEntry records one finished step and what it produced, so a resumed
// rotation can continue after it without doing it again.
type JournalEntry struct {
	Step       string          `json:"step"`
	Output     json.RawMessage `json:"output,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
}

// LogLine is one line of a rotation's captured log.
type LogLine struct {
	Time    time.Time `json:"time"`
	Level   string    `json:"level"`
	Step    string    `json:"step,omitempty"`
	Message string    `json:"message"`
}

// StateUpdate changes a rotation's state.
type StateUpdate struct {
	State    State
	Attempts int
	Error    string
}

// RotationFilter selects rotations. Zero fields do not filter.
type RotationFilter struct {
	Asset string
	State State
	Limit int
}
