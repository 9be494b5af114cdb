// Package asset defines the inventory record ottr keeps for every device whose
// certificate it rotates, the rules a record must follow, and the fleet state
// (ok, due, rotating, failing, paused, unrouted) an asset is in. It is pure:
// no I/O.
//
// The JSON names are Ottr's, so Ottr's clients and DynamoDB exports read and
// write the same fields; the fields after Ottr's are ottr's additions.
package asset

import "time"

// Asset is one device certificate under management. SystemName is the key.
type Asset struct {
	// Ottr's fields.
	SystemName             string     `json:"system_name"`
	CommonName             string     `json:"common_name"`
	SubjectAlternativeName []string   `json:"subject_alternative_name"`
	CertificateAuthority   string     `json:"certificate_authority"`
	CertificateExpiration  *time.Time `json:"certificate_expiration"`
	CertificateValidation  bool       `json:"certificate_validation"`
	DataCenter             string     `json:"data_center"`
	DeviceModel            string     `json:"device_model"`
	HostPlatform           string     `json:"host_platform"`
	IPAddress              string     `json:"ip_address"`
	Origin                 string     `json:"origin"`
	OSVersion              string     `json:"os_version"`

	// ottr's additions.

	// Port is the TLS port verification connects to; 443 when zero.
	Port int `json:"port,omitempty"`
	// Labels are free-form operator tags.
	Labels map[string]string `json:"labels,omitempty"`
	// Credentials names the secret holding the device's login; empty means
	// the route's or the config's default.
	Credentials string `json:"credentials,omitempty"`
	// KeyType is the key the device generates: rsa2048, rsa3072, rsa4096,
	// ecdsa256 or ecdsa384; empty means the CA profile's default.
	KeyType string `json:"key_type,omitempty"`
	// Paused assets are never rotated by the scheduler.
	Paused bool `json:"paused"`

	CertificateSerial    string     `json:"certificate_serial,omitempty"`
	CertificateIssuer    string     `json:"certificate_issuer,omitempty"`
	CertificateNotBefore *time.Time `json:"certificate_not_before,omitempty"`
	LastRotation         *time.Time `json:"last_rotation,omitempty"`
	// FailureCount counts consecutive failed rotations; a success resets it.
	FailureCount int `json:"failure_count"`
	// NextAttemptAt holds back the scheduler after a failure (backoff).
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	// RenewalWindow is the CA's suggested renewal window (ACME ARI), if known.
	RenewalWindow *Window `json:"renewal_window,omitempty"`
	// RenewalTime is the earliest instant the renewal policy considers the
	// certificate due, ignoring backoff and jitter. It is kept so due assets
	// are found through an index instead of a scan, as cert-manager keeps
	// status.renewalTime; nil means "due now or not yet computed".
	RenewalTime *time.Time `json:"renewal_time,omitempty"`
	// RenewalCertID is the ARI certificate identifier (RFC 9773 §4.1) of
	// the certificate ottr last installed: what the scheduler asks the CA
	// about, and what the next order names in "replaces". Empty when the
	// certificate was not issued through ottr or its CA offers no ARI.
	RenewalCertID string `json:"renewal_cert_id,omitempty"`
	// RenewalCertCA is the CA profile that issued that certificate: only
	// that CA knows it, so only an order to it may say it replaces it.
	RenewalCertCA string `json:"renewal_cert_ca,omitempty"`
	// RenewalCheckAt is when to ask the CA for the renewal window again,
	// as its Retry-After said; nil means at the next scan.
	RenewalCheckAt *time.Time `json:"renewal_check_at,omitempty"`
}

// Window is a time interval [Start, End).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Names returns the common name followed by every SAN that differs from it,
// in order: the names a certificate for a must cover.
func (a *Asset) Names() []string {
	names := make([]string, 0, 1+len(a.SubjectAlternativeName))
	if a.CommonName != "" {
		names = append(names, a.CommonName)
	}
	for _, san := range a.SubjectAlternativeName {
		if san != a.CommonName {
			names = append(names, san)
		}
	}
	return names
}

// TLSPort returns the port verification connects to.
func (a *Asset) TLSPort() int {
	if a.Port == 0 {
		return 443
	}
	return a.Port
}

// Clone returns a deep copy of a, so a caller can change it without touching
// the original's slices, maps or times.
func (a Asset) Clone() Asset {
	c := a
	c.SubjectAlternativeName = append([]string(nil), a.SubjectAlternativeName...)
	if a.Labels != nil {
		c.Labels = make(map[string]string, len(a.Labels))
		for k, v := range a.Labels {
			c.Labels[k] = v
		}
	}
	c.CertificateExpiration = cloneTime(a.CertificateExpiration)
	c.CertificateNotBefore = cloneTime(a.CertificateNotBefore)
	c.LastRotation = cloneTime(a.LastRotation)
	c.NextAttemptAt = cloneTime(a.NextAttemptAt)
	c.RenewalTime = cloneTime(a.RenewalTime)
	c.RenewalCheckAt = cloneTime(a.RenewalCheckAt)
	if a.RenewalWindow != nil {
		w := *a.RenewalWindow
		c.RenewalWindow = &w
	}
	return c
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// Key types a device can be asked to generate.
const (
	KeyRSA2048  = "rsa2048"
	KeyRSA3072  = "rsa3072"
	KeyRSA4096  = "rsa4096"
	KeyECDSA256 = "ecdsa256"
	KeyECDSA384 = "ecdsa384"
)

// KeyTypes returns every supported key type, in the order they are
// documented. The slice is the caller's to keep or change.
func KeyTypes() []string {
	return []string{KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyECDSA256, KeyECDSA384}
}
