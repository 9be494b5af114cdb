package panos

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

var _ driver.Checker = (*session)(nil)

// Commands Check sends; each only reads.
const (
	configLocksCommand    = "<show><config-locks/></show>"
	commitLocksCommand    = "<show><commit-locks/></show>"
	pendingChangesCommand = "<check><pending-changes/></check>"
)

// Check looks at the firewall without changing it: it reads the system
// information, the certificate the route's service uses, the API
// administrator's role and the locks other administrators hold, and says
// for each step of a rotation whether the device would let it through.
// Everything it sends is a read (config show, show and check commands). A
// read the device refuses becomes part of the report; only the caller's
// context ending is an error.
func (s *session) Check(ctx context.Context) (driver.DeviceReport, error) {
	var report driver.DeviceReport
	software, infoErr := s.systemInfo(ctx)
	report.Software = software
	login := driver.CapabilityCheck{Capability: driver.CapabilityLogin, Status: driver.CheckOK,
		Detail: fmt.Sprintf("logged in as %q; the API key travels in %s", s.user, s.c.keyPlace)}
	if infoErr != nil {
		login.Detail += fmt.Sprintf("; show system info failed: %v", infoErr)
	}

	r := s.readRights(ctx)
	locks := s.readLocks(ctx)
	binding, bindingProblem := s.describeBinding(ctx)
	report.Binding = binding
	pending := s.pendingChanges(ctx)
	if err := ctx.Err(); err != nil {
		return driver.DeviceReport{}, wrapf("check", err)
	}

	bindingCheck := r.check(driver.CapabilityBinding, "configuration changes (the SSL/TLS service profile and the binding)", rightConfigWrite)
	switch {
	case bindingProblem != "":
		bindingCheck = failed(driver.CapabilityBinding, bindingProblem)
	case len(locks.config) > 0:
		bindingCheck = failed(driver.CapabilityBinding, fmt.Sprintf("a configuration lock is held by %s, so the device refuses configuration changes by others; ask them to remove it (or remove it under Device > Setup > Management > Locks)",
			strings.Join(locks.config, ", ")))
	}
	commitCheck := r.check(driver.CapabilityCommit, "commits of its own changes and the operational command that polls the commit job", rightCommit, rightOpRead)
	if len(locks.commit) > 0 {
		commitCheck = failed(driver.CapabilityCommit, fmt.Sprintf("a commit lock is held by %s, so the device refuses commits by others; ask them to remove it", strings.Join(locks.commit, ", ")))
	}
	rollbackCheck := r.check(driver.CapabilityRollback, "saving and loading configuration snapshots and a full commit with force", rightOpWrite, rightCommit)
	if rollbackCheck.Status != driver.CheckFailed {
		if len(locks.commit) > 0 {
			rollbackCheck = failed(driver.CapabilityRollback, commitCheck.Detail)
		} else {
			rollbackCheck.Detail += "; a rollback commits the whole snapshot, so changes other administrators have pending when Install saves it are committed with it" + pending
		}
	}
	if locks.problem != "" {
		commitCheck.Detail += "; " + locks.problem
		bindingCheck.Detail += "; " + locks.problem
	}
	report.Checks = []driver.CapabilityCheck{
		login,
		r.check(driver.CapabilityKeyGeneration, "operational commands such as request certificate generate (the check generates no key)", rightOpWrite),
		r.check(driver.CapabilityCSRExport, "XML API exports (the CSR, without its key)", rightExport),
		r.check(driver.CapabilityImport, "XML API imports (the signed chain)", rightImport),
		bindingCheck,
		commitCheck,
		rollbackCheck,
	}
	return report, nil
}

func failed(capability, detail string) driver.CapabilityCheck {
	return driver.CapabilityCheck{Capability: capability, Status: driver.CheckFailed, Detail: detail}
}

// systemInfo returns "PAN-OS <sw-version> (<model>)" from show system info.
func (s *session) systemInfo(ctx context.Context) (string, error) {
	r, err := s.c.op(ctx, systemInfoCommand)
	if err != nil {
		return "", err
	}
	version := r.Result.text("system", "sw-version")
	if version == "" {
		return "", errors.New("the answer holds no system/sw-version")
	}
	software := "PAN-OS " + version
	if model := r.Result.text("system", "model"); model != "" {
		software += " (" + model + ")"
	}
	return software, nil
}

