package asset

import "time"

// Fleet states: where an asset stands, as the web UI's overview, the
// daily digest and the ottr_asset_status metric count it. An asset is in
// exactly one, the first that applies in this order.
const (
	// StatePaused: the scheduler leaves it alone.
	StatePaused = "paused"
	// StateUnrouted: no route takes it, so it is never rotated.
	StateUnrouted = "unrouted"
	// StateRotating: a rotation of it is pending or running.
	StateRotating = "rotating"
	// StateFailing: its last rotation failed.
	StateFailing = "failing"
	// StateDue: its renewal time has come, or its expiry or renewal time
	// is unknown (RenewalTime is nil until it is computed).
	StateDue = "due"
	// StateOK: nothing to do before its renewal time.
	StateOK = "ok"
)

// States returns every fleet state in the order they are shown: the
// healthy first, then what needs a look (the reverse of the order they
// are decided in). The slice is the caller's to keep or change.
func States() []string {
	return []string{StateOK, StateDue, StateRotating, StateFailing, StatePaused, StateUnrouted}
}

// StateInput is what an asset's fleet state is decided from: the fields
// of its record that matter, and what the record does not hold. Times are
// in Unix seconds, as the store keeps them and the web UI's index holds
// them: the UI decides the state of every asset on each request, and
// comparing time.Time values there took several times as long.
type StateInput struct {
	Paused bool
	// Routed: a route of the routing table in effect takes the asset.
	Routed bool
	// Rotating: a rotation of the asset is pending or running. A caller
	// that does not look (the metrics) leaves it false, and the asset
	// counts as failing or due while it rotates.
	Rotating     bool
	FailureCount int
	// ExpiresAt and RenewsAt are the record's CertificateExpiration and
	// RenewalTime, 0 when unknown.
	ExpiresAt, RenewsAt int64
	Now                 int64
}

// DecideState returns the first fleet state that applies.
func DecideState(in StateInput) string {
	switch {
	case in.Paused:
		return StatePaused
	case !in.Routed:
		return StateUnrouted
	case in.Rotating:
		return StateRotating
	case in.FailureCount > 0:
		return StateFailing
	case in.ExpiresAt == 0 || in.RenewsAt == 0 || in.RenewsAt <= in.Now:
		return StateDue
	}
	return StateOK
}

// State returns a's fleet state at now: routed says whether a route
// takes it, rotating whether a rotation of it is pending or running.
func (a *Asset) State(routed, rotating bool, now time.Time) string {
	in := StateInput{Paused: a.Paused, Routed: routed, Rotating: rotating, FailureCount: a.FailureCount, Now: now.Unix()}
	if a.CertificateExpiration != nil {
		in.ExpiresAt = a.CertificateExpiration.Unix()
	}
	if a.RenewalTime != nil {
		in.RenewsAt = a.RenewalTime.Unix()
	}
	return DecideState(in)
}
