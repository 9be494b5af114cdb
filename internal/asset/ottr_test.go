package asset

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func timePtr(t time.Time) *time.Time { return &t }

func TestParseOttrItem(t *testing.T) {
	expiry := time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		item string
		want Asset
	}{
		{
			name: "reads Ottr's plain JSON with Python's None and True",
			item: `{"system_name": "fw1.example.com", "common_name": "fw1.example.com",
				"subject_alternative_name": ["fw1.example.com", "vpn.example.com"],
				"certificate_authority": "lets_encrypt", "certificate_expiration": "None",
				"certificate_validation": "True", "data_center": "dc1", "device_model": "PA-3220",
				"host_platform": "panos", "ip_address": "192.0.2.10", "origin": "API", "os_version": "9.1.0"}`,
			want: Asset{
				SystemName: "fw1.example.com", CommonName: "fw1.example.com",
				SubjectAlternativeName: []string{"fw1.example.com", "vpn.example.com"},
				CertificateAuthority:   "lets_encrypt", CertificateValidation: true,
				DataCenter: "dc1", DeviceModel: "PA-3220", HostPlatform: "panos",
				IPAddress: "192.0.2.10", Origin: "API", OSVersion: "9.1.0",
			},
		},
		{
			name: "reads DynamoDB typed JSON",
			item: `{"system_name": {"S": "fw1.example.com"},
				"subject_alternative_name": {"L": [{"S": "fw1.example.com"}, {"S": "b.example.com"}]},
				"certificate_expiration": {"S": "2026-12-01T08:30:00"},
				"certificate_validation": {"BOOL": false},
				"data_center": {"NULL": true},
				"port": {"N": "8443"},
				"labels": {"M": {"team": {"S": "netops"}}}}`,
			want: Asset{
				SystemName:             "fw1.example.com",
				SubjectAlternativeName: []string{"fw1.example.com", "b.example.com"},
				CertificateExpiration:  timePtr(expiry),
				Port:                   8443,
				Labels:                 map[string]string{"team": "netops"},
			},
		},
		{
			name: "reads a string set of SANs",
			item: `{"subject_alternative_name": {"SS": ["a.example.com", "b.example.com"]}}`,
			want: Asset{SubjectAlternativeName: []string{"a.example.com", "b.example.com"}},
		},
		{
			name: "takes a time without a zone as UTC",
			item: `{"certificate_expiration": "2026-12-01T08:30:00"}`,
			want: Asset{CertificateExpiration: timePtr(expiry)},
		},
		{
			name: "reads Python's str() of a datetime",
			item: `{"certificate_expiration": "2026-12-01 08:30:00.000000"}`,
			want: Asset{CertificateExpiration: timePtr(expiry)},
		},
		{
			name: "keeps the zone a time is given in",
			item: `{"certificate_expiration": "2026-12-01T10:30:00+02:00"}`,
			want: Asset{CertificateExpiration: timePtr(time.Date(2026, 12, 1, 10, 30, 0, 0, time.FixedZone("", 2*3600)))},
		},
		{
			name: "takes empty and null expirations as unknown",
			item: `{"certificate_expiration": "", "last_rotation": null}`,
			want: Asset{},
		},
		{
			name: "reads certificate_validation False and a JSON boolean",
			item: `{"certificate_validation": "False", "paused": true}`,
			want: Asset{Paused: true},
		},
		{
			name: "reads a number where a string is expected",
			item: `{"os_version": {"N": "9.1"}}`,
			want: Asset{OSVersion: "9.1"},
		},
		{
			name: "reads ottr's own fields",
			item: `{"key_type": "ecdsa256", "failure_count": 2,
				"renewal_window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-03T00:00:00Z"}}`,
			want: Asset{KeyType: "ecdsa256", FailureCount: 2, RenewalWindow: &Window{
				Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
				End:   time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC),
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOttrItem([]byte(tt.item))
			if err != nil {
				t.Fatalf("ParseOttrItem: %v", err)
			}
			assertSameAsset(t, got, tt.want)
		})
	}
}

func TestParseOttrItemErrors(t *testing.T) {
	tests := []struct {
		name    string
		item    string
		wantErr string
	}{
		{"names an unknown field", `{"system_name": "a", "hostname": "b"}`, `field "hostname": unknown field`},
		{"names a field of the wrong type", `{"port": "eighty"}`, `field "port": want a whole number`},
		{"rejects a time it cannot read", `{"certificate_expiration": "next tuesday"}`, `field "certificate_expiration": want an ISO 8601 time`},
		{"rejects a truth value it cannot read", `{"certificate_validation": "Maybe"}`, `want True or False`},
		{"rejects binary DynamoDB values", `{"system_name": {"B": "AAAA"}}`, `binary DynamoDB values`},
		{"rejects malformed JSON", `{"system_name": `, `read JSON`},
		{"rejects two documents", `{} {}`, `unexpected data`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOttrItem([]byte(tt.item))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseOttrItem error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseOttrItems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"reads a JSON array", `[{"system_name": "a.example.com"}, {"system_name": "b.example.com"}]`,
			[]string{"a.example.com", "b.example.com"}},
		{"reads aws dynamodb scan output", `{"Items": [{"system_name": {"S": "a.example.com"}}], "Count": 1, "ScannedCount": 1, "ConsumedCapacity": null}`,
			[]string{"a.example.com"}},
		{"reads one item alone", `{"system_name": "a.example.com"}`, []string{"a.example.com"}},
		{"reads an empty scan", `{"Items": [], "Count": 0}`, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOttrItems([]byte(tt.doc))
			if err != nil {
				t.Fatalf("ParseOttrItems: %v", err)
			}
			names := []string{}
			for _, a := range got {
				names = append(names, a.SystemName)
			}
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("system names = %v, want %v", names, tt.want)
			}
		})
	}
}

