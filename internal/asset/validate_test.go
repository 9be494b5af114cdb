package asset

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validAsset is a record every rule accepts under testRules.
func validAsset() Asset {
	return Asset{
		SystemName:             "fw1.example.com",
		CommonName:             "fw1.example.com",
		SubjectAlternativeName: []string{"fw1.example.com", "vpn.example.com"},
		CertificateAuthority:   "lets_encrypt",
		HostPlatform:           "panos",
		IPAddress:              "192.0.2.10",
		Origin:                 "API",
		OSVersion:              "9.1.0",
		DataCenter:             "dc1",
	}
}

func testRules() Rules {
	return Rules{
		Platforms: map[string]bool{"panos": true, "linux": true},
		CAs:       map[string]bool{"lets_encrypt": true, "digicert": true},
		Zones:     []string{"example.com", "example.org."},
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   Asset
		want Asset
	}{
		{
			name: "lower-cases names, strips the trailing dot and puts the common name first in the SANs",
			in: Asset{
				SystemName:             " FW1.Example.COM. ",
				CommonName:             "FW1.example.com",
				SubjectAlternativeName: []string{"VPN.example.com.", "fw1.example.com"},
			},
			want: Asset{
				SystemName:             "fw1.example.com",
				CommonName:             "fw1.example.com",
				SubjectAlternativeName: []string{"fw1.example.com", "vpn.example.com"},
				Origin:                 "API",
			},
		},
		{
			name: "converts international names to their xn-- form, wildcard kept",
			in: Asset{
				CommonName:             "Bücher.example.com",
				SubjectAlternativeName: []string{"*.Bücher.example.com"},
			},
			want: Asset{
				CommonName:             "xn--bcher-kva.example.com",
				SubjectAlternativeName: []string{"xn--bcher-kva.example.com", "*.xn--bcher-kva.example.com"},
				Origin:                 "API",
			},
		},
		{
			name: "drops empty and repeated SANs keeping the first of each",
			in: Asset{
				CommonName:             "a.example.com",
				SubjectAlternativeName: []string{"b.example.com", "", " B.example.com", "c.example.com", "a.example.com"},
			},
			want: Asset{
				CommonName:             "a.example.com",
				SubjectAlternativeName: []string{"a.example.com", "b.example.com", "c.example.com"},
				Origin:                 "API",
			},
		},
		{
			name: "fills SANs with the common name when none are given",
			in:   Asset{CommonName: "a.example.com"},
			want: Asset{CommonName: "a.example.com", SubjectAlternativeName: []string{"a.example.com"}, Origin: "API"},
		},
		{
			name: "keeps an origin that is set and trims it",
			in:   Asset{Origin: " discover "},
			want: Asset{Origin: "discover"},
		},
		{
			name: "lower-cases the data center and key type, and writes IPv6 canonically",
			in:   Asset{DataCenter: " DC1 ", KeyType: "ECDSA256", IPAddress: " 2001:DB8:0:0::10 "},
			want: Asset{DataCenter: "dc1", KeyType: "ecdsa256", IPAddress: "2001:db8::10", Origin: "API"},
		},
		{
			name: "trims platform, model, version and labels but keeps their case",
			in: Asset{
				HostPlatform: " Windows ", DeviceModel: " PA-3220 ", OSVersion: " 9.1.0-h3 ",
				Labels: map[string]string{" team ": " NetOps "},
			},
			want: Asset{
				HostPlatform: "Windows", DeviceModel: "PA-3220", OSVersion: "9.1.0-h3",
				Labels: map[string]string{"team": "NetOps"}, Origin: "API",
			},
		},
		{
			name: "leaves an unconvertible name lower-cased for validation to report",
			in:   Asset{SystemName: "Bad_Name.example.com"},
			want: Asset{SystemName: "bad_name.example.com", Origin: "API"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.Clone()
			Normalize(&got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Normalize:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNormalizeIsIdempotent(t *testing.T) {
	a := validAsset()
	a.CommonName = "Bücher.Example.com."
	Normalize(&a)
	once := a.Clone()
	Normalize(&a)
	if !reflect.DeepEqual(a, once) {
		t.Errorf("second Normalize changed the asset:\n got %+v\nwant %+v", a, once)
	}
}

func TestValidateAcceptsValidAssets(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Asset)
		rules  *Rules // nil: testRules()
	}{
		{name: "accepts a complete asset", change: func(*Asset) {}},
		{name: "accepts a wildcard SAN over two labels", change: func(a *Asset) {
			a.SubjectAlternativeName = append(a.SubjectAlternativeName, "*.example.com")
		}},
		{name: "accepts a wildcard common name", change: func(a *Asset) { a.CommonName = "*.lb.example.com" }},
		{name: "accepts an IPv6 address", change: func(a *Asset) { a.IPAddress = "2001:db8::10" }},
		{name: "accepts a name in a zone written with a trailing dot", change: func(a *Asset) {
			a.CommonName = "fw1.example.org"
			a.SubjectAlternativeName = nil
		}},
		{name: "accepts the zone apex itself", change: func(a *Asset) { a.SubjectAlternativeName = []string{"example.com"} }},
		{name: "accepts any platform and CA when the rules list none", change: func(a *Asset) {
			a.HostPlatform, a.CertificateAuthority = "anything", "any_ca"
		}, rules: &Rules{}},
		{name: "accepts names outside every zone when no zone is managed", change: func(a *Asset) {
			a.CommonName = "fw1.other.net"
		}, rules: &Rules{Platforms: map[string]bool{"panos": true}}},
		{name: "accepts every key type", change: func(a *Asset) { a.KeyType = KeyECDSA384 }},
		{name: "accepts port 65535", change: func(a *Asset) { a.Port = 65535 }},
		{name: "accepts a data center with dashes and underscores", change: func(a *Asset) { a.DataCenter = "us-east_1" }},
		{name: "accepts labels", change: func(a *Asset) { a.Labels = map[string]string{"team": "net=ops", "k8s.io/app": ""} }},
		{name: "accepts a 63-character label", change: func(a *Asset) {
			a.SubjectAlternativeName = []string{strings.Repeat("a", 63) + ".example.com"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := validAsset()
			tt.change(&a)
			rules := testRules()
			if tt.rules != nil {
				rules = *tt.rules
			}
			if err := Validate(a, rules); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	long := strings.Repeat("a", 60) + "."
	tests := []struct {
		name      string
		change    func(*Asset)
		field     string
		ruleHas   string
		valueGone bool
	}{
		{"rejects a missing system name", func(a *Asset) { a.SystemName = "" }, "system_name", "is required", false},
		{"rejects a wildcard system name", func(a *Asset) { a.SystemName = "*.example.com" }, "system_name", "not a wildcard", false},
		{"rejects a single-label system name", func(a *Asset) { a.SystemName = "fw1" }, "system_name", "fully-qualified domain name", false},
		{"rejects a trailing dot and says to remove it", func(a *Asset) { a.SystemName = "fw1.example.com." }, "system_name", "remove the trailing dot", false},
		{"rejects a name longer than 253 characters", func(a *Asset) {
			a.SystemName = strings.Repeat(long, 4) + "example.com"
		}, "system_name", "at most 253 characters", false},
		{"rejects a label longer than 63 characters", func(a *Asset) {
			a.SystemName = strings.Repeat("a", 64) + ".example.com"
		}, "system_name", "at most 63", false},
		{"rejects a label starting with a hyphen", func(a *Asset) { a.SystemName = "-fw1.example.com" }, "system_name", "hyphen", false},
		{"rejects a label ending with a hyphen", func(a *Asset) { a.SystemName = "fw1-.example.com" }, "system_name", "hyphen", false},
		{"rejects an underscore", func(a *Asset) { a.SystemName = "fw_1.example.com" }, "system_name", "letters, digits and hyphens", false},
		{"rejects Unicode that was not normalised", func(a *Asset) { a.SystemName = "bücher.example.com" }, "system_name", "xn--", false},
		{"rejects two dots in a row", func(a *Asset) { a.SystemName = "fw1..example.com" }, "system_name", "empty label", false},
		{"rejects an IP address as a name", func(a *Asset) { a.SystemName = "192.0.2.10" }, "system_name", "ip_address", false},
		{"rejects a missing common name", func(a *Asset) { a.CommonName = "" }, "common_name", "is required", false},
		{"rejects a common name over 64 characters", func(a *Asset) {
			a.CommonName = strings.Repeat("a", 60) + ".example.com"
		}, "common_name", "at most 64 characters", false},
		{"rejects a bare star", func(a *Asset) { a.CommonName = "*" }, "common_name", "at least two labels", false},
		{"rejects a wildcard over a single label", func(a *Asset) { a.CommonName = "*.com" }, "common_name", "at least two labels", false},
		{"rejects a wildcard that is not the leftmost label", func(a *Asset) { a.CommonName = "a.*.example.com" }, "common_name", "leftmost", false},
		{"rejects a partial wildcard label", func(a *Asset) { a.CommonName = "fw*.example.com" }, "common_name", "leftmost", false},
		{"rejects two wildcards", func(a *Asset) { a.CommonName = "*.*.example.com" }, "common_name", "one wildcard", false},
		{"rejects a common name outside the managed zones", func(a *Asset) { a.CommonName = "fw1.example.net" }, "common_name", "managed DNS zone", false},
		{"rejects a name that only ends like a zone", func(a *Asset) { a.CommonName = "fw1.notexample.com" }, "common_name", "managed DNS zone", false},
		{"rejects an empty SAN", func(a *Asset) { a.SubjectAlternativeName = []string{"fw1.example.com", ""} }, "subject_alternative_name[1]", "remove the empty entry", false},
		{"rejects a SAN outside the managed zones", func(a *Asset) {
			a.SubjectAlternativeName = []string{"fw1.example.com", "fw1.corp.net"}
		}, "subject_alternative_name[1]", "managed DNS zone", false},
		{"rejects a missing IP address", func(a *Asset) { a.IPAddress = "" }, "ip_address", "is required", false},
		{"rejects a malformed IP address", func(a *Asset) { a.IPAddress = "192.0.2.300" }, "ip_address", "IPv4 or IPv6", false},
		{"rejects an IPv6 zone", func(a *Asset) { a.IPAddress = "fe80::1%eth0" }, "ip_address", "zone", false},
		{"rejects a missing platform", func(a *Asset) { a.HostPlatform = "" }, "host_platform", "is required", false},
		{"rejects a platform with no route and lists the known ones", func(a *Asset) { a.HostPlatform = "f5" }, "host_platform", "linux, panos", false},
		{"rejects a missing CA", func(a *Asset) { a.CertificateAuthority = "" }, "certificate_authority", "is required", false},
		{"rejects an unknown CA and lists the known ones", func(a *Asset) { a.CertificateAuthority = "sectigo" }, "certificate_authority", "digicert, lets_encrypt", false},
		{"rejects an unknown key type", func(a *Asset) { a.KeyType = "rsa1024" }, "key_type", "rsa2048", false},
		{"rejects port 65536", func(a *Asset) { a.Port = 65536 }, "port", "1 to 65535", false},
		{"rejects a negative port", func(a *Asset) { a.Port = -1 }, "port", "1 to 65535", false},
		{"rejects an upper-case data center", func(a *Asset) { a.DataCenter = "DC1" }, "data_center", "lower-case", false},
		{"rejects a data center with a space", func(a *Asset) { a.DataCenter = "dc 1" }, "data_center", "job queue", false},
		{"rejects a label value with a semicolon", func(a *Asset) { a.Labels = map[string]string{"team": "a;b"} }, "labels.team", "no ';'", false},
		{"rejects a label key with an equals sign", func(a *Asset) { a.Labels = map[string]string{"a=b": "c"} }, "labels.a=b", "key must be", false},
		{"rejects a negative failure count", func(a *Asset) { a.FailureCount = -1 }, "failure_count", "negative", false},
		{"rejects a renewal window that ends before it starts", func(a *Asset) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			a.RenewalWindow = &Window{Start: now, End: now.Add(-time.Hour)}
		}, "renewal_window", "end must be after start", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := validAsset()
			tt.change(&a)
			err := Validate(a, testRules())
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			fe, ok := verr.Field(tt.field)
			if !ok {
				t.Fatalf("no error for field %s; got:\n%v", tt.field, err)
			}
			if !strings.Contains(fe.Rule, tt.ruleHas) {
				t.Errorf("rule for %s = %q, want it to mention %q", tt.field, fe.Rule, tt.ruleHas)
			}
			if !strings.Contains(err.Error(), tt.field+": ") {
				t.Errorf("Error() = %q, want a line starting %q", err.Error(), tt.field+": ")
			}
		})
	}
}

func TestValidateListsEveryBrokenRuleOnePerLine(t *testing.T) {
	err := Validate(Asset{Port: 70000}, testRules())
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	var fields []string
	for _, fe := range verr.Errors {
		fields = append(fields, fe.Field)
	}
	want := []string{"system_name", "common_name", "ip_address", "host_platform", "certificate_authority", "port"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("fields = %v, want %v", fields, want)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) {
		t.Errorf("Error() has %d lines, want %d:\n%s", len(lines), len(want), err)
	}
}

func TestValidateNeverEchoesCredentials(t *testing.T) {
	a := validAsset()
	a.Credentials = "hunter2-secret"
	a.Port = -5
	err := Validate(a, testRules())
	if err == nil {
		t.Fatal("Validate = nil, want an error for the port")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error echoes the credentials: %v", err)
	}
}

func TestNormalizeThenValidateAcceptsOperatorSpelling(t *testing.T) {
	a := Asset{
		SystemName:           "FW1.Example.com.",
		CommonName:           "Bücher.EXAMPLE.com",
		CertificateAuthority: "lets_encrypt",
		HostPlatform:         "panos",
		IPAddress:            " 192.0.2.10 ",
		DataCenter:           "DC1",
	}
	Normalize(&a)
	if err := Validate(a, testRules()); err != nil {
		t.Errorf("Validate after Normalize = %v, want nil", err)
	}
}
