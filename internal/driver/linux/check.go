package linux

import (
	"context"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux/hostcheck"
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
	if s.opts.Sudo {
		if _, err := s.run(ctx, "check: sudo", "true", nil); err != nil {
			if ctx.Err() != nil {
				return driver.DeviceReport{}, err
			}
			return fail(fmt.Sprintf("sudo -n sh -c true failed (%v): give the login user a sudoers rule without a password (NOPASSWD) for sh, or set sudo: false", commandMessage(err)))
		}
	}
	host := s.hostCheck()
	out, err := s.run(ctx, "check", host.Script(), nil)
	if err != nil {
		if ctx.Err() != nil {
			return driver.DeviceReport{}, err
		}
		return fail(fmt.Sprintf("the check script failed (%v): the login must be able to run sh -c", commandMessage(err)))
	}
	report, found, err := host.Report(out)
	if err != nil {
		return driver.DeviceReport{}, errorf("check", "%w: %s", err, tail(out, stderrTailLines))
	}
	login.Detail += "; commands run as " + found.User
	report.Checks = append([]driver.CapabilityCheck{login}, report.Checks...)
	return report, nil
}

// hostCheck is what the route asks of the host.
func (s *session) hostCheck() hostcheck.Host {
	o := s.opts
	h := hostcheck.Host{
		CertPath: o.CertPath, KeyPath: o.KeyPath, ChainPath: o.ChainPath, WorkDir: o.WorkDir,
		ReloadCommand: o.ReloadCommand, Owner: o.Owner, Chmod: !o.keyModeIsDefault(),
	}
	if o.Sudo {
		h.RunsAs = "through sudo -n"
	}
	return h
}

// commandMessage is what a failed command said, without the driver's
// prefixes.
func commandMessage(err error) string {
	var cmdErr *CommandError
	if errors.As(err, &cmdErr) {
		return cmdErr.Error()
	}
	return err.Error()
}
