package asset

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Rules are the facts outside an asset that decide whether it is valid.
// A nil map or an empty list means "do not check".
type Rules struct {
	// Platforms are the host_platform values the routing table knows.
	Platforms map[string]bool
	// CAs are the configured CA profile names.
	CAs map[string]bool
	// Zones are the managed DNS zones; when set, the common name and every
	// SAN must be in one of them, because only there can ottr answer the
	// DNS-01 challenge.
	Zones []string
}

// FieldError is one broken rule.
type FieldError struct {
	// Field is the JSON name, with an index for list items:
	// "subject_alternative_name[2]".
	Field string `json:"field"`
	// Value is the offending value, shortened; empty for secrets.
	Value string `json:"value,omitempty"`
	// Rule says what the field must be and how to fix it.
	Rule string `json:"rule"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Rule }

// ValidationError lists every rule an asset breaks, so an operator fixes
// a record in one round trip.
type ValidationError struct {
	Errors []FieldError `json:"errors"`
}

// Error lists the broken rules one per line, as "field: rule".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Field returns the first error about field, if any.
func (e *ValidationError) Field(field string) (FieldError, bool) {
	for _, fe := range e.Errors {
		if fe.Field == field {
			return fe, true
		}
	}
	return FieldError{}, false
}

// Limits from RFC 1035 and RFC 5280.
const (
	maxNameLength       = 253
	maxLabelLength      = 63
	maxCommonNameLength = 64 // ub-common-name
	maxValueShown       = 100
)

// dataCenterPattern keeps data center names usable as job queue names.
var dataCenterPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// labelKeyPattern keeps label keys writable as CSV "k=v;k=v" and usable in
// queries.
var labelKeyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$`)

// Validate checks a against every rule and returns a *ValidationError
// listing all that it breaks, or nil. It judges the values as they are:
// call Normalize first to accept upper case, Unicode names and trailing
// dots.
func Validate(a Asset, r Rules) error {
	v := &validator{}

	if a.SystemName == "" {
		v.add("system_name", "", "is required: the device's fully-qualified domain name, like fw1.example.com")
	} else if strings.Contains(a.SystemName, "*") {
		v.add("system_name", a.SystemName, "must name one device, not a wildcard; use its own name, like fw1.example.com")
	} else if rule := checkName(a.SystemName, false); rule != "" {
		v.add("system_name", a.SystemName, rule)
	}

	if a.CommonName == "" {
		v.add("common_name", "", "is required: the name the certificate is for, like fw1.example.com")
	} else if rule := checkName(a.CommonName, true); rule != "" {
		v.add("common_name", a.CommonName, rule)
	} else if len(a.CommonName) > maxCommonNameLength {
		v.add("common_name", a.CommonName, fmt.Sprintf(
			"must be at most %d characters (the certificate common name limit); use a shorter name and put the long one in subject_alternative_name",
			maxCommonNameLength))
	} else if rule := checkZone(a.CommonName, r.Zones); rule != "" {
		v.add("common_name", a.CommonName, rule)
	}

	for i, san := range a.SubjectAlternativeName {
		field := fmt.Sprintf("subject_alternative_name[%d]", i)
		if san == "" {
			v.add(field, "", "must not be empty; remove the empty entry")
		} else if rule := checkName(san, true); rule != "" {
			v.add(field, san, rule)
		} else if rule := checkZone(san, r.Zones); rule != "" {
			v.add(field, san, rule)
		}
	}

	if a.IPAddress == "" {
		v.add("ip_address", "", "is required: the device's IPv4 or IPv6 address, like 192.0.2.10 or 2001:db8::10")
	} else if ip, err := netip.ParseAddr(a.IPAddress); err != nil {
		v.add("ip_address", a.IPAddress, "must be an IPv4 or IPv6 address, like 192.0.2.10 or 2001:db8::10")
	} else if ip.Zone() != "" {
		v.add("ip_address", a.IPAddress, "must not carry an IPv6 zone (%"+ip.Zone()+"); remove it")
	}

	if a.HostPlatform == "" {
		v.add("host_platform", "", "is required: the platform the routing table routes on, like panos or linux")
	} else if r.Platforms != nil && !r.Platforms[a.HostPlatform] {
		v.add("host_platform", a.HostPlatform, oneOf("the routing table", r.Platforms, "add a route for it"))
	}

	if a.CertificateAuthority == "" {
		v.add("certificate_authority", "", "is required: the name of a configured CA profile, like lets_encrypt")
	} else if r.CAs != nil && !r.CAs[a.CertificateAuthority] {
		v.add("certificate_authority", a.CertificateAuthority, oneOf("the configured CA profiles", r.CAs, "add the profile to certificate_authorities"))
	}

	if a.KeyType != "" && !slices.Contains(KeyTypes(), a.KeyType) {
		v.add("key_type", a.KeyType, "must be empty (the CA profile's default) or one of "+strings.Join(KeyTypes(), ", "))
	}

	if a.Port < 0 || a.Port > 65535 {
		v.add("port", fmt.Sprint(a.Port), "must be 0 (meaning 443) or a TCP port from 1 to 65535")
	}

	if a.DataCenter != "" && !dataCenterPattern.MatchString(a.DataCenter) {
		v.add("data_center", a.DataCenter, "must be empty or 1 to 63 lower-case letters, digits, '-' or '_', starting with a letter or digit, like dc1 (it names a job queue)")
	}

	for _, k := range sortedKeys(a.Labels) {
		field := "labels." + k
		if !labelKeyPattern.MatchString(k) {
			v.add(field, k, "key must be 1 to 63 letters, digits, '.', '_', '/' or '-', starting with a letter or digit, like team or env")
		} else if val := a.Labels[k]; strings.ContainsAny(val, ";\r\n") || len(val) > 256 {
			v.add(field, val, "value must be at most 256 characters on one line and contain no ';'")
		}
	}

	if a.FailureCount < 0 {
		v.add("failure_count", fmt.Sprint(a.FailureCount), "must not be negative; set it to 0")
	}
	if w := a.RenewalWindow; w != nil && !w.End.After(w.Start) {
		v.add("renewal_window", "", "end must be after start; clear the window to have it fetched again")
	}

	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: v.errs}
}

