package bigip

import (
	"context"
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

var _ driver.Checker = (*session)(nil)

// Check reports what the device is and whether a rotation of the route's
// target could run on it, with read-only requests only: the software
// version, the login's role, the partition, the target's binding and the
// certificate it names (read through util bash, as the CSR will be), and
// the ledger. Nothing on the device changes.
func (s *session) Check(ctx context.Context) (driver.DeviceReport, error) {
	var r driver.DeviceReport
	product, version, versionErr := s.c.version(ctx)
	if versionErr == nil {
		r.Software = strings.TrimSpace(product + " " + version)
	}
	role := s.checkRole(ctx)
	partition := s.checkPartition(ctx)
	binding, read, bindingErr, readErr := s.checkBinding(ctx)
	r.Binding = binding
	_, ledgerErr := s.readLedger(ctx)

	login := driver.CapabilityCheck{Capability: driver.CapabilityLogin, Status: driver.CheckOK,
		Detail: fmt.Sprintf("logged in as %s through loginProviderName %s; the token is deleted when the session closes", s.username, s.opts.LoginProvider)}
	if versionErr != nil {
		login.Detail += fmt.Sprintf("; the software version could not be read (GET /mgmt/tm/sys/version: %v)", versionErr)
	}

	csrExport := role.as(driver.CapabilityCSRExport, "CSRs are read with `tmsh list sys crypto csr` through /mgmt/tm/util/bash, "+
		"which answered: the current certificate was read through it")
	switch {
	case readErr != nil:
		csrExport = failed(driver.CapabilityCSRExport, fmt.Sprintf("the current certificate could not be read through /mgmt/tm/util/bash, "+
			"as the CSR will be: %v; %s", readErr, roleNeeded))
	case !read:
		csrExport = role.as(driver.CapabilityCSRExport, "CSRs are read with `tmsh list sys crypto csr` through /mgmt/tm/util/bash, "+
			"not tried as the binding could not be read")
	}

	imported := role.as(driver.CapabilityImport, fmt.Sprintf("partition %s exists; certificates are uploaded to /var/config/rest/downloads "+
		"and installed as sys crypto cert objects in it", s.opts.Partition))
	if partition != nil {
		imported = *partition
	}

	bound := driver.CapabilityCheck{Capability: driver.CapabilityBinding, Status: driver.CheckOK, Detail: binding}
	switch {
	case bindingErr != nil:
		bound = failed(driver.CapabilityBinding, bindingErr.Error())
	case readErr != nil:
		bound = failed(driver.CapabilityBinding, fmt.Sprintf("%s; its certificate could not be read: %v", binding, readErr))
	case role.status != driver.CheckOK:
		bound = role.as(driver.CapabilityBinding, binding)
	}

	commitDetail := "each change is one transaction (/mgmt/tm/transaction), then saved with save sys config"
	if s.opts.Target == targetHTTPD {
		commitDetail += ", then served after `" + restartHTTPDCommand + "` when httpd does not serve it yet"
	}
	commit := role.as(driver.CapabilityCommit, commitDetail)

	rollback := role.as(driver.CapabilityRollback, fmt.Sprintf("every rotation creates new objects and keeps the ones it replaced, "+
		"so a rollback points the target back at them; ottr's ledger %s is readable", s.ledgerPath()))
	switch {
	case ledgerErr != nil:
		rollback = failed(driver.CapabilityRollback, fmt.Sprintf("%v; ottr keeps what a rollback returns to in that data group", ledgerErr))
	case bindingErr != nil || readErr != nil:
		rollback = failed(driver.CapabilityRollback, "a rollback changes the binding, which failed its check above")
	}

	r.Checks = []driver.CapabilityCheck{
		login,
		role.as(driver.CapabilityKeyGeneration, "keys are generated on the device as sys crypto key objects, and their CSRs as sys crypto csr"),
		csrExport,
		imported,
		bound,
		commit,
		rollback,
	}
	return r, nil
}

// roleNeeded says what the driver's requests need of the login.
const roleNeeded = "ottr needs the Administrator role on all partitions (util bash, sys httpd and crypto objects in every partition require it)"

// roleCheck is what Check found of the login's role; as turns it into one
// capability's check.
type roleCheck struct {
	status string
	detail string
}

func (rc roleCheck) as(capability, what string) driver.CapabilityCheck {
	if rc.status == driver.CheckOK {
		return driver.CapabilityCheck{Capability: capability, Status: driver.CheckOK, Detail: what + "; " + rc.detail}
	}
	return driver.CapabilityCheck{Capability: capability, Status: rc.status, Detail: rc.detail}
}

func failed(capability, detail string) driver.CapabilityCheck {
	return driver.CapabilityCheck{Capability: capability, Status: driver.CheckFailed, Detail: detail}
}

// checkRole reads the login's roles (GET /mgmt/tm/auth/user/NAME).
func (s *session) checkRole(ctx context.Context) roleCheck {
	access, found, err := s.c.userAccess(ctx, s.username)
	switch {
	case err != nil:
		return roleCheck{driver.CheckUnknown, fmt.Sprintf("the role of %s could not be read (%v); %s", s.username, err, roleNeeded)}
	case !found:
		return roleCheck{driver.CheckUnknown, fmt.Sprintf("%s is not a local user, so its role comes from the remote authentication server "+
			"and cannot be read here; %s", s.username, roleNeeded)}
	}
	var roles []string
	for _, a := range access {
		if a.Name == "all-partitions" && a.Role == "admin" {
			return roleCheck{driver.CheckOK, fmt.Sprintf("%s has the Administrator role on all partitions", s.username)}
		}
		roles = append(roles, "role "+a.Role+" on "+a.Name)
	}
	has := "no role"
	if len(roles) > 0 {
		has = strings.Join(roles, ", ")
	}
	return roleCheck{driver.CheckFailed, fmt.Sprintf("%s has %s, but %s: give %s the Administrator role on all partitions",
		s.username, has, roleNeeded, s.username)}
}

// checkPartition returns a failed import check when the route's partition
// does not exist, nil when it does.
func (s *session) checkPartition(ctx context.Context) *driver.CapabilityCheck {
	exists, err := s.c.partitionExists(ctx, s.opts.Partition)
	switch {
	case err != nil:
		c := driver.CapabilityCheck{Capability: driver.CapabilityImport, Status: driver.CheckUnknown,
			Detail: fmt.Sprintf("partition %s could not be read: %v", s.opts.Partition, err)}
		return &c
	case !exists:
		c := failed(driver.CapabilityImport, fmt.Sprintf("partition %s does not exist on the device: create it, "+
			"or set the route's partition option to one that does", s.opts.Partition))
		return &c
	}
	return nil
}

// checkBinding describes the target's binding and reads the certificate it
// names through util bash (read). bindingErr says why a rotation could not
// change the binding, and how to fix that; readErr why the certificate
// could not be read.
func (s *session) checkBinding(ctx context.Context) (description string, read bool, bindingErr, readErr error) {
	var b binding
	if s.opts.Target == targetHTTPD {
		var err error
		if b, err = s.currentBinding(ctx, ""); err != nil {
			return "sys httpd (not readable)", false, err, nil
		}
		description = fmt.Sprintf("sys httpd: certificate file %s, key file %s, chain file %s", b.Cert, b.Key, orNone(b.Chain))
	} else {
		p, i, err := s.profileEntry(ctx, s.opts.CertKeyChain)
		if err != nil {
			return "client-ssl profile " + s.opts.profilePath() + " (not readable)", false,
				fmt.Errorf("%w; create the profile, or fix the route's profile option (and cert_key_chain, partition)", err), nil
		}
		e := p.CertKeyChain[i]
		b = binding{Cert: e.Cert, Key: e.Key, Chain: normalChain(e.Chain)}
		description = fmt.Sprintf("client-ssl profile %s, certKeyChain entry %s: certificate %s, key %s, chain %s",
			p.FullPath, e.Name, b.Cert, b.Key, orNone(b.Chain))
		bindingErr = passphraseFree(p, i)
	}
	chain, err := s.readChain(ctx, b)
	if err != nil {
		return description, false, bindingErr, err
	}
	leaf := chain[0]
	description += fmt.Sprintf("; serving %s, valid until %s", describeCert(leaf), leaf.NotAfter.UTC().Format("2006-01-02"))
	return description, true, bindingErr, nil
}
