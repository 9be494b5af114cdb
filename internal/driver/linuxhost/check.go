package linuxhost

import (
	"context"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

// CheckHost sends the read-only check script of hc (package hostcheck) and
// judges the answer; user is who the script ran as. When the script did not
// run, notRun says why, without prefix, for the transport's login check
// (hostcheck.LoginFailed), and the report is empty; err is ctx's end or an
// answer that is not the script's.
func (h *Host) CheckHost(ctx context.Context, hc hostcheck.Host) (report driver.DeviceReport, user string, notRun, err error) {
	out, runErr := h.exec(ctx, "check", hc.Script(), nil)
	switch {
	case runErr != nil && ctx.Err() != nil:
		return driver.DeviceReport{}, "", nil, h.wrap("check", runErr)
	case runErr != nil:
		return driver.DeviceReport{}, "", runErr, nil
	}
	report, found, err := hc.Report(out)
	if err != nil {
		return driver.DeviceReport{}, "", nil, h.errorf("check", "%w: %s", err, Tail(out, TailLines))
	}
	return report, found.User, nil, nil
}
