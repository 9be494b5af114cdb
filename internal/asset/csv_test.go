package asset

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestCSVRoundTripKeepsEveryField(t *testing.T) {
	second := fullAsset()
	second.SystemName = "lb1.example.com"
	second.Labels = nil
	second.RenewalWindow = nil
	second.CertificateExpiration = nil
	second.SubjectAlternativeName = nil
	want := []Asset{fullAsset(), second}

	var buf bytes.Buffer
	if err := WriteCSV(&buf, want); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	got, err := ReadCSV(&buf)
	if err != nil {
		t.Fatalf("ReadCSV: %v\n%s", err, buf.String())
	}
	if len(got) != len(want) {
		t.Fatalf("read %d assets, want %d", len(got), len(want))
	}
	for i := range want {
		assertSameAsset(t, got[i], want[i])
	}
}

func TestWriteCSVHeaderIsTheJSONNames(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, nil); err != nil {
		t.Fatal(err)
	}
	header := strings.TrimSpace(buf.String())
	if !strings.HasPrefix(header, "system_name,common_name,subject_alternative_name,") {
		t.Errorf("header = %q, want it to start with Ottr's field names", header)
	}
	if n := len(strings.Split(header, ",")); n != len(CSVColumns()) {
		t.Errorf("header has %d columns, want %d", n, len(CSVColumns()))
	}
}

func TestWriteCSVWritesCellsOperatorsCanRead(t *testing.T) {
	a := Asset{
		SystemName:             "fw1.example.com",
		SubjectAlternativeName: []string{"a.example.com", "b.example.com"},
		Labels:                 map[string]string{"team": "netops", "env": "prod"},
		CertificateExpiration:  timePtr(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)),
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, []Asset{a}); err != nil {
		t.Fatal(err)
	}
	row := strings.Split(strings.TrimSpace(buf.String()), "\n")[1]
	for _, want := range []string{"a.example.com;b.example.com", "env=prod;team=netops", "2026-12-01T00:00:00Z"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
}

func TestWriteCSVRefusesValuesItCannotReadBack(t *testing.T) {
	tests := []struct {
		name  string
		asset Asset
	}{
		{"refuses a SAN holding a semicolon", Asset{SystemName: "a", SubjectAlternativeName: []string{"a;b"}}},
		{"refuses a label value holding a semicolon", Asset{SystemName: "a", Labels: map[string]string{"k": "a;b"}}},
		{"refuses a label key holding an equals sign", Asset{SystemName: "a", Labels: map[string]string{"k=x": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteCSV(&bytes.Buffer{}, []Asset{tt.asset})
			if err == nil || !strings.Contains(err.Error(), `asset "a"`) {
				t.Errorf("WriteCSV error = %v, want one naming the asset", err)
			}
		})
	}
}

func TestReadCSVAcceptsASubsetOfColumnsInAnyOrder(t *testing.T) {
	in := "\ufeffip_address, system_name ,certificate_validation,subject_alternative_name,certificate_expiration\n" +
		"192.0.2.10,fw1.example.com,True,a.example.com; b.example.com,None\n" +
		"\n" +
		"192.0.2.11,fw2.example.com,false,,2026-12-01T00:00:00Z\n"
	got, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatalf("ReadCSV: %v", err)
	}
	want := []Asset{
		{SystemName: "fw1.example.com", IPAddress: "192.0.2.10", CertificateValidation: true,
			SubjectAlternativeName: []string{"a.example.com", "b.example.com"}},
		{SystemName: "fw2.example.com", IPAddress: "192.0.2.11",
			CertificateExpiration: timePtr(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d assets, want %d", len(got), len(want))
	}
	for i := range want {
		assertSameAsset(t, got[i], want[i])
	}
}

func TestReadCSVErrorsNameTheLineAndColumn(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"names an unknown column", "system_name,colour\n", `line 1, column 2: unknown column "colour"`},
		{"names a repeated column", "system_name,port,port\n", `line 1, column 3: column "port" appears twice`},
		{"requires system_name", "common_name\n", "system_name column is required"},
		{"rejects empty input", "", "empty input"},
		{"names the cell of a bad number", "system_name,port\na.example.com,443\nb.example.com,https\n", "line 3, column 2 (port): want a whole number"},
		{"names the cell of a bad time", "system_name,certificate_expiration\na.example.com,soon\n", "line 2, column 2 (certificate_expiration)"},
		{"names the cell of a bad label", "system_name,labels\na.example.com,team\n", `line 2, column 2 (labels): label "team": want key=value`},
		{"names the cell of a bad window", "system_name,renewal_window\na.example.com,2026-01-01\n", "line 2, column 2 (renewal_window): want start/end"},
		{"counts lines inside quoted cells", "system_name,origin,port\na.example.com,\"two\nlines\",x\n", "line 3, column 3 (port)"},
		{"reports a row with too many cells", "system_name\na,b\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ReadCSV error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
