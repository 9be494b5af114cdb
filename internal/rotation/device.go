package rotation

import (
	"context"
	"fmt"

	"github.com/ottr-go/ottr/internal/driver"
)

// Device is a session on an asset's device opened the way a rotation opens
// it, for looking at the device without rotating (ottr device check).
type Device struct {
	driver.Session
	// Route and RouteIndex are the route the asset matched; Driver is that
	// route's driver.
	Route      string
	RouteIndex int
	Driver     string
}

// OpenDevice opens a session on the named asset's device with the route,
// driver, credentials and secret options a rotation of it would use. It
// changes nothing on the device, and does not reach the asset's CA, which
// looking at a device does not need; close the session after.
func (r *Runner) OpenDevice(ctx context.Context, systemName string) (*Device, error) {
	a, err := r.d.Store.GetAsset(ctx, systemName)
	if err != nil {
		return nil, err
	}
	rn := &run{r: r, asset: a}
	if err := rn.matchRoute(); err != nil {
		return nil, err
	}
	s, err := rn.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open %s with driver %s (route %q): %w", systemName, rn.drv.Name(), rn.route.Name, err)
	}
	return &Device{Session: s, Route: rn.route.Name, RouteIndex: rn.routeNo, Driver: rn.drv.Name()}, nil
}