func TestParseOttrItemsNamesTheFailingItem(t *testing.T) {
	_, err := ParseOttrItems([]byte(`[{"system_name": "a"}, {"system_name": "b", "colour": "red"}]`))
	if err == nil || !strings.Contains(err.Error(), `item 2: field "colour": unknown field`) {
		t.Errorf("ParseOttrItems error = %v, want it to name item 2 and the field", err)
	}
	_, err = ParseOttrItems([]byte(`"fw1"`))
	if err == nil || !strings.Contains(err.Error(), "array") {
		t.Errorf("ParseOttrItems of a string = %v, want an error asking for an array", err)
	}
}

// fullAsset sets every field, so round trips show nothing is lost.
func fullAsset() Asset {
	at := func(day int) *time.Time { return timePtr(time.Date(2026, 11, day, 1, 2, 3, 400, time.UTC)) }
	return Asset{
		SystemName:             "fw1.example.com",
		CommonName:             "fw1.example.com",
		SubjectAlternativeName: []string{"fw1.example.com", "vpn.example.com"},
		CertificateAuthority:   "lets_encrypt",
		CertificateExpiration:  at(30),
		CertificateValidation:  true,
		DataCenter:             "dc1",
		DeviceModel:            "PA-3220",
		HostPlatform:           "panos",
		IPAddress:              "2001:db8::10",
		Origin:                 "API",
		OSVersion:              "9.1.0-h3",
		Port:                   8443,
		Labels:                 map[string]string{"team": "netops", "env": "prod=eu"},
		Credentials:            "panos-admin",
		KeyType:                KeyECDSA256,
		Paused:                 true,
		CertificateSerial:      "04:a3:5f",
		CertificateIssuer:      "R11",
		CertificateNotBefore:   at(1),
		LastRotation:           at(2),
		FailureCount:           3,
		NextAttemptAt:          at(3),
		RenewalWindow:          &Window{Start: *at(4), End: *at(5)},
		RenewalTime:            at(6),
		RenewalCertID:          "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
		RenewalCertCA:          "lets_encrypt",
		RenewalCheckAt:         at(7),
	}
}

func TestJSONRoundTripKeepsEveryField(t *testing.T) {
	want := fullAsset()
	data, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Asset
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	assertSameAsset(t, got, want)

	// ottr's JSON is also an Ottr item, so an export reads back through
	// the importer.
	imported, err := ParseOttrItem(data)
	if err != nil {
		t.Fatalf("ParseOttrItem of ottr's JSON: %v", err)
	}
	assertSameAsset(t, imported, want)
}

// assertSameAsset compares assets with times compared as instants, since
// a parsed time carries a different *time.Location than a constructed one.
func assertSameAsset(t *testing.T, got, want Asset) {
	t.Helper()
	norm := func(a Asset) Asset {
		a = a.Clone()
		for _, tp := range []**time.Time{&a.CertificateExpiration, &a.CertificateNotBefore, &a.LastRotation, &a.NextAttemptAt, &a.RenewalTime, &a.RenewalCheckAt} {
			if *tp != nil {
				u := (*tp).UTC()
				*tp = &u
			}
		}
		if a.RenewalWindow != nil {
			a.RenewalWindow.Start = a.RenewalWindow.Start.UTC()
			a.RenewalWindow.End = a.RenewalWindow.End.UTC()
		}
		return a
	}
	g, w := norm(got), norm(want)
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		t.Errorf("asset differs:\n got %s\nwant %s", gj, wj)
	}
}

func TestParseOttrItemKeepsTheGivenOffset(t *testing.T) {
	a, err := ParseOttrItem([]byte(`{"certificate_expiration": "2026-12-01T10:30:00+02:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, offset := a.CertificateExpiration.Zone(); offset != 2*3600 {
		t.Errorf("offset = %ds, want 7200s", offset)
	}
	b, err := ParseOttrItem([]byte(`{"certificate_expiration": "2026-12-01T10:30:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.CertificateExpiration.Location() != time.UTC {
		t.Errorf("location = %v, want UTC", b.CertificateExpiration.Location())
	}
}
