package ssm

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
)

// maxTagValue is EC2's limit on a tag value.
const maxTagValue = 256

// parseNameTag parses a name_tag template, tried on a sample asset so a
// misspelt field fails when the route is loaded.
func parseNameTag(text string) (*driver.AssetTemplate, error) {
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("must not be empty; the default is %q", defaultNameTag)
	}
	return driver.ParseAssetTemplate(optNameTag, text, nil)
}

// nameTag applies the route's name_tag template to a.
func nameTag(tmpl *driver.AssetTemplate, a asset.Asset) (string, error) {
	rendered, err := tmpl.Execute(a)
	if err != nil {
		return "", fmt.Errorf("name_tag: %w", err)
	}
	name := strings.TrimSpace(rendered)
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