// The rights a rotation needs, in the XML API's terms: request types, and
// whether a change or only a read.
const (
	rightOpRead = iota
	rightOpWrite
	rightConfigWrite
	rightExport
	rightImport
	rightCommit
	rightCount
)

// permission is what the role says of one right.
type permission int

const (
	permissionUnknown permission = iota
	permissionAllowed
	permissionDenied
)

// rights is the API administrator's role as the configuration tells it.
type rights struct {
	// role describes the role for details: `role "superuser"`.
	role string
	// unknown says why the role could not be read; then every right is
	// unknown.
	unknown string
	allows  [rightCount]permission
}

// check turns the rights a capability needs into a CapabilityCheck; what
// names them for the detail.
func (r rights) check(capability, what string, needs ...int) driver.CapabilityCheck {
	if r.unknown != "" {
		return driver.CapabilityCheck{Capability: capability, Status: driver.CheckUnknown,
			Detail: fmt.Sprintf("%s; a rotation needs %s", r.unknown, what)}
	}
	status := driver.CheckOK
	for _, n := range needs {
		switch r.allows[n] {
		case permissionDenied:
			return failed(capability, fmt.Sprintf("the administrator's %s does not allow %s; give the API administrator "+
				"the superuser or device administrator role, or enable the XML API request types ottr uses (op, config, import, export, commit) in its admin role profile",
				r.role, what))
		case permissionUnknown:
			status = driver.CheckUnknown
		}
	}
	if status == driver.CheckUnknown {
		return driver.CapabilityCheck{Capability: capability, Status: status,
			Detail: fmt.Sprintf("the administrator's %s does not say whether it allows %s", r.role, what)}
	}
	return driver.CapabilityCheck{Capability: capability, Status: status, Detail: fmt.Sprintf("the administrator's %s allows %s", r.role, what)}
}

// readRights reads the API administrator's role-based permissions and, for
// a custom role, its admin role profile's XML API switches.
func (s *session) readRights(ctx context.Context) rights {
	permissions, err := s.c.show(ctx, fmt.Sprintf("/config/mgt-config/users/entry[@name='%s']/permissions", s.user))
	if err != nil {
		return rights{unknown: fmt.Sprintf("reading the administrator's role failed: %v", err)}
	}
	based := permissions.child("role-based")
	if based == nil || len(based.Nodes) == 0 {
		return rights{unknown: fmt.Sprintf("%q is not a local administrator of the device (its role may come from an authentication server), so the check cannot tell what it may do", s.user)}
	}
	kind := based.Nodes[0].XMLName.Local
	r := rights{role: fmt.Sprintf("role %q", kind)}
	set := func(p permission, which ...int) {
		for _, w := range which {
			r.allows[w] = p
		}
	}
	switch kind {
	case "superuser", "deviceadmin":
		set(permissionAllowed, rightOpRead, rightOpWrite, rightConfigWrite, rightExport, rightImport, rightCommit)
	case "superreader", "devicereader":
		set(permissionAllowed, rightOpRead, rightExport)
		set(permissionDenied, rightOpWrite, rightConfigWrite, rightImport, rightCommit)
		r.role += " (read-only)"
	case "vsysadmin", "vsysreader":
		set(permissionDenied, rightOpWrite, rightConfigWrite, rightImport, rightCommit)
		r.role += " (a virtual system role cannot change shared certificates and profiles or the device settings)"
	case "custom":
		profile := based.Nodes[0].text("profile")
		r.role = fmt.Sprintf("admin role profile %q", profile)
		role, err := s.c.show(ctx, fmt.Sprintf("/config/shared/admin-role/entry[@name='%s']/role", profile))
		if err != nil {
			return rights{unknown: fmt.Sprintf("reading admin role profile %q failed: %v", profile, err)}
		}
		api := role.path("device", "xmlapi")
		if api == nil {
			api = role.path("vsys", "xmlapi")
		}
		for reqType, which := range map[string][]int{
			"op": {rightOpRead, rightOpWrite}, "config": {rightConfigWrite}, "export": {rightExport},
			"import": {rightImport}, "commit": {rightCommit},
		} {
			switch api.text(reqType) {
			case "enable":
				set(permissionAllowed, which...)
			case "disable":
				set(permissionDenied, which...)
			}
		}
	default:
		return rights{unknown: fmt.Sprintf("the administrator's role %q is not one the driver knows", kind)}
	}
	return r
}

