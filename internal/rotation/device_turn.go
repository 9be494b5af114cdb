package rotation

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ottr-go/ottr/internal/devicelock"
	"github.com/ottr-go/ottr/internal/driver"
)

// lockDevice waits for the rotation's turn on its device (Deps.Devices),
// unless it has it already. Rotations whose sessions batch their installs
// take a turn together; the others one at a time. Key and CSR generation
// and issuance come before and need no turn.
func (rn *run) lockDevice(ctx context.Context, s driver.Session) error {
	if rn.device != nil {
		return nil
	}
	key, err := rn.deviceKey(s)
	if err != nil {
		return err
	}
	batcher, ok := s.(driver.InstallBatcher)
	req := devicelock.Request{
		Key:    key,
		Holder: fmt.Sprintf("rotation %d of %s", rn.rot.ID, rn.asset.SystemName),
		Batch:  ok && batcher.BatchesInstalls(),
		Waiting: func(holders string) {
			rn.logf(slog.LevelInfo, "waiting for device %s, which %s is changing", key, holders)
			// Flushed now, so the log says why the rotation stands still
			// while it does.
			rn.flush(context.WithoutCancel(ctx))
		},
	}
	hold, err := rn.r.d.Devices.Lock(ctx, req)
	if err != nil {
		return fmt.Errorf("waiting for device %s: %w", key, err)
	}
	rn.device = hold
	if n := hold.Members(); n > 1 {
		rn.logf(slog.LevelInfo, "changing device %s in one turn with %d other rotations", key, n-1)
	}
	return nil
}

// unlockDevice ends the rotation's turn on its device, if it has one.
func (rn *run) unlockDevice() {
	if rn.device != nil {
		rn.device.Unlock()
		rn.device = nil
	}
}

// deviceKey names the device the rotation changes: the route's host when it
// sets one, else what the session says (driver.DeviceKeyer), else the
// driver and the asset's IP address.
func (rn *run) deviceKey(s driver.Session) (string, error) {
	tmpl, err := rn.route.HostTemplate()
	if err != nil {
		return "", fmt.Errorf("route %q: host: %w", rn.route.Name, err)
	}
	if tmpl != nil {
		host, err := tmpl.Execute(rn.asset)
		if err != nil {
			return "", fmt.Errorf("route %q: host %w", rn.route.Name, err)
		}
		if strings.TrimSpace(host) == "" {
			return "", fmt.Errorf("route %q: host %q renders nothing for asset %s: give the asset what the template uses, or change the template",
				rn.route.Name, rn.route.Host, rn.asset.SystemName)
		}
		return "host " + host, nil
	}
	if k, ok := s.(driver.DeviceKeyer); ok && k.DeviceKey() != "" {
		return k.DeviceKey(), nil
	}
	address := rn.asset.IPAddress
	if address == "" {
		address = rn.asset.SystemName
	}
	return rn.drv.Name() + " " + address, nil
}
