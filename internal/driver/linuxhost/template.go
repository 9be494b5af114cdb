package linuxhost

import (
	"fmt"
	"maps"
	"strings"
	"text/template"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// templatedOptions are the options that may be templates of the asset's
// fields, so one route serves every vhost of a host:
// cert_path: /etc/nginx/ssl/{{.CommonName}}.pem.
var templatedOptions = []string{optCertPath, optKeyPath, optChainPath, optWorkDir, optReloadCommand}

// templateData is what an option's template sees of the asset: the fields
// the linux-ssm driver's name_tag template sees.
type templateData struct {
	SystemName string
	// ShortName is the first label of system_name.
	ShortName  string
	CommonName string
	DataCenter string
	IPAddress  string
}

// templateFields names what a template may use, for the error about one
// that uses something else.
const templateFields = `fields .SystemName, .ShortName, .CommonName, .DataCenter, .IPAddress; labels {{label "key"}}`

// sampleAsset is what a template is applied to when the route is loaded,
// so a misspelt field fails then rather than in the first rotation.
var sampleAsset = asset.Asset{
	SystemName: "web1.example.com", CommonName: "web1.example.com", DataCenter: "dc1", IPAddress: "192.0.2.1",
	Labels: map[string]string{},
}

// isTemplate reports whether an option's value is a template rather than
// the plain value.
func isTemplate(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "{{")
}

// renderOption applies the template text of option name to a. In
// reload_command every value is inserted shell-quoted, so no field or label
// can add a command of its own. A label the asset lacks renders as the
// sample's "label" when sample is set (at load), and is an error otherwise.
func renderOption(name, text string, a asset.Asset, sample bool) (string, error) {
	label := func(key string) (string, error) {
		if v, ok := a.Labels[key]; ok {
			return v, nil
		}
		if sample {
			return "label", nil
		}
		return "", fmt.Errorf("the asset has no label %q", key)
	}
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(template.FuncMap{"label": label}).Parse(text)
	if err != nil {
		return "", fmt.Errorf("is not a valid template: %w", err)
	}
	short, _, _ := strings.Cut(a.SystemName, ".")
	data := templateData{
		SystemName: a.SystemName, ShortName: short, CommonName: a.CommonName,
		DataCenter: a.DataCenter, IPAddress: a.IPAddress,
	}
	if name == optReloadCommand {
		data = templateData{
			SystemName: Quote(data.SystemName), ShortName: Quote(data.ShortName), CommonName: Quote(data.CommonName),
			DataCenter: Quote(data.DataCenter), IPAddress: Quote(data.IPAddress),
		}
		tmpl.Funcs(template.FuncMap{"label": func(key string) (string, error) {
			v, err := label(key)
			return Quote(v), err
		}})
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("cannot be applied to asset %q (%s): %w", a.SystemName, templateFields, err)
	}
	rendered := b.String()
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
