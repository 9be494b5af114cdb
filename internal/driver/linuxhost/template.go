package linuxhost

import (
	"fmt"
	"maps"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// templatedOptions are the options that may be templates of the asset's
// fields, so one route serves every vhost of a host:
// cert_path: /etc/nginx/ssl/{{.CommonName}}.pem.
var templatedOptions = []string{optCertPath, optKeyPath, optChainPath, optWorkDir, optReloadCommand}

// isTemplate reports whether an option's value is a template rather than
// the plain value.
func isTemplate(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "{{")
}

// renderOption applies the template text of option name to a, or to the
// sample asset with sample (at load). In reload_command every value is
// inserted shell-quoted, so no field or label can add a command of its own.
func renderOption(name, text string, a asset.Asset, sample bool) (string, error) {
	var quote func(string) string
	if name == optReloadCommand {
		quote = Quote
	}
	tmpl, err := driver.ParseAssetTemplate(name, text, quote)
	if err != nil {
		return "", err
	}
	rendered := tmpl.Sample()
	if !sample {
		if rendered, err = tmpl.Execute(a); err != nil {
			return "", err
		}
	}
	if name != optReloadCommand && strings.Contains("/"+rendered+"/", "/../") {
		return "", fmt.Errorf("gives %q for asset %q: a path rendered from the asset must not climb out of its directory with \"..\"", rendered, a.SystemName)
	}
	return rendered, nil
}

// renderOptions returns raw with each templated option applied to a (to
// the sample asset with sample); a template that fails is reported with
// bad and left as it is.
func renderOptions(raw map[string]any, a asset.Asset, sample bool, bad driver.BadOption) map[string]any {
	var rendered map[string]any
	for _, name := range templatedOptions {
		v, ok := raw[name]
		if !ok || !isTemplate(v) {
			continue
		}
		if rendered == nil {
			rendered = maps.Clone(raw)
		}
		s, err := renderOption(name, v.(string), a, sample)
		if err != nil {
			bad(name, "%v", err)
			continue
		}
		rendered[name] = s
	}
	if rendered == nil {
		return raw
	}
	return rendered
}

// ForAsset returns a route's options with every templated option (cert_path,
// key_path, chain_path, work_dir, reload_command) applied to asset a, for a
// driver's Open; its ParseOptions then checks the rendered values as it
// checks plain ones. Options without templates come back as they are.
func ForAsset(raw map[string]any, a asset.Asset) (map[string]any, error) {
	var problems driver.OptionProblems
	rendered := renderOptions(raw, a, false, problems.Add)
	if err := problems.Err(); err != nil {
		return nil, err
	}
	return rendered, nil
}