type validator struct{ errs []FieldError }

func (v *validator) add(field, value, rule string) {
	if len(value) > maxValueShown {
		value = value[:maxValueShown] + "…"
	}
	v.errs = append(v.errs, FieldError{Field: field, Value: value, Rule: rule})
}

// checkName returns the rule name breaks, or "" when it is a valid
// fully-qualified domain name. wildcardOK allows one "*" as the whole
// leftmost label over at least two labels, as CAs issue them.
func checkName(name string, wildcardOK bool) string {
	const fqdnRule = "must be a fully-qualified domain name of at most 253 characters, like fw1.example.com"
	if len(name) > maxNameLength {
		return fqdnRule + fmt.Sprintf(" (it has %d)", len(name))
	}
	if strings.HasSuffix(name, ".") {
		return fqdnRule + "; remove the trailing dot"
	}
	labels := strings.Split(name, ".")
	if strings.Contains(name, "*") {
		if !wildcardOK {
			return "must not be a wildcard; use one device's name, like fw1.example.com"
		}
		if labels[0] != "*" || strings.Contains(strings.Join(labels[1:], "."), "*") {
			return "may hold one wildcard, and only as the whole leftmost label, like *.example.com"
		}
		if len(labels) < 3 {
			return "wildcard must stand over at least two labels, like *.example.com, not " + name
		}
		labels = labels[1:]
	}
	if len(labels) < 2 {
		return fqdnRule + "; add the domain"
	}
	for _, label := range labels {
		if rule := checkLabel(label); rule != "" {
			return rule
		}
	}
	if isDigits(labels[len(labels)-1]) {
		return fqdnRule + "; an IP address goes in ip_address, not here"
	}
	return ""
}

func checkLabel(label string) string {
	switch {
	case label == "":
		return "must not have an empty label (two dots in a row, or a leading dot); remove the extra dot"
	case len(label) > maxLabelLength:
		return fmt.Sprintf("label %q has %d characters; each label between dots must be at most %d", label, len(label), maxLabelLength)
	case label[0] == '-' || label[len(label)-1] == '-':
		return fmt.Sprintf("label %q must not start or end with a hyphen", label)
	}
	for _, c := range label {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Sprintf("label %q may hold only letters, digits and hyphens; write international names in their xn-- form", label)
		}
	}
	return ""
}

// checkZone returns the rule name breaks when zones are set and name is in
// none of them.
func checkZone(name string, zones []string) string {
	if len(zones) == 0 {
		return ""
	}
	base := strings.ToLower(strings.TrimPrefix(name, "*."))
	for _, z := range zones {
		z = NormalizeName(z)
		if base == z || strings.HasSuffix(base, "."+z) {
			return ""
		}
	}
	return "must be in a managed DNS zone (" + strings.Join(zones, ", ") + "); ottr can only answer the ACME challenge there"
}

func oneOf(source string, known map[string]bool, fix string) string {
	names := sortedSet(known)
	if len(names) == 0 {
		return "is not known: " + source + " has none yet; " + fix
	}
	return "must be one of " + source + ": " + strings.Join(names, ", ") + "; or " + fix
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func sortedSet(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k, ok := range m {
		if ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
