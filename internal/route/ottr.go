package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Imported is what Ottr's route.json holds besides its routes: the CA
// names assets may use and the managed DNS zones.
type Imported struct {
	Routes                 []Route
	CertificateAuthorities []string
	// Zones are the hosted zone names, lower-case without a trailing dot.
	// Ottr's Route53 zone IDs are dropped: ottr's DNS settings say how to
	// reach each zone.
	Zones []string
}

// ImportOttr converts Ottr's route.json into routes:
//
//	{"platform": {"panos": {"os": {"9.1.0": {
//	     "certificate_authority": {"lets_encrypt": "otter-panos-9x-lets-encrypt"},
//	     "model": ["PA-3220"]}}},
//	   "Windows": "PENDING"},
//	 "certificate_authorities": ["lets_encrypt"],
//	 "hosted_zones": {"example.com": "Z123"}}
//
// Every (platform, os version, CA) becomes one route named after its Ottr
// executor, matching the platform, exactly that os_version, the CA, and the
// models when listed. The driver is inferred from the platform (f5 is
// bigip; Ubuntu and linux-aws-ssm are linux), else from the executor's
// name, else it is the platform's name, which Compile then checks.
//
// A platform marked "PENDING" — Ottr's placeholder for a platform without
// an executor — is an error naming it: importing it would leave its assets
// with a route to nothing. Routes come out sorted by platform, version and
// CA, so the same file always gives the same table.
func ImportOttr(data []byte) (Imported, error) {
	var doc struct {
		Platform               map[string]json.RawMessage `json:"platform"`
		CertificateAuthorities []string                   `json:"certificate_authorities"`
		HostedZones            map[string]string          `json:"hosted_zones"`
		// Read so they are not unknown; ottr has no use for them. Issuer
		// organisations are a CA profile's expected_issuers in ottr.yaml.
		Note                json.RawMessage `json:"note"`
		IssuerOrganizations json.RawMessage `json:"certificate_authority_organization"`
	}
	if err := decodeStrict(data, &doc); err != nil {
		return Imported{}, fmt.Errorf("route: ottr route.json: %s%w", position(data, err), err)
	}
	if doc.Platform == nil {
		return Imported{}, errors.New(`route: ottr route.json: no "platform" object; is this Ottr's route.json?`)
	}

	var imp Imported
	var pending []string
	for _, platform := range sortedKeys(doc.Platform) {
		raw := doc.Platform[platform]
		var marker string
		if json.Unmarshal(raw, &marker) == nil {
			if strings.EqualFold(marker, "PENDING") {
				pending = append(pending, platform)
				continue
			}
			return Imported{}, fmt.Errorf("route: ottr route.json: platform %q: want an object with \"os\", got the string %q", platform, marker)
		}
		routes, err := importPlatform(platform, raw)
		if err != nil {
			return Imported{}, fmt.Errorf("route: ottr route.json: platform %q: %w", platform, err)
		}
		imp.Routes = append(imp.Routes, routes...)
	}
	if len(pending) > 0 {
		subject, verb, pronoun := "platform", "is", "it"
		if len(pending) > 1 {
			subject, verb, pronoun = "platforms", "are", "them"
		}
		return Imported{}, fmt.Errorf("route: ottr route.json: %s %s %s PENDING: Ottr's placeholder for a platform with no executor yet; remove %s from route.json, or route %s to a driver (the script driver runs your own scripts)",
			subject, quoteJoin(pending), verb, pronoun, pronoun)
	}

	for _, ca := range doc.CertificateAuthorities {
		if ca = strings.TrimSpace(ca); ca != "" && !slices.Contains(imp.CertificateAuthorities, ca) {
			imp.CertificateAuthorities = append(imp.CertificateAuthorities, ca)
		}
	}
	for zone := range doc.HostedZones {
		zone = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(zone)), ".")
		if zone != "" && !slices.Contains(imp.Zones, zone) {
			imp.Zones = append(imp.Zones, zone)
		}
	}
	slices.Sort(imp.Zones)
	return imp, nil
}

type ottrPlatform struct {
	OS map[string]json.RawMessage `json:"os"`
}

type ottrOS struct {
	CertificateAuthority map[string]string `json:"certificate_authority"`
	Model                []string          `json:"model"`
}

func importPlatform(platform string, raw json.RawMessage) ([]Route, error) {
	var p ottrPlatform
	if err := decodeStrict(raw, &p); err != nil {
		return nil, err
	}
	var routes []Route
	for _, osVersion := range sortedKeys(p.OS) {
		var o ottrOS
		if err := decodeStrict(p.OS[osVersion], &o); err != nil {
			return nil, fmt.Errorf("os %q: %w", osVersion, err)
		}
		if len(o.CertificateAuthority) == 0 {
			return nil, fmt.Errorf("os %q: no certificate_authority executors", osVersion)
		}
		for _, ca := range sortedKeys(o.CertificateAuthority) {
			executor := o.CertificateAuthority[ca]
			if strings.EqualFold(executor, "PENDING") || executor == "" {
				return nil, fmt.Errorf("os %q: certificate_authority %q has no executor yet (%q); remove it or route it to a driver", osVersion, ca, executor)
			}
			routes = append(routes, Route{
				Name: executor,
				Match: Match{
					Platform:             platform,
					OSVersion:            literalGlob(osVersion),
					CertificateAuthority: ca,
					Models:               slices.Clone(o.Model),
				},
				Driver: ottrDriver(platform, executor),
			})
		}
	}
	return routes, nil
}

// ottrDriver names the ottr driver that does the work of an Ottr platform.
func ottrDriver(platform, executor string) string {
	byPlatform := map[string]string{
		"panos": "panos", "f5": "bigip", "bigip": "bigip", "lighthouse": "lighthouse",
		"linux": "linux", "linux-aws-ssm": "linux", "ubuntu": "linux", "junos": "junos",
	}
	if d, ok := byPlatform[strings.ToLower(platform)]; ok {
		return d
	}
	// Ottr's executors are named otter-<platform>-<os>-<ca>.
	exec := strings.ToLower(executor)
	for _, hint := range []struct{ token, driver string }{
		{"-linux", "linux"}, {"-panos-", "panos"}, {"-f5-", "bigip"},
		{"-lighthouse-", "lighthouse"}, {"-junos-", "junos"},
	} {
		if strings.Contains(exec, hint.token) {
			return hint.driver
		}
	}
	return platform
}

// literalGlob escapes a version so the glob matches it and nothing else,
// as Ottr's exact match did, even if it holds a glob or range character.
func literalGlob(s string) string {
	var b strings.Builder
	for i, c := range s {
		if strings.ContainsRune(`*?[]\`, c) || (i == 0 && strings.ContainsRune("<>=~^", c)) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// position returns "line L, column C: " for a JSON error that carries the
// offset it happened at, so a broken route.json points at the mistake;
// "" for any other. A file that ends too soon is reported on its last
// line.
func position(data []byte, err error) string {
	// The offsets are of the byte just read, the one at fault; the end
	// of a file cut short is the column after its last character.
	var offset int64
	past := 0
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		offset, past = int64(len(data)), 1
	default:
		return ""
	}
	before := data[:min(max(offset, 0), int64(len(data)))]
	line := bytes.Count(before, []byte("\n")) + 1
	column := max(utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:])+past, 1)
	return fmt.Sprintf("line %d, column %d: ", line, column)
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func quoteJoin(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}
