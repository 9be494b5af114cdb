package ottrimport

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/ottr-go/ottr/internal/route"
)

// Drivers of the platforms Ottr shipped, by ottr's driver names.
const (
	driverSSM   = "linux-ssm"
	driverBIGIP = "bigip"
)

// ottrPaths are where Ottr's Linux container left a host's files
// (/opt/otter/certs), which the SSM routes keep using.
const ottrCertDir = "/opt/otter/certs"

// readRouteJSON converts Ottr's route.json to routes, setting aside the
// platforms Ottr marked "PENDING" (returned by name) instead of refusing
// them as `ottr route import` does: the import reports them.
func readRouteJSON(data []byte) (route.Imported, []string, error) {
	imp, err := route.ImportOttr(data)
	if err == nil {
		return imp, nil, nil
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil {
		return route.Imported{}, nil, err
	}
	var platforms map[string]json.RawMessage
	if json.Unmarshal(doc["platform"], &platforms) != nil {
		return route.Imported{}, nil, err
	}
	var pending []string
	for name, raw := range platforms {
		var marker string
		if json.Unmarshal(raw, &marker) == nil && strings.EqualFold(marker, "PENDING") {
			pending = append(pending, name)
			delete(platforms, name)
		}
	}
	if len(pending) == 0 {
		return route.Imported{}, nil, err
	}
	slices.Sort(pending)
	// The rest once more, without them; its errors name the platform and
	// version at fault.
	if doc["platform"], err = json.Marshal(platforms); err != nil {
		return route.Imported{}, nil, err
	}
	rest, err := json.Marshal(doc)
	if err != nil {
		return route.Imported{}, nil, err
	}
	imp, err = route.ImportOttr(rest)
	return imp, pending, err
}

// ottrDriver is the driver of an Ottr platform's routes: route.ImportOttr's
// choice, except that Ottr's Linux platform reached its hosts through AWS
// Systems Manager, so its routes take the SSM driver.
func ottrDriver(r route.Route) string {
	if r.Driver == "linux" {
		return driverSSM
	}
	return r.Driver
}

// defaultOptions are the route options that make a driver do what Ottr's
// container for the platform did.
func defaultOptions(driver, region string) map[string]any {
	switch driver {
	case driverBIGIP:
		// Ottr's F5 container replaced the management interface's
		// certificate (httpd's server.crt).
		return map[string]any{"target": "httpd"}
	case driverSSM:
		o := map[string]any{
			"cert_path":  ottrCertDir + "/fullchain.cer",
			"chain_path": ottrCertDir + "/ca.cer",
			"key_path":   ottrCertDir + "/{{.CommonName}}.key",
			// Ottr's post-hooks (/opt/otter/hooks/post, which the driver
			// runs too) reloaded the services.
			"reload_command": "true",
		}
		if region != "" {
			o["region"] = region
		}
		return o
	}
	return map[string]any{}
}

// withOptions returns base with extra laid over it; an extra value of null
// removes the option.
func withOptions(base, extra map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range extra {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}
