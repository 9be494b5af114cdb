package api

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// everyByte is a string holding each byte value once, most of them not
// UTF-8 on their own.
var everyByte = func() string {
	var b strings.Builder
	for c := range 256 {
		b.WriteByte(byte(c))
	}
	return b.String()
}()

// TestAssetJSONIsEncodingJSONs writes assets of every shape through the
// API's JSON format and through huma's, which is encoding/json's, and
// expects the same bytes.
func TestAssetJSONIsEncodingJSONs(t *testing.T) {
	at := func(v time.Time) *time.Time { return &v }
	utc := time.Date(2026, 12, 7, 22, 30, 0, 0, time.UTC)
	full := asset.Asset{
		SystemName: "fw1.example.com", CommonName: "fw1.example.com",
		SubjectAlternativeName: []string{"fw1.example.com", "fw1-mgmt.example.com"},
		CertificateAuthority:   "lets_encrypt", CertificateExpiration: at(utc.Add(90 * 24 * time.Hour)),
		CertificateValidation: true, DataCenter: "dc1", DeviceModel: "PA-3220", HostPlatform: "panos",
		IPAddress: "192.0.2.10", Origin: "API", OSVersion: "10.2.3", Port: 8443,
		Labels:      map[string]string{"team": "netops", "env": "prod", "a/b": ""},
		Credentials: "panos/admin", KeyType: "ecdsa256", Paused: true,
		CertificateSerial: "04:a1", CertificateIssuer: "CN=R11,O=Let's Encrypt,C=US",
		CertificateNotBefore: at(utc), LastRotation: at(utc.Add(time.Minute)), FailureCount: 3,
		NextAttemptAt: at(utc.Add(time.Hour)), RenewalWindow: &asset.Window{Start: utc, End: utc.Add(24 * time.Hour)},
		RenewalTime: at(utc.Add(60 * 24 * time.Hour)), RenewalCertID: "aYhb.AIdl", RenewalCertCA: "lets_encrypt",
		RenewalCheckAt: at(utc.Add(6 * time.Hour)),
	}
	tests := []struct {
		name string
		a    asset.Asset
	}{
		{"is empty", asset.Asset{}},
		{"has every field set", full},
		{"has an empty, not absent, SAN list and labels", asset.Asset{SystemName: "x", SubjectAlternativeName: []string{}, Labels: map[string]string{}}},
		{"has negative numbers", asset.Asset{SystemName: "x", Port: -1, FailureCount: -2}},
		{"has text with every byte value", asset.Asset{
			SystemName: everyByte, DeviceModel: everyByte, SubjectAlternativeName: []string{everyByte, ""},
			Labels: map[string]string{everyByte: everyByte, "": "x"},
		}},
		{"has HTML, quotes, line and paragraph separators and other Unicode", asset.Asset{
			SystemName: `<b>&"quoted"</b>`, CommonName: "a\u2028b\u2029c", Origin: "ünïcødé ✓ 😀",
			OSVersion: "bad \xed\xa0\x80 surrogate, cut \xe2\x82", Credentials: `back\slash/`,
		}},
		{"has times in other zones and with fractions of seconds", asset.Asset{
			SystemName:            "zones",
			CertificateExpiration: at(time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("", -(9*3600+30*60)))),
			CertificateNotBefore:  at(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)),
			LastRotation:          at(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 14*3600))),
			NextAttemptAt:         at(time.Date(2026, 6, 1, 0, 0, 0, 120000000, time.FixedZone("odd", 5*3600+45*60+30))),
			RenewalWindow:         &asset.Window{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []any{tt.a, []asset.Asset{tt.a, full}} {
				var got, want bytes.Buffer
				if err := jsonFormat.Marshal(&got, v); err != nil {
					t.Fatalf("the API's JSON format: %v", err)
				}
				if err := huma.DefaultJSONFormat.Marshal(&want, v); err != nil {
					t.Fatalf("huma's JSON format: %v", err)
				}
				if !bytes.Equal(got.Bytes(), want.Bytes()) {
					t.Errorf("the API's JSON format wrote\n%s\nhuma's wrote\n%s", got.Bytes(), want.Bytes())
				}
			}
		})
	}
	for _, list := range [][]asset.Asset{nil, {}} {
		var got, want bytes.Buffer
		_ = jsonFormat.Marshal(&got, list)
		_ = huma.DefaultJSONFormat.Marshal(&want, list)
		if got.String() != want.String() {
			t.Errorf("list %#v: the API's JSON format wrote %q, huma's %q", list, got.String(), want.String())
		}
	}
}

// TestAssetJSONRefusesTimesJSONCannotHold expects encoding/json's error for
// a time outside RFC 3339, not a body.
func TestAssetJSONRefusesTimesJSONCannotHold(t *testing.T) {
	for _, when := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
	} {
		var got bytes.Buffer
		err := jsonFormat.Marshal(&got, []asset.Asset{{SystemName: "x", CertificateExpiration: &when}})
		if err == nil || !strings.Contains(err.Error(), "Time.MarshalJSON") {
			t.Errorf("%s: error %v and body %q, want Time.MarshalJSON's error", when, err, got.String())
		}
	}
}

// TestSearchAndGetAnswerWithEncodingJSONsBytes expects a search page and an
// asset answered byte for byte as encoding/json writes what the store holds.
func TestSearchAndGetAnswerWithEncodingJSONsBytes(t *testing.T) {
	e, admin := adminEnv(t)
	ctx := context.Background()
	now := e.clock.Now()
	for i := range 5 {
		body := assetJSON("host-" + string(rune('a'+i)))
		body["device_model"] = `model <"` + string(rune('a'+i)) + `">`
		e.call(http.MethodPost, "/api/v1/assets", admin, body)
		a, err := e.app.Store.GetAsset(ctx, body["system_name"].(string))
		if err != nil {
			t.Fatal(err)
		}
		exp := now.Add(time.Duration(i) * 24 * time.Hour)
		a.CertificateExpiration, a.Labels, a.FailureCount = &exp, map[string]string{"n": string(rune('0' + i))}, i
		if err := e.app.Store.UpdateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	r := e.call(http.MethodGet, "/api/v1/search?days_until_expiration=3&limit=2", admin, nil)
	cutoff := now.Add(3 * 24 * time.Hour)
	page, err := e.app.Store.ListAssets(ctx, store.AssetFilter{ExpiresBefore: &cutoff, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := huma.DefaultJSONFormat.Marshal(&want, page); err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || !bytes.Equal(r.body, want.Bytes()) {
		t.Errorf("search answered %d\n%s\nencoding/json writes\n%s", r.status, r.body, want.Bytes())
	}

	r = e.call(http.MethodGet, "/api/v1/assets/host-c.lab.ottr.test", admin, nil)
	one, err := e.app.Store.GetAsset(ctx, "host-c.lab.ottr.test")
	if err != nil {
		t.Fatal(err)
	}
	want.Reset()
	if err := huma.DefaultJSONFormat.Marshal(&want, one); err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || !bytes.Equal(r.body, want.Bytes()) {
		t.Errorf("get answered %d\n%s\nencoding/json writes\n%s", r.status, r.body, want.Bytes())
	}
}
