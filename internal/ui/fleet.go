package ui

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	routetable "github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/store"
)

// The overview and the assets table count, filter and sort the whole
// inventory on every request. In SQLite, any query that reads all of
// 100,000 assets costs 50 ms (an index alone) to 800 ms (rows, with the
// state decided in SQL), so the UI keeps the columns it filters and sorts
// on in memory instead: a fleet index of about 240 bytes an asset, read
// from the store on the first request and again, in the background, when
// a request finds it older than fleetMaxAge. The UI's own changes patch it
// at once; changes made elsewhere (the workers, the API, another node)
// show within fleetMaxAge. Whether an asset is rotating comes from the
// store on every request, and the rows of a page are read fresh from the
// store, so what a page lists is current even when the index is not.

// fleetMaxAge is how old the fleet index may be before a request starts
// reading it again.
const fleetMaxAge = 15 * time.Second

// fleetReadPage is how many assets one read of the store returns when the
// index is built.
const fleetReadPage = 2000

// fleetEntry is what the index keeps of one asset.
type fleetEntry struct {
	name, dataCenter, platform, ca string
	// lowerName is name in lower case, for the name filter.
	lowerName string
	labels    map[string]string
	// routeKey joins the fields a route matches on; route numbers it in
	// its snapshot.
	routeKey string
	route    int32
	// expiry and renewal are Unix seconds, 0 when unknown.
	expiry, renewal int64
	paused          bool
	failures        int
}

// newFleetEntry keeps what the index needs of a. Its strings are copied:
// those the store reads may share their memory with the rest of the row
// read, which the index would otherwise keep alive.
func newFleetEntry(a asset.Asset) fleetEntry {
	name := strings.Clone(a.SystemName)
	e := fleetEntry{name: name, lowerName: strings.ToLower(name), dataCenter: strings.Clone(a.DataCenter), platform: strings.Clone(a.HostPlatform), ca: strings.Clone(a.CertificateAuthority),
		labels: a.Labels, paused: a.Paused, failures: a.FailureCount,
		routeKey: strings.Join([]string{a.HostPlatform, a.OSVersion, a.CertificateAuthority, a.DeviceModel, a.DataCenter}, "\x1f")}
	if a.CertificateExpiration != nil {
		e.expiry = a.CertificateExpiration.Unix()
	}
	if a.RenewalTime != nil {
		e.renewal = a.RenewalTime.Unix()
	}
	return e
}

// routedFields are the fields of a route key, as an asset.
func routedFields(key string) asset.Asset {
	f := strings.Split(key, "\x1f")
	return asset.Asset{HostPlatform: f[0], OSVersion: f[1], CertificateAuthority: f[2], DeviceModel: f[3], DataCenter: f[4]}
}

// fleetSnapshot is the index as read at one time. It is never changed
// once published: a change makes a new one.
type fleetSnapshot struct {
	// entries are sorted by name.
	entries  []fleetEntry
	loadedAt time.Time
	// routeKeys are the distinct route keys, numbered as the entries'
	// route; routed says, for the routing table table, whether a route
	// takes each.
	routeKeys []string
	table     *routetable.Table
	routed    []bool
	// dataCenters are the distinct data centers, sorted.
	dataCenters []string
}

// number numbers the entries' route keys and lists their data centers.
func (s *fleetSnapshot) number() {
	ids := map[string]int32{}
	dcs := map[string]bool{}
	s.routeKeys = nil
	for i := range s.entries {
		e := &s.entries[i]
		dcs[e.dataCenter] = true
		id, ok := ids[e.routeKey]
		if !ok {
			id = int32(len(s.routeKeys))
			ids[e.routeKey] = id
			s.routeKeys = append(s.routeKeys, e.routeKey)
		}
		e.route = id
	}
	s.dataCenters = slices.Sorted(maps.Keys(dcs))
}

// fleetIndex holds the current snapshot and builds the next.
type fleetIndex struct {
	store  store.Store
	routes *routetable.Live
	now    func() time.Time

	snap atomic.Pointer[fleetSnapshot]
	// mu serializes loads and patches; loading is set while a background
	// load runs.
	mu      sync.Mutex
	loading bool
}

// fleetView is what a request sees: the entries and the state of each,
// decided with the routing table in effect and the rotations under way
// now.
type fleetView struct {
	entries     []fleetEntry
	states      []string
	dataCenters []string
	// routed says whether a route takes each route key, as numbered in
	// the entries; rotating which assets have a rotation under way.
	routed   []bool
	table    *routetable.Table
	rotating map[string]bool
	now      int64
}

