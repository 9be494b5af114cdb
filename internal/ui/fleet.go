package ui

import (
	"context"
	"fmt"
	"time"

	"github.com/ottr-go/ottr/internal/store"
)

// unrouted returns the route keys of the inventory that no route in
// effect takes: the routing table is asked once per distinct key, not
// once per asset.
func (u *UI) unrouted(ctx context.Context) ([]string, error) {
	keys, err := u.store.RouteKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("ui: %w", err)
	}
	var out []string
	for key, a := range keys {
		if _, _, ok := u.app.Routes.Match(a); !ok {
			out = append(out, key)
		}
	}
	return out, nil
}

// fleetQuery is an AssetQuery that decides states as of now with the
// routing table in effect.
func (u *UI) fleetQuery(ctx context.Context, now time.Time) (store.AssetQuery, error) {
	unrouted, err := u.unrouted(ctx)
	if err != nil {
		return store.AssetQuery{}, err
	}
	return store.AssetQuery{Now: now, Unrouted: unrouted}, nil
}
