// Package route is ottr's routing table: which driver, with which options,
// rotates an asset. Routes are read from ottr.yaml or from Ottr's route.json;
// the first route that matches an asset wins.
package route

import (
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
)

// Route sends matching assets to a driver.
type Route struct {
	// Name is optional and shown in explanations; default "route N".
	Name   string `yaml:"name,omitempty" json:"name,omitempty"`
	Match  Match  `yaml:"match" json:"match"`
	Driver string `yaml:"driver" json:"driver"`
	// Options are the driver's settings, checked by the driver when the
	// table is loaded.
	Options map[string]any `yaml:"options,omitempty" json:"options,omitempty"`
	// FallbackIssuers are CA profiles tried in turn when the asset's CA
	// cannot be reached or fails on its side (not when it refuses the
	// order). Empty, the default: no fallback.
	FallbackIssuers []string `yaml:"fallback_issuers,omitempty" json:"fallback_issuers,omitempty"`
	// Host names the machine the route's assets live on, for taking it in
	// turns: the rotations with the same host change their devices one
	// turn at a time, in every process. A template of asset fields, like
	// the drivers' options ("{{.IPAddress}}", "{{label \"host\"}}").
	// Empty, the default: the address and port of the driver's management
	// channel.
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
}

// HostTemplate parses r's host setting; nil when it is not set. A template
// that renders nothing for a sample asset is refused: every asset it
// rendered nothing for would be one machine.
func (r Route) HostTemplate() (*driver.AssetTemplate, error) {
	if strings.TrimSpace(r.Host) == "" {
		return nil, nil
	}
	t, err := driver.ParseAssetTemplate("host", r.Host, nil)
	if err == nil && strings.TrimSpace(t.Sample()) == "" {
		err = fmt.Errorf("renders nothing for asset %q: name the machine, such as {{.IPAddress}}", driver.TemplateSampleName)
	}
	return t, err
}

// Match selects assets. Empty fields match anything.
type Match struct {
	// Platform is the asset's host_platform, exactly.
	Platform string `yaml:"platform,omitempty" json:"platform,omitempty"`
	// OSVersion is a glob ("9.*", "9.1.?") or, when it starts with an
	// operator, a version range (">=9.1 <10", "^9.1 || ~10.2"); ranges
	// compare the numeric prefix of the asset's version, so PAN-OS
	// "9.1.0-h3" is 9.1.0 and JunOS "18.2R3-S1" is 18.2.
	OSVersion string `yaml:"os_version,omitempty" json:"os_version,omitempty"`
	// CertificateAuthority is the asset's certificate_authority, exactly.
	CertificateAuthority string `yaml:"certificate_authority,omitempty" json:"certificate_authority,omitempty"`
	// Models, if set, must contain the asset's device_model.
	Models []string `yaml:"models,omitempty" json:"models,omitempty"`
	// DataCenter is the asset's data_center, compared ignoring case.
	DataCenter string `yaml:"data_center,omitempty" json:"data_center,omitempty"`
}