// view returns the index for a request: read now if there is none yet,
// else the current one, starting a new read in the background when it is
// older than fleetMaxAge.
func (f *fleetIndex) view(ctx context.Context) (*fleetView, error) {
	snap := f.snap.Load()
	if snap == nil {
		f.mu.Lock()
		if snap = f.snap.Load(); snap == nil {
			var err error
			if snap, err = f.load(ctx); err != nil {
				f.mu.Unlock()
				return nil, err
			}
			f.snap.Store(snap)
		}
		f.mu.Unlock()
	} else if f.now().Sub(snap.loadedAt) > fleetMaxAge {
		f.refreshInBackground(ctx)
	}
	table := f.routes.Table()
	routed := snap.routed
	if snap.table != table {
		routed = routedKeys(table, snap.routeKeys)
	}
	rotating, err := f.rotating(ctx)
	if err != nil {
		return nil, err
	}
	v := &fleetView{entries: snap.entries, dataCenters: snap.dataCenters, routed: routed, table: table, rotating: rotating, now: f.now().Unix()}
	v.states = make([]string, len(v.entries))
	for i := range v.entries {
		v.states[i] = v.state(&v.entries[i])
	}
	return v, nil
}

func (f *fleetIndex) refreshInBackground(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loading {
		return
	}
	f.loading = true
	go func() {
		snap, err := f.load(context.WithoutCancel(ctx))
		f.mu.Lock()
		defer f.mu.Unlock()
		f.loading = false
		// A patch made during the load may be missing from it; it shows
		// at the next load.
		if err == nil {
			f.snap.Store(snap)
		}
	}()
}

// load reads the whole inventory a page at a time.
func (f *fleetIndex) load(ctx context.Context) (*fleetSnapshot, error) {
	snap := &fleetSnapshot{loadedAt: f.now()}
	labelSets := labelSets{}
	filter := store.AssetFilter{Limit: fleetReadPage}
	for {
		assets, err := f.store.ListAssets(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("ui: read the inventory: %w", err)
		}
		for _, a := range assets {
			e := newFleetEntry(a)
			e.labels = labelSets.share(e.labels)
			snap.entries = append(snap.entries, e)
		}
		if len(assets) < fleetReadPage {
			break
		}
		filter.After = assets[len(assets)-1].SystemName
	}
	snap.number()
	snap.table = f.routes.Table()
	snap.routed = routedKeys(snap.table, snap.routeKeys)
	return snap, nil
}

// labelSets lets the entries of a load share one map for each set of
// labels: a fleet has few distinct sets, and a map of its own costs an
// asset over 500 bytes (BENCHMARKS.md). The maps are never changed.
type labelSets map[string]map[string]string

// share returns the map of the set equal to labels, keeping labels as the
// set's map when it is the first.
func (sets labelSets) share(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	var key strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		key.WriteString(strconv.Itoa(len(k)) + ":" + k + strconv.Itoa(len(v)) + ":" + v)
	}
	if shared, ok := sets[key.String()]; ok {
		return shared
	}
	sets[key.String()] = labels
	return labels
}

// routedKeys asks the routing table about each distinct route key.
func routedKeys(t *routetable.Table, keys []string) []bool {
	routed := make([]bool, len(keys))
	for i, key := range keys {
		_, _, routed[i] = t.Match(routedFields(key))
	}
	return routed
}

// rotating returns the assets with a pending or running rotation.
func (f *fleetIndex) rotating(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{}
	for _, state := range []store.State{store.StatePending, store.StateRunning} {
		rots, err := f.store.ListRotations(ctx, store.RotationFilter{State: state})
		if err != nil {
			return nil, fmt.Errorf("ui: read the rotations under way: %w", err)
		}
		for _, r := range rots {
			out[r.Asset] = true
		}
	}
	return out, nil
}

// patch puts the UI's own changes into the index at once: changed holds
// assets as stored now, deleted the names of assets removed.
func (f *fleetIndex) patch(changed []asset.Asset, deleted []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.snap.Load()
	if old == nil {
		return // the first request reads it all
	}
	next := *old
	next.entries = slices.Clone(old.entries)
	for _, a := range changed {
		e := newFleetEntry(a)
		i, found := slices.BinarySearchFunc(next.entries, a.SystemName, func(e fleetEntry, name string) int { return cmp.Compare(e.name, name) })
		if found {
			next.entries[i] = e
		} else {
			next.entries = slices.Insert(next.entries, i, e)
		}
	}
	for _, name := range deleted {
		if i, found := slices.BinarySearchFunc(next.entries, name, func(e fleetEntry, name string) int { return cmp.Compare(e.name, name) }); found {
			next.entries = slices.Delete(next.entries, i, i+1)
		}
	}
	next.number()
	next.routed = routedKeys(next.table, next.routeKeys)
	f.snap.Store(&next)
}

// state is the entry's fleet state.
func (v *fleetView) state(e *fleetEntry) string {
	return decideState(e, v.routed[e.route], v.rotating[e.name], v.now)
}

// stateOf is the state of an asset as read from the store now, which may
// be newer than the index.
func (v *fleetView) stateOf(a asset.Asset) string {
	e := newFleetEntry(a)
	_, _, routed := v.table.Match(a)
	return decideState(&e, routed, v.rotating[a.SystemName], v.now)
}

// decideState is the entry's fleet state (asset.DecideState) at now
// (Unix seconds).
func decideState(e *fleetEntry, routed, rotating bool, now int64) string {
	return asset.DecideState(asset.StateInput{Paused: e.paused, Routed: routed, Rotating: rotating, FailureCount: e.failures,
		ExpiresAt: e.expiry, RenewsAt: e.renewal, Now: now})
}
