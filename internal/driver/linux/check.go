package linux

import (
	"context"
	"fmt"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

var _ driver.Checker = (*session)(nil)

// Check looks at the host without changing it, in one command: the check
// script of package hostcheck, which runs only uname, id, openssl version
// and openssl pkey -pubout besides the shell's own tests. With sudo,
// "sudo -n sh -c true", the form every command takes, goes first, so a
// missing sudoers rule is named as such.
func (s *session) Check(ctx context.Context) (driver.DeviceReport, error) {
	login := driver.CapabilityCheck{
		Capability: driver.CapabilityLogin, Status: driver.CheckOK,
		Detail: fmt.Sprintf("logged in to %s over SSH, the host key verified against known_hosts", s.addr),
	}
	fail := func(detail string) (driver.DeviceReport, error) {
		login.Detail += "; " + detail
		return hostcheck.LoginFailed(login, "the commands could not run"), nil
	}
	if s.sudo {
		if _, err := s.Run(ctx, "check: sudo", "true", nil); err != nil {
			if ctx.Err() != nil {
				return driver.DeviceReport{}, wrapf("check: sudo", err)
			}
			return fail(fmt.Sprintf("sudo -n sh -c true failed (%v): give the login user a sudoers rule without a password (NOPASSWD) for sh, or set sudo: false", err))
		}
	}
	host := s.Options().HostCheck()
	if s.sudo {
		host.RunsAs = "through sudo -n"
	}
	report, user, notRun, err := s.CheckHost(ctx, host)
	switch {
	case err != nil:
		return driver.DeviceReport{}, err
	case notRun != nil:
		return fail(fmt.Sprintf("the check script failed (%v): the login must be able to run sh -c", notRun))
	}
	login.Detail += "; commands run as " + user
	report.Checks = append([]driver.CapabilityCheck{login}, report.Checks...)
	return report, nil
}
