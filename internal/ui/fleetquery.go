package ui

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// assetQuery selects, sorts and pages the assets of the fleet index.
// Zero fields do not filter.
type assetQuery struct {
	// nameContains keeps assets whose name contains it, ignoring case.
	nameContains string
	dataCenter   string
	platform     string
	ca           string
	// labels keeps assets carrying each of these labels with its value.
	labels map[string]string
	// expiresBefore keeps assets whose certificate expires before it, or
	// whose expiry is unknown, as the API's days_until_expiration does.
	expiresBefore *time.Time
	state         string

	// sort is one of assetSorts; "" sorts by name. Ties go by name.
	sort       string
	descending bool
	offset     int
	limit      int
}

// assetSorts are the orders the table offers.
var assetSorts = []string{"name", "state", "data_center", "platform", "ca", "expiry", "renewal"}

// assetRow is one asset of a page, as stored now, and its state.
type assetRow struct {
	Asset asset.Asset
	State string
}

// match returns the entries q selects, sorted, and their states.
func (v *fleetView) match(q assetQuery) ([]*fleetEntry, []string) {
	needle := strings.ToLower(q.nameContains)
	var cutoff int64
	if q.expiresBefore != nil {
		cutoff = q.expiresBefore.Unix()
	}
	var picked []int32
	for i := range v.entries {
		e := &v.entries[i]
		switch {
		case q.state != "" && v.states[i] != q.state,
			needle != "" && !strings.Contains(e.lowerName, needle),
			q.dataCenter != "" && e.dataCenter != q.dataCenter,
			q.platform != "" && e.platform != q.platform,
			q.ca != "" && e.ca != q.ca,
			q.expiresBefore != nil && e.expiry != 0 && e.expiry >= cutoff,
			!hasLabels(e.labels, q.labels):
			continue
		}
		picked = append(picked, int32(i))
	}
	v.sort(picked, q.sort)
	if q.descending {
		slices.Reverse(picked)
	}
	entries := make([]*fleetEntry, len(picked))
	states := make([]string, len(picked))
	for j, i := range picked {
		entries[j], states[j] = &v.entries[i], v.states[i]
	}
	return entries, states
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// stateRank orders states for sorting, as displayStates lists them.
var stateRank = func() map[string]int {
	m := map[string]int{}
	for i, s := range displayStates {
		m[s] = i
	}
	return m
}()

// sort orders entry indexes (ascending, which is name order) by the named
// key, ties by name. The keys are copied next to the indexes first:
// comparing them in place would jump around 100,000 entries.
func (v *fleetView) sort(picked []int32, by string) {
	switch by {
	case "state":
		sortByKey(picked, func(i int32) int { return stateRank[v.states[i]] })
	case "data_center":
		sortByKey(picked, func(i int32) string { return v.entries[i].dataCenter })
	case "platform":
		sortByKey(picked, func(i int32) string { return v.entries[i].platform })
	case "ca":
		sortByKey(picked, func(i int32) string { return v.entries[i].ca })
	case "expiry":
		sortByKey(picked, func(i int32) int64 { return v.entries[i].expiry })
	case "renewal":
		sortByKey(picked, func(i int32) int64 { return v.entries[i].renewal })
	}
}

func sortByKey[K cmp.Ordered](picked []int32, key func(int32) K) {
	type keyed struct {
		k K
		i int32
	}
	ks := make([]keyed, len(picked))
	for j, i := range picked {
		ks[j] = keyed{key(i), i}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := cmp.Compare(a.k, b.k); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i) // name order
	})
	for j := range ks {
		picked[j] = ks[j].i
	}
}

// page returns q's page of assets, each read from the store now with its
// state decided on what was read, and how many match in all.
func (u *UI) page(ctx context.Context, v *fleetView, q assetQuery) ([]assetRow, int, error) {
	entries, _ := v.match(q)
	total := len(entries)
	start := min(q.offset, total)
	end := total
	if q.limit > 0 {
		end = min(start+q.limit, total)
	}
	var rows []assetRow
	for _, e := range entries[start:end] {
		a, err := u.store.GetAsset(ctx, e.name)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since the index was read
		}
		if err != nil {
			return nil, 0, err
		}
		rows = append(rows, assetRow{Asset: a, State: v.stateOf(a)})
	}
	return rows, total, nil
}

// counts returns how many assets are in each state.
func (v *fleetView) counts() map[string]int {
	out := map[string]int{}
	for _, s := range v.states {
		out[s]++
	}
	return out
}

// expiryBucket counts the assets whose certificate expires before Before
// and not in an earlier bucket; the last bucket has a zero Before and
// counts the later ones.
type expiryBucket struct {
	Before time.Time
	Count  int
}

// expiries counts the known expiries into buckets split at bounds
// (ascending), and the unknown ones apart.
func (v *fleetView) expiries(bounds []time.Time) ([]expiryBucket, int) {
	buckets := make([]expiryBucket, len(bounds)+1)
	for i, b := range bounds {
		buckets[i].Before = b
	}
	unknown := 0
	for i := range v.entries {
		e := &v.entries[i]
		if e.expiry == 0 {
			unknown++
			continue
		}
		j, _ := slices.BinarySearchFunc(bounds, e.expiry, func(b time.Time, t int64) int { return cmp.Compare(b.Unix(), t+1) })
		// j is the first bound after the expiry: its bucket.
		buckets[j].Count++
	}
	return buckets, unknown
}
