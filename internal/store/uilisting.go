package store

import (
	"context"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
)

// Fleet states: where an asset stands, as the web UI and the daily digest
// count it. An asset is in exactly one, the first that applies in the
// order of FleetStates.
const (
	// FleetPaused: the scheduler leaves it alone.
	FleetPaused = "paused"
	// FleetUnrouted: no route takes it, so it is never rotated.
	FleetUnrouted = "unrouted"
	// FleetRotating: it has a pending or running rotation.
	FleetRotating = "rotating"
	// FleetFailing: its last rotation failed.
	FleetFailing = "failing"
	// FleetDue: its renewal time has come, or its expiry is unknown.
	FleetDue = "due"
	// FleetOK: nothing to do before its renewal time.
	FleetOK = "ok"
)

// FleetStates lists the fleet states in the order they are decided.
var FleetStates = []string{FleetPaused, FleetUnrouted, FleetRotating, FleetFailing, FleetDue, FleetOK}

// AssetQuery selects, sorts and pages the assets of a table. Zero fields
// do not filter.
type AssetQuery struct {
	// SystemName keeps the one asset of that name.
	SystemName string
	// NameContains keeps assets whose system_name contains it, ignoring
	// ASCII case.
	NameContains         string
	DataCenter           string
	HostPlatform         string
	CertificateAuthority string
	// Labels keeps assets carrying each of these labels with its value.
	Labels map[string]string
	// ExpiresBefore keeps assets whose certificate expires before it, or
	// whose expiry is unknown (as AssetFilter's).
	ExpiresBefore *time.Time
	// State keeps the assets in one of FleetStates.
	State string

	// Sort is one of AssetSorts; "" sorts by name. Ties go by name.
	Sort string
	// Descending reverses the sort.
	Descending bool
	// Offset skips that many matches; Limit caps the page (0: no cap).
	Offset, Limit int

	// Now decides which renewal times have come.
	Now time.Time
	// Unrouted are the RouteKeys no route takes: their assets are
	// unrouted.
	Unrouted []string
}

// AssetSorts are the orders an AssetQuery may ask for.
var AssetSorts = []string{"name", "expiry", "renewal", "data_center", "platform", "ca", "state"}

// AssetRow is one asset of a table and its fleet state.
type AssetRow struct {
	Asset asset.Asset
	State string
}

// ExpiryBucket counts the assets whose certificate expires before Before
// (and not in an earlier bucket); the last bucket of a histogram has a
// zero Before and counts the later ones.
type ExpiryBucket struct {
	Before time.Time
	Count  int
}

// AssetTable answers the web UI's questions over the whole inventory
// without reading every asset into memory.
type AssetTable interface {
	// QueryAssets returns the page of assets q selects, in q's order, and
	// how many match in all.
	QueryAssets(ctx context.Context, q AssetQuery) ([]AssetRow, int, error)
	// CountFleetStates counts the assets q selects (ignoring its State,
	// order and paging) by fleet state.
	CountFleetStates(ctx context.Context, q AssetQuery) (map[string]int, error)
	// CountExpiries counts the assets with a known expiry into buckets
	// split at bounds (ascending): before bounds[0], then before each
	// next bound, then the rest; and returns the count of unknown
	// expiries apart.
	CountExpiries(ctx context.Context, bounds []time.Time) (buckets []ExpiryBucket, unknown int, err error)
	// RouteKeys returns the distinct RouteKey of the inventory's assets,
	// each with one asset carrying it, so a caller can ask the routing
	// table once per key rather than once per asset.
	RouteKeys(ctx context.Context) (map[string]asset.Asset, error)
}

// RouteKey joins the fields a route matches on (platform, OS version,
// CA, model, data center) into one string, as the stores build it in SQL.
func RouteKey(a asset.Asset) string {
	return strings.Join([]string{a.HostPlatform, a.OSVersion, a.CertificateAuthority, a.DeviceModel, a.DataCenter}, "\x1f")
}