// locks are the configuration and commit locks other administrators hold.
type locks struct {
	config, commit []string
	// problem says why the locks could not be read.
	problem string
}

func (s *session) readLocks(ctx context.Context) locks {
	var l locks
	var problems []string
	for _, q := range []struct {
		cmd, kind string
		into      *[]string
	}{{configLocksCommand, "config-locks", &l.config}, {commitLocksCommand, "commit-locks", &l.commit}} {
		r, err := s.c.op(ctx, q.cmd)
		if err != nil {
			problems = append(problems, fmt.Sprintf("reading the %s failed: %v", q.kind, err))
			continue
		}
		for _, e := range r.Result.child(q.kind).entries() {
			if holder := e.attr("name"); holder != s.user {
				*q.into = append(*q.into, fmt.Sprintf("%q", holder))
			}
		}
	}
	l.problem = strings.Join(problems, "; ")
	return l
}

// pendingChanges says, for the rollback's detail, whether the candidate
// holds uncommitted changes now.
func (s *session) pendingChanges(ctx context.Context) string {
	r, err := s.c.op(ctx, pendingChangesCommand)
	switch {
	case err != nil:
		return fmt.Sprintf(" (whether changes are pending now could not be read: %v)", err)
	case r.Result.text() == "yes":
		return " (the candidate configuration holds uncommitted changes now)"
	default:
		return " (no changes are pending now)"
	}
}

// describeBinding reads, in the running configuration, what the route's
// service serves: binding, profile, certificate, and ottr's profile. The
// second result is a problem that stops Install, "" when there is none.
func (s *session) describeBinding(ctx context.Context) (string, string) {
	service := s.opts.describeBind()
	if s.opts.Bind != bindManagement {
		entry, err := s.c.show(ctx, s.opts.serviceXPath())
		if err != nil {
			return service + ": reading it failed: " + err.Error(), ""
		}
		if entry == nil {
			return service + ": not configured", fmt.Sprintf("%s does not exist in the running configuration; check the route's globalprotect_name and vsys", service)
		}
	}
	var b strings.Builder
	b.WriteString(service)
	profile, err := s.c.show(ctx, s.opts.bindingXPath())
	switch {
	case err != nil:
		b.WriteString(": reading its SSL/TLS service profile failed: " + err.Error())
	case profile.text() == "":
		b.WriteString(": no SSL/TLS service profile bound")
		if s.opts.Bind == bindManagement {
			b.WriteString(" (the device serves its default certificate)")
		}
	default:
		fmt.Fprintf(&b, " -> SSL/TLS service profile %q", profile.text())
		b.WriteString(s.describeProfile(ctx, profile.text()))
	}
	if profile.text() != s.opts.ProfileName {
		ottr, err := s.c.show(ctx, profileXPath(s.opts.ProfileName))
		switch {
		case err != nil:
			fmt.Fprintf(&b, "; reading ottr's profile %q failed: %v", s.opts.ProfileName, err)
		case ottr == nil:
			fmt.Fprintf(&b, "; ottr's profile %q does not exist yet (Install creates it)", s.opts.ProfileName)
		default:
			fmt.Fprintf(&b, "; ottr's profile %q exists with certificate %q (Install repoints it and binds it)", s.opts.ProfileName, ottr.text("certificate"))
		}
	}
	return b.String(), ""
}

// describeProfile names the profile's certificate and what it holds.
func (s *session) describeProfile(ctx context.Context, profile string) string {
	certName, err := s.c.show(ctx, profileXPath(profile)+"/certificate")
	if err != nil {
		return " (reading its certificate failed: " + err.Error() + ")"
	}
	if certName.text() == "" {
		return " naming no certificate"
	}
	out := fmt.Sprintf(" -> certificate %q", certName.text())
	entry, err := s.c.show(ctx, certificateXPath(certName.text()))
	if err != nil {
		return out + " (reading it failed: " + err.Error() + ")"
	}
	chain := leafFirst(parseChain(entry.text("public-key")))
	if len(chain) == 0 {
		return out + " (holding no certificate)"
	}
	leaf := chain[0]
	return out + fmt.Sprintf(" (CN %s, serial %x, expires %s)", leaf.Subject.CommonName, leaf.SerialNumber, leaf.NotAfter.UTC().Format("2006-01-02"))
}
