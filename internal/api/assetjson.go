package api

import (
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
)

// Assets are written to JSON by hand, byte for byte as huma's JSON format
// (encoding/json without HTML escaping, one value and a newline) writes
// them: through reflection, encoding a search page of 100 assets was a
// sixth of the CPU time of a search request (BenchmarkSearch100k's
// profile), the largest part after reading the rows. Every other body goes
// through huma's format unchanged. TestAssetJSONIsEncodingJSONs holds the
// two to the same bytes.

// jsonFormat is huma's JSON format, with asset bodies written by hand.
var jsonFormat = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		var write func([]byte) []byte
		size := assetJSONSize
		switch v := v.(type) {
		case []asset.Asset:
			write = func(b []byte) []byte { return appendAssetList(b, v) }
			size *= len(v)
		case asset.Asset:
			write = func(b []byte) []byte { return appendAsset(b, &v) }
		default:
			return huma.DefaultJSONFormat.Marshal(w, v)
		}
		buf := jsonBuffers.Get().(*[]byte)
		defer jsonBuffers.Put(buf)
		if cap(*buf) < size {
			// Room for the body at once, rather than doubling up to it.
			*buf = make([]byte, 0, size)
		}
		b := write((*buf)[:0])
		if b == nil {
			// A time JSON cannot hold: encoding/json says which.
			return huma.DefaultJSONFormat.Marshal(w, v)
		}
		b = append(b, '\n')
		*buf = b
		_, err := w.Write(b)
		return err
	},
	Unmarshal: json.Unmarshal,
}

// jsonFormats are the formats the API speaks: huma's, with JSON's bodies
// of assets written by hand.
func jsonFormats() map[string]huma.Format {
	formats := make(map[string]huma.Format, len(huma.DefaultFormats))
	for name, f := range huma.DefaultFormats {
		formats[name] = f
	}
	formats["application/json"] = jsonFormat
	formats["json"] = jsonFormat
	return formats
}

// assetJSONSize is room enough for most assets in JSON.
const assetJSONSize = 768

// jsonBuffers keeps the buffers bodies are written into; a page of 100
// assets takes about 50 KB.
var jsonBuffers = sync.Pool{New: func() any { return new([]byte) }}

// appendAssetList appends the JSON list of assets to b, or returns nil if
// one holds a time JSON cannot hold.
func appendAssetList(b []byte, assets []asset.Asset) []byte {
	if assets == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range assets {
		if i > 0 {
			b = append(b, ',')
		}
		if b = appendAsset(b, &assets[i]); b == nil {
			return nil
		}
	}
	return append(b, ']')
}

// appendAsset appends a as encoding/json writes asset.Asset: every field in
// order, by its JSON name, the omitempty ones left out when empty. It
// returns nil if a holds a time JSON cannot hold.
func appendAsset(b []byte, a *asset.Asset) []byte {
	ok := true
	timeField := func(b []byte, name string, t *time.Time, omitEmpty bool) []byte {
		if t == nil && omitEmpty {
			return b
		}
		b = append(b, name...)
		if t == nil {
			return append(b, "null"...)
		}
		b, ok = appendTime(b, *t, ok)
		return b
	}
	stringField := func(b []byte, name, v string, omitEmpty bool) []byte {
		if v == "" && omitEmpty {
			return b
		}
		return appendJSONString(append(b, name...), v)
	}
	b = stringField(b, `{"system_name":`, a.SystemName, false)
	b = stringField(b, `,"common_name":`, a.CommonName, false)
	b = append(b, `,"subject_alternative_name":`...)
	if a.SubjectAlternativeName == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, name := range a.SubjectAlternativeName {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, name)
		}
		b = append(b, ']')
	}
	b = stringField(b, `,"certificate_authority":`, a.CertificateAuthority, false)
	b = timeField(b, `,"certificate_expiration":`, a.CertificateExpiration, false)
	b = strconv.AppendBool(append(b, `,"certificate_validation":`...), a.CertificateValidation)
	b = stringField(b, `,"data_center":`, a.DataCenter, false)
	b = stringField(b, `,"device_model":`, a.DeviceModel, false)
	b = stringField(b, `,"host_platform":`, a.HostPlatform, false)
	b = stringField(b, `,"ip_address":`, a.IPAddress, false)
	b = stringField(b, `,"origin":`, a.Origin, false)
	b = stringField(b, `,"os_version":`, a.OSVersion, false)
	if a.Port != 0 {
		b = strconv.AppendInt(append(b, `,"port":`...), int64(a.Port), 10)
	}
	if len(a.Labels) > 0 {
		b = append(b, `,"labels":{`...)
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONString(b, k), ':')
			b = appendJSONString(b, a.Labels[k])
		}
		b = append(b, '}')
	}
	b = stringField(b, `,"credentials":`, a.Credentials, true)
	b = stringField(b, `,"key_type":`, a.KeyType, true)
	b = strconv.AppendBool(append(b, `,"paused":`...), a.Paused)
	b = stringField(b, `,"certificate_serial":`, a.CertificateSerial, true)
	b = stringField(b, `,"certificate_issuer":`, a.CertificateIssuer, true)
	b = timeField(b, `,"certificate_not_before":`, a.CertificateNotBefore, true)
	b = timeField(b, `,"last_rotation":`, a.LastRotation, true)
	b = strconv.AppendInt(append(b, `,"failure_count":`...), int64(a.FailureCount), 10)
	b = timeField(b, `,"next_attempt_at":`, a.NextAttemptAt, true)
	if w := a.RenewalWindow; w != nil {
		b = timeField(b, `,"renewal_window":{"start":`, &w.Start, false)
		b = timeField(b, `,"end":`, &w.End, false)
		b = append(b, '}')
	}
	b = timeField(b, `,"renewal_time":`, a.RenewalTime, true)
	b = stringField(b, `,"renewal_cert_id":`, a.RenewalCertID, true)
	b = stringField(b, `,"renewal_cert_ca":`, a.RenewalCertCA, true)
	b = timeField(b, `,"renewal_check_at":`, a.RenewalCheckAt, true)
	if !ok {
		return nil
	}
	return append(b, '}')
}

// appendTime appends t as time.Time's MarshalJSON does, and reports ok
// false (whatever it was given) if MarshalJSON would refuse it: a year
// outside 0–9999 or a zone offset of 24 hours or more.
func appendTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	b = append(b, '"')
	start := len(b)
	b = t.AppendFormat(b, time.RFC3339Nano)
	if len(b)-start < len("2006-01-02T15:04:05Z") || b[start+len("2006")] != '-' {
		ok = false
	} else if b[len(b)-1] != 'Z' {
		c := b[len(b)-len("Z07:00")]
		hours := 10*int(b[len(b)-len("07:00")]-'0') + int(b[len(b)-len("7:00")]-'0')
		if '0' <= c && c <= '9' || hours >= 24 {
			ok = false
		}
	}
	return append(b, '"'), ok
}

// appendJSONString appends s quoted as encoding/json quotes a string
// without HTML escaping: quotes, backslashes and control characters
// escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped for
// JavaScript.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
