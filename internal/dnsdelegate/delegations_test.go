package dnsdelegate

import (
	"reflect"
	"strings"
	"testing"
)

func mustNew(t *testing.T, zones map[string]string) *Delegations {
	t.Helper()
	d, err := New(zones)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

func TestRecordMapsNamesIntoTheDelegateZone(t *testing.T) {
	d := mustNew(t, map[string]string{
		"example.com":        "example-acme.com",
		"Corp.Example.COM.":  "corp-acme.net.",
		"example.org":        "acme.example.org",
		"lab.example-acme.x": "challenges.test",
	})
	tests := []struct {
		name string
		in   string
		want Record
	}{
		{"a subdomain keeps its labels in the delegate zone", "test.example.com",
			Record{"_acme-challenge.test.example.com.", "_acme-challenge.test.example-acme.com."}},
		{"a deep subdomain keeps every label", "a.b.c.example.com",
			Record{"_acme-challenge.a.b.c.example.com.", "_acme-challenge.a.b.c.example-acme.com."}},
		{"a wildcard needs the record of its base name", "*.test.example.com",
			Record{"_acme-challenge.test.example.com.", "_acme-challenge.test.example-acme.com."}},
		{"the zone apex maps to the delegate apex", "example.com",
			Record{"_acme-challenge.example.com.", "_acme-challenge.example-acme.com."}},
		{"a wildcard at the apex maps to the delegate apex", "*.example.com",
			Record{"_acme-challenge.example.com.", "_acme-challenge.example-acme.com."}},
		{"the longest managed zone wins", "fw1.corp.example.com",
			Record{"_acme-challenge.fw1.corp.example.com.", "_acme-challenge.fw1.corp-acme.net."}},
		{"the apex of the more specific zone uses its own delegate", "corp.example.com",
			Record{"_acme-challenge.corp.example.com.", "_acme-challenge.corp-acme.net."}},
		{"upper case and a trailing dot are normalised", "FW1.Corp.Example.Com.",
			Record{"_acme-challenge.fw1.corp.example.com.", "_acme-challenge.fw1.corp-acme.net."}},
		{"a delegate inside its own managed zone works", "www.example.org",
			Record{"_acme-challenge.www.example.org.", "_acme-challenge.www.acme.example.org."}},
		{"a zone that merely ends like another is not under it", "x.notexample.com.lab.example-acme.x",
			Record{"_acme-challenge.x.notexample.com.lab.example-acme.x.", "_acme-challenge.x.notexample.com.challenges.test."}},
		{"surrounding white space is ignored", "  test.example.com ",
			Record{"_acme-challenge.test.example.com.", "_acme-challenge.test.example-acme.com."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Record(tt.in)
			if err != nil {
				t.Fatalf("Record(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Record(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRecordRefusesNamesItCannotMap(t *testing.T) {
	d := mustNew(t, map[string]string{"example.com": "example-acme.com", "example.net": "example-acme.com"})
	tests := []struct {
		name    string
		in      string
		wantErr []string
	}{
		{"a name under no managed zone names itself and the zones", "host.other.org",
			[]string{`"host.other.org"`, "example.com.", "example.net."}},
		{"a name that only ends in a zone's text is under no zone", "badexample.com",
			[]string{`"badexample.com"`, "none of the managed zones"}},
		{"a name in the delegate zone is not managed", "x.example-acme.com",
			[]string{"none of the managed zones"}},
		{"an IP address cannot use DNS-01", "192.0.2.10", []string{"IP address"}},
		{"an IPv6 address cannot use DNS-01", "2001:db8::1", []string{"IP address"}},
		{"a bare wildcard is refused", "*", []string{"bare wildcard"}},
		{"a wildcard that is not the left-most label is refused", "a.*.example.com", []string{"wildcard"}},
		{"an empty name is refused", "", []string{"empty name"}},
		{"an empty label is refused", "a..example.com", []string{"empty label"}},
		{"a non-ASCII name asks for its xn-- form", "bücher.example.com", []string{"xn--"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Record(tt.in)
			if err == nil {
				t.Fatalf("Record(%q) = %+v, want an error", tt.in, got)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestRecordWithNoZonesSaysNoneAreConfigured(t *testing.T) {
	d := mustNew(t, nil)
	_, err := d.Record("test.example.com")
	if err == nil || !strings.Contains(err.Error(), "no managed DNS zones") {
		t.Fatalf("Record = %v, want an error saying no zones are configured", err)
	}
}

func TestNewValidatesZones(t *testing.T) {
	tests := []struct {
		name    string
		zones   map[string]string
		wantErr string
	}{
		{"the same zone written twice is refused",
			map[string]string{"example.com": "a-acme.com", "EXAMPLE.com.": "b-acme.com"}, "are the same zone"},
		{"a zone delegated to itself is refused",
			map[string]string{"example.com": "Example.com."}, "delegated to itself"},
		{"an empty zone is refused", map[string]string{"": "example-acme.com"}, "empty zone name"},
		{"the root zone is refused", map[string]string{".": "example-acme.com"}, "empty zone name"},
		{"an empty delegate is refused", map[string]string{"example.com": ""}, "empty zone name"},
		{"a wildcard zone is refused", map[string]string{"*.example.com": "example-acme.com"}, "wildcard"},
		{"a zone with an empty label is refused", map[string]string{"example..com": "example-acme.com"}, "empty label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.zones)
			if err == nil {
				t.Fatal("New accepted the zones")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewAcceptsCommonSetUps(t *testing.T) {
	for name, zones := range map[string]map[string]string{
		"a delegate inside the managed zone": {"example.com": "acme.example.com"},
		"several zones sharing one delegate": {"example.com": "acme.test", "example.net": "acme.test"},
		"nested managed zones":               {"example.com": "a.test", "dc1.example.com": "b.test"},
	} {
		if _, err := New(zones); err != nil {
			t.Errorf("%s: New: %v", name, err)
		}
	}
}

func TestZonesAndDelegateReportTheNormalisedConfiguration(t *testing.T) {
	d := mustNew(t, map[string]string{"Example.COM": "Example-Acme.com.", "b.example.com.": "b-acme.test"})
	if got, want := d.Zones(), []string{"b.example.com.", "example.com."}; !reflect.DeepEqual(got, want) {
		t.Errorf("Zones = %q, want %q", got, want)
	}
	if got, ok := d.Delegate("EXAMPLE.com"); !ok || got != "example-acme.com." {
		t.Errorf("Delegate(EXAMPLE.com) = %q, %v; want example-acme.com.", got, ok)
	}
	if _, ok := d.Delegate("other.com"); ok {
		t.Error("Delegate found an unmanaged zone")
	}
}

func TestRecordsDeduplicatesAndSorts(t *testing.T) {
	d := mustNew(t, map[string]string{"example.com": "example-acme.com"})
	got, err := d.Records([]string{"www.example.com", "*.test.example.com", "test.example.com", "WWW.example.com.", "example.com"})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	want := []Record{
		{"_acme-challenge.example.com.", "_acme-challenge.example-acme.com."},
		{"_acme-challenge.test.example.com.", "_acme-challenge.test.example-acme.com."},
		{"_acme-challenge.www.example.com.", "_acme-challenge.www.example-acme.com."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Records = %+v\nwant %+v", got, want)
	}
}

func TestRecordsReportsEveryUnmappableName(t *testing.T) {
	d := mustNew(t, map[string]string{"example.com": "example-acme.com"})
	_, err := d.Records([]string{"ok.example.com", "a.other.org", "b.other.org"})
	if err == nil {
		t.Fatal("Records accepted names under no zone")
	}
	for _, name := range []string{"a.other.org", "b.other.org"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestRecordsRefusesANameWhoseCNAMEWouldSitOnAnotherNamesChallenge(t *testing.T) {
	d := mustNew(t, map[string]string{"example.com": "acme.example.com"})
	// test.example.com's challenge is answered at
	// _acme-challenge.test.acme.example.com, which test.acme.example.com
	// would need as a CNAME.
	_, err := d.Records([]string{"test.example.com", "test.acme.example.com"})
	if err == nil || !strings.Contains(err.Error(), "_acme-challenge.test.acme.example.com.") {
		t.Fatalf("Records = %v, want a clash on _acme-challenge.test.acme.example.com.", err)
	}
}

func TestZoneLineIsAZoneFileRecord(t *testing.T) {
	r := Record{Name: "_acme-challenge.test.example.com.", Target: "_acme-challenge.test.example-acme.com."}
	want := "_acme-challenge.test.example.com. 300 IN CNAME _acme-challenge.test.example-acme.com."
	if got := r.ZoneLine(); got != want {
		t.Errorf("ZoneLine = %q, want %q", got, want)
	}
}
