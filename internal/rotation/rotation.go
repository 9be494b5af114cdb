// Package rotation runs one certificate rotation as a state machine:
// preflight → csr → issue → install → verify → record. Every finished step is
// journaled in the store with what it produced, so a rotation interrupted by a
// crash resumes after its last finished step — and never orders a second
// certificate while the one it already has still has the CA's minimum
// lifetime left.
package rotation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/devicelock"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/issuer"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
	"github.com/ottr-go/ottr/internal/verify"
)

// Router finds the route an asset takes. *route.Table implements it.
type Router interface {
	Match(a asset.Asset) (route.Route, int, bool)
}

// CAProfile is what a rotation needs of one certificate authority profile.
type CAProfile struct {
	Name   string
	Issuer issuer.Issuer
	// Roots are what an issued chain must verify to.
	Roots *x509.CertPool
	// ExpectedIssuers are accepted leaf issuer names; empty accepts any.
	ExpectedIssuers []string
	// MinLifetime is the least lifetime a fresh certificate may have. A
	// resumed rotation installs a chain it journaled before only while
	// the chain is valid for at least this long from then.
	MinLifetime time.Duration
	// KeyType is the key devices generate when the asset does not say.
	KeyType string
	// KeyTypes, when set, are the only key types the CA's assets may use.
	KeyTypes []string
	// Profile is the ACME profile to order.
	Profile string
}

// Allows reports whether the CA's key-type policy allows keyType.
func (p *CAProfile) Allows(keyType string) bool {
	return len(p.KeyTypes) == 0 || slices.Contains(p.KeyTypes, keyType)
}

// Deps are a Runner's collaborators. Store, Drivers, Routes, CAs and
// Credentials are required.
type Deps struct {
	Store   store.Store
	Drivers *driver.Registry
	Routes  Router
	// CAs returns the profile an asset's certificate_authority names; it
	// may wait, until ctx ends, for the CA to register the account.
	CAs func(ctx context.Context, name string) (*CAProfile, error)
	// Credentials returns the device login for an asset on a route.
	Credentials func(a asset.Asset, r route.Route) (driver.Credentials, error)
	// ResolveSecret returns the secret a reference in a route's secret
	// option names (env:NAME, file:/path). The rotation calls it as it
	// opens the device session, so secrets are read where and when they
	// are used, a changed one from the next rotation on. Routes whose
	// driver declares secret options fail to open without it.
	ResolveSecret func(ref string) (string, error)
	// CheckDelegation checks the _acme-challenge CNAMEs of names; nil skips
	// the check. Its error names the missing record.
	CheckDelegation func(ctx context.Context, names []string) error
	// Verify checks what the device serves; nil means verify.Check.
	Verify func(ctx context.Context, e verify.Expectation) (verify.Result, error)
	// Policy gives the backoff after failures and the next renewal time.
	Policy policy.Settings
	// VerifyAttempts is how many times verify looks before it gives up on a
	// device still serving the old certificate (servers reload
	// asynchronously). Default 5.
	VerifyAttempts int
	// VerifyInterval is the first pause between those looks; it doubles.
	// Default 250ms.
	VerifyInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Observer, if set, is told as each step starts and ends.
	Observer func(Event)
	// RateLimited, if set, is told when a CA refuses an order because a
	// rate limit was reached, with the time to hold that CA's orders back
	// until: the CA's Retry-After, or the asset's backoff when it gave
	// none. The scheduler's rate-limit budget listens, so it stops
	// booking orders the CA would refuse.
	RateLimited func(ca string, until time.Time)
	// HeldUntil, if set, returns when orders to ca stop being held back
	// (the zero time when they are not): the issue step places no order
	// to a CA before then, and fails with a *HeldBackError instead.
	HeldUntil func(ca string) time.Time
	// Devices takes each device in turns: a rotation's install, verify
	// and rollback run in the device's turn (package devicelock). Nil: a
	// Locker of this process only; processes sharing a store pass one
	// with the store's Backend.
	Devices *devicelock.Locker
	// Ended, if set, is told how each rotation ended once its final
	// state is recorded: what notifications are decided from. The
	// rotation's outcome is settled by then, so whatever Ended does
	// cannot change or fail it; it runs in the rotation's job and should
	// bound its own time.
	Ended func(ctx context.Context, e Ending)
}

