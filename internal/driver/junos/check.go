package junos

import (
	"context"
	"errors"
	"fmt"

	"github.com/ottr-go/ottr/internal/driver"
)

var _ driver.Checker = (*session)(nil)

// Check reports the device's release, the certificate the bind path names
// and what a rotation needs, with read-only RPCs only:
// <get-software-information>, <get-configuration> of the committed
// configuration, <get-pki-local-certificate> and <file-list>.
func (s *session) Check(ctx context.Context) (driver.DeviceReport, error) {
	var report driver.DeviceReport
	login := driver.CapabilityCheck{Capability: driver.CapabilityLogin, Status: driver.CheckOK,
		Detail: fmt.Sprintf("NETCONF over SSH to %s as %q, host key checked against known_hosts; the device announced the JunOS XML API "+
			"and a candidate configuration", s.addr, s.user)}
	if version, model, host, err := s.api.softwareInformation(ctx); err != nil {
		login.Detail += fmt.Sprintf("; its release could not be read (<get-software-information>): %v", err)
	} else {
		report.Software = fmt.Sprintf("JunOS %s (%s, host %s)", version, model, host)
	}

	var binding driver.CapabilityCheck
	var next string
	report.Binding, binding, next = s.checkBinding(ctx)

	keyGen := driver.CapabilityCheck{Capability: driver.CapabilityKeyGeneration, Status: driver.CheckUnknown,
		Detail: fmt.Sprintf("a rotation has the device generate the key pair %s (<generate-pki-key-pair>: RSA 2048 or 4096, ECDSA P-256 "+
			"or P-384); whether the account's login class may run `request security pki` shows only then. The CSR carries one DNS "+
			"name (JunOS's single domain-name), so the asset may have no name beyond its common name", next)}
	csrExport := driver.CapabilityCheck{Capability: driver.CapabilityCSRExport, Status: driver.CheckUnknown,
		Detail: fmt.Sprintf("the device prints the CSR in its answer to <generate-pki-certificate-request> and keeps it in %s; "+
			"no CSR is made without changing the device", s.csrFile(next))}
	imp := s.checkUploadDir(ctx)
	commit := driver.CapabilityCheck{Capability: driver.CapabilityCommit, Status: driver.CheckOK,
		Detail: fmt.Sprintf("the device announced confirmed-commit:1.0: installs commit confirmed %d (confirm_minutes) and "+
			"Finalize confirms after verification; the device undoes an install never confirmed", s.opts.ConfirmMinutes)}
	rollback := driver.CapabilityCheck{Capability: driver.CapabilityRollback, Status: driver.CheckOK,
		Detail: "Rollback loads the binding from before the install, kept in the install handle, commits and reads it back; " +
			"the certificate it returns to stays in its own slot"}
	report.Checks = []driver.CapabilityCheck{login, keyGen, csrExport, imp, binding, commit, rollback}
	return report, nil
}

// checkBinding reads the committed binding at bind_path and the local
// certificate it names. It returns the report's binding line, the check,
// and the slot the next key pair goes into.
func (s *session) checkBinding(ctx context.Context) (string, driver.CapabilityCheck, string) {
	c := driver.CapabilityCheck{Capability: driver.CapabilityBinding}
	steps := s.opts.bindSteps
	parent := steps[:len(steps)-1]
	slots := slotIDs(s.commonName, s.opts.BindPath)
	cfg, err := s.api.getConfiguration(ctx, configurationFilter(parent, caProfilePath))
	if err != nil {
		c.Status, c.Detail = driver.CheckFailed, fmt.Sprintf("the committed configuration could not be read (<get-configuration>): %v", err)
		return s.opts.BindPath + ": unreadable", c, slots[0]
	}
	if cfg.lookup(parent) == nil {
		c.Status = driver.CheckFailed
		c.Detail = fmt.Sprintf("the committed configuration has no %s, where bind_path %s puts the certificate: configure it first "+
			"(for J-Web, `set system services web-management https interface ...`) or set bind_path to a statement that exists",
			pathString(parent), s.opts.BindPath)
		return s.opts.BindPath + ": not configured", c, slots[0]
	}
	b := bindingIn(cfg, steps)
	next := slots[0]
	if b.present && b.value == slots[0] {
		next = slots[1]
	}
	id := b.certificateID()
	if id == "" {
		c.Status = driver.CheckOK
		c.Detail = fmt.Sprintf("%s is configured and binds no certificate yet; a rotation binds %s there", pathString(parent), next)
		return s.opts.BindPath + ": nothing bound", c, next
	}
	line := fmt.Sprintf("%s = %s", s.opts.BindPath, id)
	if b.alternative != "" {
		line = fmt.Sprintf("%s: %s", pathString(parent), b.alternative)
	}
	info, err := s.api.localCertificateInfo(ctx, id)
	var de *deviceError
	switch {
	case errors.As(err, &de):
		c.Status = driver.CheckFailed
		c.Detail = fmt.Sprintf("the configuration binds %s, but the device shows no such local certificate (%v): "+
			"load it or bind another before rotating", id, err)
		return line, c, next
	case err != nil:
		c.Status = driver.CheckFailed
		c.Detail = fmt.Sprintf("local certificate %s could not be read (<get-pki-local-certificate>): %v", id, err)
		return line, c, next
	}
	line += fmt.Sprintf(" (serial %x, %s, valid until %s)", info.Serial, info.Subject, info.NotAfter)
	c.Status = driver.CheckOK
	c.Detail = fmt.Sprintf("%s binds local certificate %s; a rotation binds %s in its place with commit confirmed", pathString(parent), id, next)
	return line, c, next
}

// checkUploadDir checks that upload_dir exists: certificates are
// transferred there before they are loaded.
func (s *session) checkUploadDir(ctx context.Context) driver.CapabilityCheck {
	c := driver.CapabilityCheck{Capability: driver.CapabilityImport}
	if _, err := s.api.listDirectory(ctx, s.opts.UploadDir); err != nil {
		c.Status = driver.CheckFailed
		c.Detail = fmt.Sprintf("upload_dir %s cannot be listed (<file-list>: %v): create it on the device or set upload_dir "+
			"to a directory the account may write", s.opts.UploadDir, err)
		return c
	}
	c.Status = driver.CheckOK
	c.Detail = fmt.Sprintf("upload_dir %s exists; certificates are transferred there (<file-put>), loaded "+
		"(<load-pki-local-certificate>, <load-pki-ca-certificate>) and read back", s.opts.UploadDir)
	return c
}
