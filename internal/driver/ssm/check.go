package ssm

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost/hostcheck"
)

var _ driver.Checker = (*session)(nil)

// Check looks at the instance without changing it: SSM's view of its agent
// (DescribeInstanceInformation), then one command, the read-only check
// script of package hostcheck, which runs only uname, id, openssl version
// and openssl pkey -pubout besides the shell's own tests. It runs no hook
// and not the reload command: it only says whether they are there.
func (s *session) Check(ctx context.Context) (driver.DeviceReport, error) {
	login := driver.CapabilityCheck{Capability: driver.CapabilityLogin}
	notLookedAt := func(reason string) (driver.DeviceReport, error) {
		return hostcheck.LoginFailed(login, reason), nil
	}

	a, err := s.client.instanceAgent(ctx, s.instanceID)
	var apiErr smithy.APIError
	switch {
	case err != nil && ctx.Err() != nil:
		return driver.DeviceReport{}, err
	case err != nil && errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidInstanceId":
		login.Detail = fmt.Sprintf("SSM does not manage instance %s: install the SSM agent and give the instance a role with "+
			"the AmazonSSMManagedInstanceCore policy", s.instanceID)
		return notLookedAt("SSM cannot run commands on the instance")
	case err != nil:
		// The account may run commands without the right to describe
		// nodes: the command below tells.
		login.Status = driver.CheckUnknown
		login.Detail = fmt.Sprintf("SSM's view of the agent is unknown (%v): give the credentials ssm:DescribeInstanceInformation to see it", err)
	case a == nil:
		login.Detail = fmt.Sprintf("SSM lists no running managed node %s: start the instance, or install and register its SSM agent", s.instanceID)
		return notLookedAt("SSM cannot run commands on the instance")
	case a.PingStatus != "Online":
		login.Detail = fmt.Sprintf("the SSM agent of %s is %s: commands would wait for it; check that it runs and reaches SSM's endpoints",
			s.instanceID, a.PingStatus)
		return notLookedAt("the agent is not online")
	default:
		login.Status = driver.CheckOK
		login.Detail = fmt.Sprintf("SSM agent %s of %s is Online (%s %s)", a.AgentVersion, s.instanceID, a.PlatformName, a.PlatformVersion)
	}

	report, user, notRun, err := s.CheckHost(ctx, s.hostCheck())
	switch {
	case err != nil:
		return driver.DeviceReport{}, err
	case notRun != nil:
		login.Detail += fmt.Sprintf("; the check command failed: %v: the credentials need ssm:SendCommand with the %s document "+
			"and ssm:GetCommandInvocation", notRun, s.opts.Document)
		return notLookedAt("the check command did not run")
	}
	if login.Status == driver.CheckUnknown {
		// A command that ran proves the agent online, whatever SSM's
		// view of it could not say.
		login.Status = driver.CheckOK
	}
	login.Detail += fmt.Sprintf("; ran the check command with %s, as %s", s.opts.Document, user)
	if a != nil {
		report.Software += fmt.Sprintf(" (%s %s, SSM agent %s)", a.PlatformName, a.PlatformVersion, a.AgentVersion)
	}
	report.Checks = append([]driver.CapabilityCheck{login}, report.Checks...)
	return report, nil
}

// hostCheck is what the route asks of the instance.
func (s *session) hostCheck() hostcheck.Host {
	h := s.opts.HostCheck()
	h.RunsAs = "by the SSM agent"
	for _, hd := range []hostcheck.HookDir{{Phase: "pre", Dir: s.opts.PreHooksDir}, {Phase: "post", Dir: s.opts.PostHooksDir}} {
		if hd.Dir != "" {
			h.Hooks = append(h.Hooks, hd)
		}
	}
	return h
}
