package asset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseOttrItem reads one asset as Ottr kept it in DynamoDB, so an Ottr
// inventory moves over unchanged. It accepts plain JSON, where Python wrote
// certificate_expiration "None" and certificate_validation "True", and
// DynamoDB's typed JSON ({"S": "…"}, {"L": […]}, {"SS": […]}, {"N": "…"},
// {"BOOL": …}, {"NULL": true}, {"M": {…}}), field by field. Besides Ottr's
// fields it reads ottr's own, so ottr's JSON export reads back too.
//
// Times may be "None", empty or null (unknown), ISO 8601 without a zone
// (taken as UTC, which is what Ottr wrote) or with one. A field ottr does
// not know is an error naming it, so nothing is dropped silently.
//
// The asset is returned as read; call Normalize and Validate before
// storing it.
func ParseOttrItem(data []byte) (Asset, error) {
	var item map[string]any
	if err := decodeJSON(data, &item); err != nil {
		return Asset{}, fmt.Errorf("asset: ottr item: %w", err)
	}
	a, err := assetFromItem(item)
	if err != nil {
		return Asset{}, fmt.Errorf("asset: ottr item: %w", err)
	}
	return a, nil
}

// ParseOttrItems reads many Ottr items: a JSON array of items, the output
// of `aws dynamodb scan` ({"Items": […], "Count": …}), or one item alone.
// An error names the item by its position, counting from 1.
func ParseOttrItems(data []byte) ([]Asset, error) {
	var doc any
	if err := decodeJSON(data, &doc); err != nil {
		return nil, fmt.Errorf("asset: ottr items: %w", err)
	}
	var items []any
	switch d := doc.(type) {
	case []any:
		items = d
	case map[string]any:
		if scanned, ok := d["Items"]; ok {
			list, ok := scanned.([]any)
			if !ok {
				return nil, errors.New(`asset: ottr items: "Items" must be a list`)
			}
			items = list
		} else {
			items = []any{d}
		}
	default:
		return nil, errors.New(`asset: ottr items: want a JSON array of items or an object with "Items"`)
	}
	assets := make([]Asset, 0, len(items))
	for i, it := range items {
		obj, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("asset: ottr items: item %d: want a JSON object", i+1)
		}
		a, err := assetFromItem(obj)
		if err != nil {
			return nil, fmt.Errorf("asset: ottr items: item %d: %w", i+1, err)
		}
		assets = append(assets, a)
	}
	return assets, nil
}

func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("read JSON: %w", err)
	}
	if dec.More() {
		return errors.New("read JSON: unexpected data after the first value")
	}
	return nil
}

func assetFromItem(item map[string]any) (Asset, error) {
	var a Asset
	// Sorted, so the first error reported is the same on every run.
	names := make([]string, 0, len(item))
	for name := range item {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v, err := untype(item[name])
		if err != nil {
			return Asset{}, fmt.Errorf("field %q: %w", name, err)
		}
		if err := setField(&a, name, v); err != nil {
			return Asset{}, fmt.Errorf("field %q: %w", name, err)
		}
	}
	return a, nil
}

// isDynamoType reports whether key is a type descriptor of DynamoDB's
// typed JSON.
func isDynamoType(key string) bool {
	switch key {
	case "S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS":
		return true
	}
	return false
}

// untype turns DynamoDB's typed JSON into plain values; plain values pass
// through.
func untype(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 1 {
			for key, inner := range t {
				if isDynamoType(key) {
					return untypeDynamo(key, inner)
				}
			}
		}
		out := make(map[string]any, len(t))
		for k, inner := range t {
			u, err := untype(inner)
			if err != nil {
				return nil, err
			}
			out[k] = u
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, inner := range t {
			u, err := untype(inner)
			if err != nil {
				return nil, err
			}
			out[i] = u
		}
		return out, nil
	}
	return v, nil
}

func untypeDynamo(key string, v any) (any, error) {
	switch key {
	case "S":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "N":
		if s, ok := v.(string); ok {
			return json.Number(s), nil
		}
	case "BOOL":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "NULL":
		return nil, nil
	case "L", "SS", "NS":
		list, ok := v.([]any)
		if !ok {
			break
		}
		out := make([]any, len(list))
		for i, inner := range list {
			if key == "NS" {
				if s, ok := inner.(string); ok {
					inner = json.Number(s)
				}
			}
			u, err := untype(inner)
			if err != nil {
				return nil, err
			}
			out[i] = u
		}
		return out, nil
	case "M":
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		out := make(map[string]any, len(m))
		for k, inner := range m {
			u, err := untype(inner)
			if err != nil {
				return nil, err
			}
			out[k] = u
		}
		return out, nil
	case "B", "BS":
		return nil, fmt.Errorf("binary DynamoDB values (%s) are not asset data", key)
	}
	return nil, fmt.Errorf("malformed DynamoDB %q value", key)
}

