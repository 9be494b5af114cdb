package driver

import "context"

// Checker is a Session that can say, without changing anything on the
// device, what the device is and whether it can do each step of a
// rotation: what `ottr device check` reports, so an operator can try a
// real device safely before its first rotation. Every driver's session
// implements it.
type Checker interface {
	Check(ctx context.Context) (DeviceReport, error)
}

// DeviceReport is what a Checker found.
type DeviceReport struct {
	// Software is the device's software and version as the device reports
	// it ("PAN-OS 10.2.4", "BIG-IP 17.1.0", "OpenSSL 3.0.15 on Linux
	// 6.1.0"), or "" when the device does not say.
	Software string `json:"software"`
	// Binding says where the certificate is in service: the profile,
	// service or file paths the route's options point at, as found.
	Binding string `json:"binding"`
	// Checks are the capabilities a rotation needs, in the order a
	// rotation uses them.
	Checks []CapabilityCheck `json:"checks"`
}

// Capability names, in the order a rotation uses them. A driver reports
// those that apply to it.
const (
	CapabilityLogin         = "login"
	CapabilityKeyGeneration = "key generation"
	CapabilityCSRExport     = "CSR export"
	CapabilityImport        = "import"
	CapabilityBinding       = "binding"
	CapabilityCommit        = "commit"
	CapabilityRollback      = "rollback"
)

// Check statuses.
const (
	// CheckOK: the device allows it (the account has the right, the
	// command or API exists, the path is writable).
	CheckOK = "ok"
	// CheckFailed: a rotation would fail at this step; Detail says why
	// and what to fix.
	CheckFailed = "failed"
	// CheckUnknown: it cannot be known without changing the device.
	CheckUnknown = "unknown"
	// CheckUnsupported: the driver does not do this on this device
	// (Lighthouse cannot roll back through its API).
	CheckUnsupported = "unsupported"
)

// CapabilityCheck is one capability of a DeviceReport.
type CapabilityCheck struct {
	Capability string `json:"capability"`
	Status     string `json:"status"`
	// Detail is what was looked at and, when it failed, the fix.
	Detail string `json:"detail"`
}

// Failed reports whether any check failed.
func (r DeviceReport) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == CheckFailed {
			return true
		}
	}
	return false
}
