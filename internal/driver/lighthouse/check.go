package lighthouse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

var _ driver.Checker = (*session)(nil)

// Check reports the appliance's firmware, the certificate its web server
// is configured with and serves, and what a rotation needs, with read-only
// calls only: GET /system/version, GET /services/https, a TLS handshake, and
// the CSR download when a CSR is pending.
func (s *session) Check(ctx context.Context) (driver.DeviceReport, error) {
	var report driver.DeviceReport
	login := driver.CapabilityCheck{Capability: driver.CapabilityLogin, Status: driver.CheckOK,
		Detail: fmt.Sprintf("logged in to the API at %s as %q over TLS verified for %s", s.addr, s.client.username, s.tlsConfig.ServerName)}
	if v, err := s.client.version(ctx); err != nil {
		login.Detail += fmt.Sprintf("; the firmware version could not be read (GET /system/version: %v)", err)
	} else {
		report.Software = "Opengear Lighthouse " + v.FirmwareVersion
		if v.RESTAPIVersion != "" {
			report.Software += " (REST API " + v.RESTAPIVersion + ")"
		}
	}

	keyGen := driver.CapabilityCheck{Capability: driver.CapabilityKeyGeneration, Status: driver.CheckUnknown,
		Detail: "the appliance makes the RSA key when asked for a CSR (PUT /services/https, csr \"new\"); " +
			"whether the account may, and whether this release makes every key length and takes " + s.sanFieldNote() +
			", shows only then: the driver checks the CSR it gets and says what to change"}
	csrExport := driver.CapabilityCheck{Capability: driver.CapabilityCSRExport, Status: driver.CheckUnknown,
		Detail: "no CSR is pending, so the download (GET /services/https?zip=true) cannot be tried without making one"}
	imp := driver.CapabilityCheck{Capability: driver.CapabilityImport, Status: driver.CheckUnknown,
		Detail: "an upload (PUT /services/https, cert) is tried only with a certificate for the pending CSR; " +
			"before it the driver checks the chain verifies with ca_file for " + s.tlsConfig.ServerName}
	binding := driver.CapabilityCheck{Capability: driver.CapabilityBinding}
	rollback := driver.CapabilityCheck{Capability: driver.CapabilityRollback, Status: driver.CheckUnsupported,
		Detail: ErrRollbackUnsupported.Error()}

	details, err := s.client.https(ctx)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusForbidden || apiErr.hasCode(codePermission)):
		denied := fmt.Sprintf("the account %q may not use the HTTPS certificate settings (GET /services/https: %v): "+
			"log in with an account whose role grants them, such as an administrator", s.client.username, apiErr)
		for _, c := range []*driver.CapabilityCheck{&keyGen, &csrExport, &imp, &binding} {
			c.Status, c.Detail = driver.CheckFailed, denied
		}
		report.Binding = "the web server certificate (services/https): not readable by this account"
	case err != nil:
		binding.Status = driver.CheckFailed
		binding.Detail = fmt.Sprintf("the certificate details could not be read (GET /services/https): %v", err)
		report.Binding = "the web server certificate (services/https): unreadable"
	default:
		report.Binding, binding = s.checkBinding(ctx, details)
		if details.pendingCSR() {
			csrExport = s.checkPendingCSR(ctx)
		}
	}
	report.Checks = []driver.CapabilityCheck{login, keyGen, csrExport, imp, binding, rollback}
	return report, nil
}

// sanFieldNote names what the route makes the CSR form take.
func (s *session) sanFieldNote() string {
	if s.opts.SANs {
		return "subject_alternative_names (sans: true; not in the v3.7 reference)"
	}
	return "the common name alone (sans: false)"
}

// checkBinding describes the configured certificate and compares it with
// what the web server serves over verified TLS.
func (s *session) checkBinding(ctx context.Context, details *httpsDetails) (string, driver.CapabilityCheck) {
	c := driver.CapabilityCheck{Capability: driver.CapabilityBinding}
	chain, err := driver.ParseCertificates([]byte(details.Cert))
	if err != nil || len(chain) == 0 {
		c.Status = driver.CheckFailed
		c.Detail = fmt.Sprintf("the configured certificate (https.cert of GET /services/https) cannot be read (%v); the appliance answered: %s",
			err, quote([]byte(details.Cert)))
		return "the web server certificate (services/https): unreadable", c
	}
	leaf := chain[0]
	binding := fmt.Sprintf("the web server certificate (services/https): CN %s, serial %x, valid until %s, chain of %d",
		leaf.Subject.CommonName, leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339), len(chain))
	if details.pendingCSR() {
		binding += "; a CSR is pending (the next rotation replaces it)"
	}
	served, err := s.servedChain(ctx)
	switch {
	case err != nil:
		c.Status = driver.CheckFailed
		c.Detail = fmt.Sprintf("a verified TLS handshake with %s for %s failed: %v; check ca_file and tls_server_name", s.addr, s.tlsConfig.ServerName, err)
	case !served[0].Equal(leaf):
		c.Status = driver.CheckFailed
		c.Detail = fmt.Sprintf("the web server serves serial %x, but is configured with serial %x: a restart of its web server is pending or failed; "+
			"check the appliance before rotating", served[0].SerialNumber, leaf.SerialNumber)
	default:
		c.Status = driver.CheckOK
		c.Detail = fmt.Sprintf("the configured certificate is the one served at %s (%d certificates), verified for %s; "+
			"an upload replaces it and restarts the web server", s.addr, len(served), s.tlsConfig.ServerName)
	}
	return binding, c
}

// checkPendingCSR tries the CSR download, which only reads, while a CSR is
// pending.
func (s *session) checkPendingCSR(ctx context.Context) driver.CapabilityCheck {
	c := driver.CapabilityCheck{Capability: driver.CapabilityCSRExport}
	csr, err := s.pendingCSR(ctx)
	if err != nil {
		c.Status, c.Detail = driver.CheckFailed, err.Error()
		return c
	}
	c.Status = driver.CheckOK
	c.Detail = fmt.Sprintf("downloaded and read the pending CSR (GET /services/https?zip=true) for %s with SANs [%s]",
		csr.Subject.CommonName, strings.Join(csr.DNSNames, ", "))
	return c
}