func setField(a *Asset, name string, v any) error {
	var err error
	switch name {
	case "system_name":
		a.SystemName, err = asString(v)
	case "common_name":
		a.CommonName, err = asString(v)
	case "subject_alternative_name":
		a.SubjectAlternativeName, err = asStrings(v)
	case "certificate_authority":
		a.CertificateAuthority, err = asString(v)
	case "certificate_expiration":
		a.CertificateExpiration, err = asTime(v)
	case "certificate_validation":
		a.CertificateValidation, err = asBool(v)
	case "data_center":
		a.DataCenter, err = asString(v)
	case "device_model":
		a.DeviceModel, err = asString(v)
	case "host_platform":
		a.HostPlatform, err = asString(v)
	case "ip_address":
		a.IPAddress, err = asString(v)
	case "origin":
		a.Origin, err = asString(v)
	case "os_version":
		a.OSVersion, err = asString(v)
	case "port":
		a.Port, err = asInt(v)
	case "labels":
		a.Labels, err = asLabels(v)
	case "credentials":
		a.Credentials, err = asString(v)
	case "key_type":
		a.KeyType, err = asString(v)
	case "paused":
		a.Paused, err = asBool(v)
	case "certificate_serial":
		a.CertificateSerial, err = asString(v)
	case "certificate_issuer":
		a.CertificateIssuer, err = asString(v)
	case "certificate_not_before":
		a.CertificateNotBefore, err = asTime(v)
	case "last_rotation":
		a.LastRotation, err = asTime(v)
	case "failure_count":
		a.FailureCount, err = asInt(v)
	case "next_attempt_at":
		a.NextAttemptAt, err = asTime(v)
	case "renewal_window":
		a.RenewalWindow, err = asWindow(v)
	case "renewal_time":
		a.RenewalTime, err = asTime(v)
	case "renewal_cert_id":
		a.RenewalCertID, err = asString(v)
	case "renewal_cert_ca":
		a.RenewalCertCA, err = asString(v)
	case "renewal_check_at":
		a.RenewalCheckAt, err = asTime(v)
	default:
		return errors.New("unknown field; the fields are Ottr's asset fields and ottr's additions (see the asset reference)")
	}
	return err
}

func asString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	}
	return "", fmt.Errorf("want a string, got %s", kind(v))
}

func asStrings(v any) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if t == "" || t == "None" {
			return nil, nil
		}
		return []string{t}, nil
	case []any:
		out := make([]string, len(t))
		for i, inner := range t {
			s, err := asString(inner)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a list of strings, got %s", kind(v))
}

func asBool(v any) (bool, error) {
	switch t := v.(type) {
	case nil:
		return false, nil
	case bool:
		return t, nil
	case string:
		if t == "" || t == "None" {
			return false, nil
		}
		b, err := strconv.ParseBool(t)
		if err != nil {
			return false, fmt.Errorf("want True or False, got %q", t)
		}
		return b, nil
	}
	return false, fmt.Errorf("want True or False, got %s", kind(v))
}

func asInt(v any) (int, error) {
	var s string
	switch t := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		s = t.String()
	case string:
		if t == "" {
			return 0, nil
		}
		s = t
	default:
		return 0, fmt.Errorf("want a whole number, got %s", kind(v))
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %q", s)
	}
	return n, nil
}

func asTime(v any) (*time.Time, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return parseTime(t)
	}
	return nil, fmt.Errorf("want an ISO 8601 time or None, got %s", kind(v))
}

func asLabels(v any) (map[string]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		out := make(map[string]string, len(t))
		for k, inner := range t {
			s, err := asString(inner)
			if err != nil {
				return nil, fmt.Errorf("label %q: %w", k, err)
			}
			out[k] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want an object of strings, got %s", kind(v))
}

func asWindow(v any) (*Window, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		var w Window
		for k, inner := range t {
			tm, err := asTime(inner)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if tm == nil {
				return nil, fmt.Errorf("%s: want a time", k)
			}
			switch k {
			case "start":
				w.Start = *tm
			case "end":
				w.End = *tm
			default:
				return nil, fmt.Errorf("unknown key %q; want start and end", k)
			}
		}
		return &w, nil
	}
	return nil, fmt.Errorf("want an object with start and end, got %s", kind(v))
}

// parseTime reads an ISO 8601 time; one without a zone is UTC. "None",
// "null" and "" mean unknown (nil).
func parseTime(s string) (*time.Time, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "None", "null":
		return nil, nil
	}
	// The forms Ottr and operators write: RFC 3339, and Python's
	// isoformat() and str() of a datetime with or without a zone.
	layouts := [...]string{
		time.RFC3339Nano,
		"2006-01-02 15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02",
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("want an ISO 8601 time like 2026-12-01T00:00:00Z, or None; got %q", s)
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
