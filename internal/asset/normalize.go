package asset

import (
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// Normalize puts a in the canonical form ottr stores, so the same device
// entered twice with different spelling is one record and Validate judges
// what will be kept:
//
//   - spaces are trimmed from every string, SAN and label;
//   - system_name, common_name and every SAN are lower-cased, converted to
//     their ASCII (punycode) form and stripped of a trailing dot;
//   - SANs lose empty entries and duplicates (first one kept) and always
//     start with the common name;
//   - ip_address is written in its canonical form when it parses;
//   - data_center and key_type are lower-cased (a data center names a job
//     queue, and queue names are lower-case);
//   - origin defaults to "API", as Ottr's did.
//
// A name that cannot be converted is left lower-cased for Validate to
// report, so Normalize never loses what the operator typed.
func Normalize(a *Asset) {
	a.SystemName = NormalizeName(a.SystemName)
	a.CommonName = NormalizeName(a.CommonName)

	sans := make([]string, 0, len(a.SubjectAlternativeName)+1)
	if a.CommonName != "" {
		sans = append(sans, a.CommonName)
	}
	for _, san := range a.SubjectAlternativeName {
		san = NormalizeName(san)
		if san != "" && !slices.Contains(sans, san) {
			sans = append(sans, san)
		}
	}
	if len(sans) > 0 || a.SubjectAlternativeName != nil {
		a.SubjectAlternativeName = sans
	}

	a.CertificateAuthority = strings.TrimSpace(a.CertificateAuthority)
	a.DataCenter = strings.ToLower(strings.TrimSpace(a.DataCenter))
	a.DeviceModel = strings.TrimSpace(a.DeviceModel)
	a.HostPlatform = strings.TrimSpace(a.HostPlatform)
	a.IPAddress = strings.TrimSpace(a.IPAddress)
	if ip, err := netip.ParseAddr(a.IPAddress); err == nil {
		a.IPAddress = ip.String()
	}
	a.Origin = strings.TrimSpace(a.Origin)
	if a.Origin == "" {
		a.Origin = "API"
	}
	a.OSVersion = strings.TrimSpace(a.OSVersion)
	a.Credentials = strings.TrimSpace(a.Credentials)
	a.KeyType = strings.ToLower(strings.TrimSpace(a.KeyType))
	a.CertificateSerial = strings.TrimSpace(a.CertificateSerial)
	a.CertificateIssuer = strings.TrimSpace(a.CertificateIssuer)

	if a.Labels != nil {
		// Walk the keys in order so two keys that trim to the same one
		// resolve the same way every time.
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		labels := make(map[string]string, len(a.Labels))
		for _, k := range keys {
			labels[strings.TrimSpace(k)] = strings.TrimSpace(a.Labels[k])
		}
		a.Labels = labels
	}
}

// NormalizeName returns a DNS name trimmed, lower-cased, in ASCII
// (IDNA/punycode) form and without a trailing dot. A leading "*." wildcard
// label is kept. A name IDNA rejects is returned lower-cased only, so
// validation can say what is wrong with it.
func NormalizeName(name string) string {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if name == "" {
		return ""
	}
	prefix, rest := "", name
	// IDNA's lookup profile rejects "*", so convert what follows it.
	if strings.HasPrefix(name, "*.") {
		prefix, rest = "*.", name[2:]
	}
	ascii, err := idna.Lookup.ToASCII(rest)
	if err != nil {
		return name
	}
	return prefix + ascii
}
