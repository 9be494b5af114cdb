package ssm

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/ottr-go/ottr/internal/asset"
)

// nameTagData is what a name_tag template sees of the asset.
type nameTagData struct {
	SystemName string
	// ShortName is the first label of system_name: Ottr's Name tag.
	ShortName  string
	CommonName string
	DataCenter string
	IPAddress  string
}

func newNameTagData(a asset.Asset) nameTagData {
	short, _, _ := strings.Cut(a.SystemName, ".")
	return nameTagData{
		SystemName: a.SystemName,
		ShortName:  short,
		CommonName: a.CommonName,
		DataCenter: a.DataCenter,
		IPAddress:  a.IPAddress,
	}
}

// maxTagValue is EC2's limit on a tag value.
const maxTagValue = 256

// parseNameTag parses a name_tag template and applies it once to a sample
// asset, so a misspelt field fails when the route is loaded rather than in
// the first rotation.
func parseNameTag(text string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("must not be empty; the default is %q", defaultNameTag)
	}
	tmpl, err := template.New("name_tag").Option("missingkey=error").
		Funcs(template.FuncMap{"label": func(string) (string, error) { return "label", nil }}).
		Parse(text)
	if err != nil {
		return nil, fmt.Errorf("is not a valid template: %w", err)
	}
	sample := newNameTagData(asset.Asset{
		SystemName: "web1.example.com", CommonName: "web1.example.com", DataCenter: "dc1", IPAddress: "192.0.2.1",
	})
	if err := tmpl.Execute(&strings.Builder{}, sample); err != nil {
		return nil, fmt.Errorf("cannot be applied to an asset (fields: .SystemName, .ShortName, .CommonName, "+
			".DataCenter, .IPAddress; labels: {{label \"key\"}}): %w", err)
	}
	return tmpl, nil
}

// nameTag applies the route's name_tag template to a.
func nameTag(tmpl *template.Template, a asset.Asset) (string, error) {
	t, err := tmpl.Clone()
	if err != nil {
		return "", err
	}
	t.Funcs(template.FuncMap{"label": func(key string) (string, error) {
		v, ok := a.Labels[key]
		if !ok {
			return "", fmt.Errorf("the asset has no label %q", key)
		}
		return v, nil
	}})
	var b strings.Builder
	if err := t.Execute(&b, newNameTagData(a)); err != nil {
		return "", fmt.Errorf("name_tag: %w", err)
	}
	name := strings.TrimSpace(b.String())
	switch {
	case name == "":
		return "", fmt.Errorf("name_tag gives an empty Name tag for asset %q", a.SystemName)
	case len(name) > maxTagValue:
		return "", fmt.Errorf("name_tag gives a Name tag longer than EC2's %d characters for asset %q", maxTagValue, a.SystemName)
	}
	return name, nil
}

// instanceIDPattern matches EC2 instance IDs and the mi- IDs of managed
// (hybrid) instances, which SSM reaches too.
var instanceIDPattern = regexp.MustCompile(`^(i-[0-9a-f]{8}([0-9a-f]{9})?|mi-[0-9a-f]{17})$`)

// instanceIDFromAsset reads the instance ID from the asset field
// instance_id_field names.
func instanceIDFromAsset(field string, a asset.Asset) (string, error) {
	var id string
	if key, ok := strings.CutPrefix(field, "labels."); ok {
		id = a.Labels[key]
	} else {
		id = a.SystemName
	}
	if id == "" {
		return "", fmt.Errorf("asset %q has no %s to take the instance ID from", a.SystemName, field)
	}
	if !instanceIDPattern.MatchString(id) {
		return "", fmt.Errorf("asset %q: %s is %q, not an instance ID such as i-0123456789abcdef0", a.SystemName, field, id)
	}
	return id, nil
}

// findInstance returns the ID of the instance the session works on.
func (d *Driver) findInstance(ctx context.Context, c *awsClient, o *options, a asset.Asset) (string, error) {
	if o.InstanceIDFrom == fromAssetField {
		return instanceIDFromAsset(o.InstanceIDField, a)
	}
	name, err := nameTag(o.NameTag, a)
	if err != nil {
		return "", err
	}
	return c.runningInstanceByName(ctx, name)
}
