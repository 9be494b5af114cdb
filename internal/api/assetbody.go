package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
)

// Asset bodies are read the way `ottr asset import` reads Ottr's items
// (asset.ParseOttrItem), so what Ottr's clients send is accepted as is:
// certificate_expiration "None" or an ISO 8601 time without a zone,
// certificate_validation "True" or "False", besides plain JSON values.
// Each field is parsed on its own first, so a body with several bad
// fields gets one error for each, located at "body.<field>".

// assetBody is a parsed asset body and the fields it holds.
type assetBody struct {
	asset asset.Asset
	keys  []string
}

// parseAssetBody reads an asset body, or returns the problem with it.
func parseAssetBody(body []byte) (assetBody, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return assetBody{}, problem(http.StatusBadRequest, "the body must be a JSON object of asset fields",
			fieldError("body", "is empty", nil))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return assetBody{}, problem(http.StatusUnprocessableEntity, "the body must be a JSON object of asset fields",
				fieldError("body", "is "+typeErr.Value+", not an object", nil))
		}
		return assetBody{}, problem(http.StatusBadRequest, "the body is not valid JSON",
			fieldError("body", err.Error(), nil))
	}
	if dec.More() {
		return assetBody{}, problem(http.StatusBadRequest, "the body holds more than one JSON value",
			fieldError("body", "has data after the asset object", nil))
	}
	if fields == nil {
		return assetBody{}, problem(http.StatusUnprocessableEntity, "the body must be a JSON object of asset fields",
			fieldError("body", "is null, not an object", nil))
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []*huma.ErrorDetail
	for _, k := range keys {
		one, err := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		if err != nil {
			errs = append(errs, fieldError("body."+k, "cannot be read: "+err.Error(), nil))
			continue
		}
		if _, err := asset.ParseOttrItem(one); err != nil {
			errs = append(errs, fieldError("body."+k, k+": "+fieldRule(k, err), nil))
		}
	}
	if len(errs) > 0 {
		return assetBody{}, problem(http.StatusUnprocessableEntity, "the asset has fields that cannot be read", errs...)
	}
	a, err := asset.ParseOttrItem(body)
	if err != nil {
		// Every field read alone; together they cannot fail. Answer as if
		// one had, rather than with a 500.
		return assetBody{}, problem(http.StatusUnprocessableEntity, "the asset cannot be read", fieldError("body", err.Error(), nil))
	}
	return assetBody{asset: a, keys: keys}, nil
}

// fieldRule is ParseOttrItem's complaint about field key, without the
// prefix naming the field (the location does that).
func fieldRule(key string, err error) string {
	msg := err.Error()
	prefix := "asset: ottr item: field " + strconv.Quote(key) + ": "
	return strings.TrimPrefix(msg, prefix)
}

// assetFields maps each JSON field name of asset.Asset to its struct index.
var assetFields = sync.OnceValue(func() map[string]int {
	t := reflect.TypeFor[asset.Asset]()
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
})

// isStateField reports whether the field is what ottr records about the
// certificate a rotation installed and the rotations' outcome. The API
// does not set these: they must say what ottr saw.
func isStateField(name string) bool {
	switch name {
	case "certificate_serial", "certificate_issuer", "certificate_not_before", "last_rotation",
		"failure_count", "next_attempt_at", "renewal_window", "renewal_time":
		return true
	}
	return false
}

// mergeAsset returns base with the fields named in b.keys taken from b's
// asset: what a body leaves out keeps its value. State fields may be sent
// back as they are (a record fetched, edited and written back) but not
// changed; each change is an error.
func mergeAsset(base asset.Asset, b assetBody) (asset.Asset, error) {
	out := base.Clone()
	dst := reflect.ValueOf(&out).Elem()
	src := reflect.ValueOf(b.asset)
	var errs []*huma.ErrorDetail
	for _, k := range b.keys {
		i, ok := assetFields()[k]
		if !ok {
			continue
		}
		if isStateField(k) {
			if !sameValue(dst.Field(i).Interface(), src.Field(i).Interface()) {
				errs = append(errs, fieldError("body."+k,
					k+" is recorded by ottr from each rotation and cannot be set through the API; leave it out", nil))
			}
			continue
		}
		dst.Field(i).Set(src.Field(i))
	}
	if len(errs) > 0 {
		return asset.Asset{}, problem(http.StatusUnprocessableEntity, "the asset sets fields only ottr may set", errs...)
	}
	return out, nil
}

// sameValue compares two values of one asset field, times by instant.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case *time.Time:
		y := b.(*time.Time)
		return x == nil && y == nil || x != nil && y != nil && x.Equal(*y)
	case *asset.Window:
		y := b.(*asset.Window)
		return x == nil && y == nil || x != nil && y != nil && x.Start.Equal(y.Start) && x.End.Equal(y.End)
	}
	return reflect.DeepEqual(a, b)
}
