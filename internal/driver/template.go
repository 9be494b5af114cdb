package driver

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/ottr-go/ottr/internal/asset"
)

// AssetTemplateFields names what a route option's template of asset fields
// may use, for errors about one that uses something else.
const AssetTemplateFields = `fields .SystemName, .ShortName, .CommonName, .DataCenter, .IPAddress; labels {{label "key"}}`

// assetFields is what a template sees of an asset.
type assetFields struct {
	SystemName string
	// ShortName is the first label of system_name (Ottr's Name tag).
	ShortName  string
	CommonName string
	DataCenter string
	IPAddress  string
}

// sampleAsset is what a template is applied to when its route is loaded,
// so a misspelt field fails then rather than in the first rotation. Its
// labels are any the template asks for, each "label".
var sampleAsset = asset.Asset{
	SystemName: TemplateSampleName, CommonName: TemplateSampleName, DataCenter: "dc1", IPAddress: "192.0.2.1",
}

// TemplateSampleName is the system and common name of the asset a template
// is tried on when its route is loaded (AssetTemplate.Sample).
const TemplateSampleName = "web1.example.com"

// AssetTemplate is a route option's template of an asset's fields, such as
// cert_path: /etc/nginx/ssl/{{.CommonName}}.pem or the SSM driver's
// name_tag: one route then serves every vhost or instance.
type AssetTemplate struct {
	tmpl *template.Template
	// quote, when set, is applied to every value the template inserts (a
	// shell command's template quotes them, so no field or label can add
	// a command of its own).
	quote func(string) string
	// sample is the template applied to the sample asset.
	sample string
}

// ParseAssetTemplate parses text as the template of option name and applies
// it once to a sample asset, so a bad template or field is refused when the
// route is loaded. quote, when not nil, is applied to every inserted value.
func ParseAssetTemplate(name, text string, quote func(string) string) (*AssetTemplate, error) {
	tmpl, err := template.New(name).Option("missingkey=error").
		Funcs(template.FuncMap{"label": func(string) (string, error) { return "", nil }}).
		Parse(text)
	if err != nil {
		return nil, fmt.Errorf("is not a valid template: %w", err)
	}
	t := &AssetTemplate{tmpl: tmpl, quote: quote}
	if t.sample, err = t.execute(sampleAsset, true); err != nil {
		return nil, err
	}
	return t, nil
}

// Sample is the template applied to a sample asset (web1.example.com, its
// labels all "label"), for checking what it renders to when the route is
// loaded.
func (t *AssetTemplate) Sample() string { return t.sample }

// Execute applies the template to a. A label a lacks is an error.
func (t *AssetTemplate) Execute(a asset.Asset) (string, error) { return t.execute(a, false) }

func (t *AssetTemplate) execute(a asset.Asset, sample bool) (string, error) {
	quote := t.quote
	if quote == nil {
		quote = func(s string) string { return s }
	}
	tmpl, err := t.tmpl.Clone()
	if err != nil {
		return "", err
	}
	tmpl.Funcs(template.FuncMap{"label": func(key string) (string, error) {
		v, ok := a.Labels[key]
		switch {
		case ok:
			return quote(v), nil
		case sample:
			return quote("label"), nil
		}
		return "", fmt.Errorf("the asset has no label %q", key)
	}})
	short, _, _ := strings.Cut(a.SystemName, ".")
	data := assetFields{
		SystemName: quote(a.SystemName), ShortName: quote(short), CommonName: quote(a.CommonName),
		DataCenter: quote(a.DataCenter), IPAddress: quote(a.IPAddress),
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("cannot be applied to asset %q (%s): %w", a.SystemName, AssetTemplateFields, err)
	}
	return b.String(), nil
}