// Ending is how a rotation ended, with what its steps saw of the device.
type Ending struct {
	// Rotation is the rotation in its final state.
	Rotation store.Rotation
	// Before is the asset as the rotation found it; After as it left it:
	// the new certificate recorded, or the failure counted.
	Before, After asset.Asset
	// Step is the step that failed; empty on success.
	Step Step
	// Err is why the rotation failed or was rolled back; nil on success.
	// It may hold what a device said, secrets included: redact it before
	// showing it to anyone.
	Err error
	// ServedBefore is the serial the device served when preflight read
	// its certificate; empty when preflight did not read one.
	ServedBefore string
	// ServedAtVerify is the serial the device served when verify found it
	// serving another certificate than the issued one; empty otherwise.
	ServedAtVerify string
}

// Event reports progress of one rotation.
type Event struct {
	RotationID int64
	Asset      string
	Step       Step
	// Phase is PhaseStart, PhaseDone, PhaseSkip or PhaseFail for a step,
	// and PhaseEnd once the rotation's final State is recorded.
	Phase    Phase
	Duration time.Duration
	Err      error
	// State is the final state, for PhaseEnd.
	State store.State
}

// Runner executes rotations. It is safe for concurrent use.
type Runner struct {
	d Deps
}

// NewRunner returns a Runner, checking that the required dependencies are set.
func NewRunner(d Deps) (*Runner, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("rotation: a store is required")
	case d.Drivers == nil:
		return nil, errors.New("rotation: a driver registry is required")
	case d.Routes == nil:
		return nil, errors.New("rotation: a routing table is required")
	case d.CAs == nil:
		return nil, errors.New("rotation: CA profiles are required")
	case d.Credentials == nil:
		return nil, errors.New("rotation: a credentials source is required")
	}
	if d.Verify == nil {
		d.Verify = verify.Check
	}
	if d.VerifyAttempts <= 0 {
		d.VerifyAttempts = 5
	}
	if d.VerifyInterval <= 0 {
		d.VerifyInterval = 250 * time.Millisecond
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Devices == nil {
		d.Devices = devicelock.New(nil)
	}
	return &Runner{d: d}, nil
}

// ErrNoRoute: no route matches the asset.
var ErrNoRoute = errors.New("no route matches")

// Enqueue queues the job of a rotation being created, inside tx — the
// store's transaction that creates the rotation (a *sql.Tx on SQLite, a
// pgx.Tx on PostgreSQL) — so the rotation and its job are committed
// together or not at all. queue.Queue.EnqueueFunc makes one.
type Enqueue func(ctx context.Context, tx any, rot store.Rotation) error

// Create records a new pending rotation for the asset and, through
// enqueue, its job, in one transaction: no crash can leave the rotation
// pending with nothing to run it (and the asset blocked from rotating
// again). A nil enqueue creates the rotation alone, for callers that run it
// themselves at once. It fails with store.ErrConflict when one is already
// pending or running, and with an error wrapping ErrNoRoute when no route
// would take the asset — Ottr answered 204 to a rotation that could never
// run.
func (r *Runner) Create(ctx context.Context, systemName string, trigger store.Trigger, force bool, enqueue Enqueue) (store.Rotation, error) {
	a, err := r.d.Store.GetAsset(ctx, systemName)
	if err != nil {
		return store.Rotation{}, fmt.Errorf("rotation: %w", err)
	}
	if _, _, ok := r.d.Routes.Match(a); !ok {
		return store.Rotation{}, fmt.Errorf("rotation: asset %s (platform %q, os_version %q, certificate_authority %q, model %q): %w",
			a.SystemName, a.HostPlatform, a.OSVersion, a.CertificateAuthority, a.DeviceModel, ErrNoRoute)
	}
	var then func(context.Context, any, store.Rotation) error
	if enqueue != nil {
		then = enqueue
	}
	rot, err := r.d.Store.CreateRotationWith(ctx, store.Rotation{
		Asset:   systemName,
		Trigger: trigger,
		Force:   force,
		State:   store.StatePending,
	}, then)
	if err != nil {
		return store.Rotation{}, fmt.Errorf("rotation: create for %s: %w", systemName, err)
	}
	return rot, nil
}

// Failure is the error Run returns when the rotation ran and failed (or was
// rolled back) and that outcome is recorded: retrying the job would not help,
// the scheduler's backoff decides when to try again.
type Failure struct {
	RotationID int64
	Step       Step
	State      store.State
	Err        error
}

func (f *Failure) Error() string {
	return fmt.Sprintf("rotation %d %s at %s: %v", f.RotationID, f.State, f.Step, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }
