package script

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/ottr-go/ottr/internal/driver"
)

var _ driver.Checker = (*session)(nil)

// Check runs current_certificate, when the route names one, and otherwise
// reads the chain the device serves; no other script runs, since each of
// them changes the device (generate_csr makes a key). So the software is
// not known, and every capability but the binding is known only to be
// configured: the report says so rather than guess.
func (s *session) Check(ctx context.Context) (driver.DeviceReport, error) {
	o := s.opts
	report := driver.DeviceReport{}
	login := driver.CapabilityCheck{Capability: driver.CapabilityLogin, Status: driver.CheckUnknown}
	binding := driver.CapabilityCheck{Capability: driver.CapabilityBinding}

	chain, err := s.CurrentCertificate(ctx)
	if err != nil && ctx.Err() != nil {
		return driver.DeviceReport{}, err
	}
	if o.CurrentCertificate != "" {
		report.Binding = fmt.Sprintf("the chain %s (%s) prints", optCurrentCertificate, o.CurrentCertificate)
		switch {
		case err != nil:
			login.Detail = fmt.Sprintf("the scripts log in themselves; %s failed, see %s", optCurrentCertificate, driver.CapabilityBinding)
			binding.Status, binding.Detail = driver.CheckFailed, fmt.Sprintf("%v: fix the script, or the device's login it uses", err)
		default:
			login.Status = driver.CheckOK
			login.Detail = fmt.Sprintf("%s (%s) reached the device with the credentials", optCurrentCertificate, o.CurrentCertificate)
			binding.Status, binding.Detail = describeChain(chain, optCurrentCertificate+" printed")
		}
	} else {
		report.Binding = fmt.Sprintf("the chain served at %s (the route names no %s)", s.servedAddr(), optCurrentCertificate)
		login.Detail = fmt.Sprintf("the scripts log in themselves, and the route names no %s, the one script a check may run", optCurrentCertificate)
		if err != nil {
			binding.Status, binding.Detail = driver.CheckFailed, fmt.Sprintf("%v: check the asset's ip_address and port, or add a %s script", err, optCurrentCertificate)
		} else {
			binding.Status, binding.Detail = describeChain(chain, "the device serves")
		}
	}

	notRun := func(capability, option, path, what string) driver.CapabilityCheck {
		return driver.CapabilityCheck{Capability: capability, Status: driver.CheckUnknown,
			Detail: fmt.Sprintf("%s (%s) is executable; it is not run in check mode: %s", option, path, what)}
	}
	rollback := notRun(driver.CapabilityRollback, optRollback, o.Rollback, "it would change the device")
	if o.Rollback == "" {
		rollback = driver.CapabilityCheck{Capability: driver.CapabilityRollback, Status: driver.CheckUnsupported,
			Detail: fmt.Sprintf("the route names no %s executable: a failed rotation cannot put the previous certificate back; add one", optRollback)}
	}
	report.Checks = []driver.CapabilityCheck{
		login,
		notRun(driver.CapabilityKeyGeneration, optGenerateCSR, o.GenerateCSR, "it would make a key on the device"),
		notRun(driver.CapabilityCSRExport, optGenerateCSR, o.GenerateCSR, "it prints the CSR of the key it makes"),
		notRun(driver.CapabilityImport, optInstallCertificate, o.InstallCertificate, "it would change the device"),
		binding,
		notRun(driver.CapabilityCommit, optInstallCertificate, o.InstallCertificate, "putting the chain in service is its part"),
		rollback,
	}
	return report, nil
}

// describeChain judges the chain a script printed or the device served.
func describeChain(chain []*x509.Certificate, source string) (status, detail string) {
	if len(chain) == 0 {
		return driver.CheckFailed, source + " no certificate"
	}
	leaf := chain[0]
	return driver.CheckOK, fmt.Sprintf("%s %q (serial %x, expires %s), %d certificate(s) in all",
		source, leaf.Subject.CommonName, leaf.SerialNumber, leaf.NotAfter.UTC().Format("2006-01-02"), len(chain))
}
