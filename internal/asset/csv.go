package asset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CSVColumns are the columns WriteCSV writes, in order: every field's JSON
// name. ReadCSV accepts any subset of them in any order.
func CSVColumns() []string {
	return []string{
		"system_name", "common_name", "subject_alternative_name",
		"certificate_authority", "certificate_expiration", "certificate_validation",
		"data_center", "device_model", "host_platform", "ip_address", "origin",
		"os_version", "port", "labels", "credentials", "key_type", "paused",
		"certificate_serial", "certificate_issuer", "certificate_not_before",
		"last_rotation", "failure_count", "next_attempt_at", "renewal_window",
		"renewal_time", "renewal_cert_id", "renewal_cert_ca", "renewal_check_at",
	}
}

// ReadCSV reads assets from CSV whose first row names the columns with the
// JSON field names (see CSVColumns; system_name is required, the rest may
// be left out). In cells, SANs are separated by ";", labels are written
// "k=v;k=v", times are RFC 3339 (or "None"/empty for unknown), a renewal
// window is "start/end", and booleans are true/false (True/False too).
// An error names the line and the column (counting fields from 1).
//
// The assets are returned as read; call Normalize and Validate before
// storing them.
func ReadCSV(r io.Reader) ([]Asset, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("asset: csv: empty input; the first row must name the columns, like system_name,common_name,ip_address")
	}
	if err != nil {
		return nil, fmt.Errorf("asset: csv: %w", err)
	}
	known := CSVColumns()
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // spreadsheet byte order mark
		}
		name = strings.TrimSpace(name)
		header[i] = name
		switch {
		case !slices.Contains(known, name):
			return nil, fmt.Errorf("asset: csv: line 1, column %d: unknown column %q; columns are %s",
				i+1, name, strings.Join(known, ", "))
		case slices.Index(header[:i], name) >= 0:
			return nil, fmt.Errorf("asset: csv: line 1, column %d: column %q appears twice", i+1, name)
		}
	}
	if !slices.Contains(header, "system_name") {
		return nil, errors.New("asset: csv: line 1: the system_name column is required")
	}

	var assets []Asset
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return assets, nil
		}
		if err != nil {
			return nil, fmt.Errorf("asset: csv: %w", err)
		}
		var a Asset
		for i, cell := range row {
			if err := setCSVField(&a, header[i], cell); err != nil {
				line, _ := cr.FieldPos(i)
				return nil, fmt.Errorf("asset: csv: line %d, column %d (%s): %w", line, i+1, header[i], err)
			}
		}
		assets = append(assets, a)
	}
}

func setCSVField(a *Asset, name, cell string) error {
	cell = strings.TrimSpace(cell)
	var v any = cell
	switch name {
	case "subject_alternative_name":
		v = splitList(cell)
	case "labels":
		labels := map[string]any{}
		for _, pair := range splitList(cell) {
			k, val, ok := strings.Cut(pair.(string), "=")
			if !ok {
				return fmt.Errorf("label %q: want key=value", pair)
			}
			labels[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		if len(labels) == 0 {
			v = nil
		} else {
			v = labels
		}
	case "renewal_window":
		if cell == "" || cell == "None" {
			v = nil
			break
		}
		start, end, ok := strings.Cut(cell, "/")
		if !ok {
			return errors.New("want start/end, like 2026-11-01T00:00:00Z/2026-11-03T00:00:00Z")
		}
		v = map[string]any{"start": start, "end": end}
	}
	return setField(a, name, v)
}

func splitList(cell string) []any {
	var out []any
	for _, part := range strings.Split(cell, ";") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// WriteCSV writes assets with a header row of every column (CSVColumns),
// in the format ReadCSV reads. It fails on a SAN or label that the cell
// format cannot hold (a ';' in a name or value, a '=' in a label key)
// rather than write a file that reads back differently.
func WriteCSV(w io.Writer, assets []Asset) error {
	cw := csv.NewWriter(w)
	columns := CSVColumns()
	if err := cw.Write(columns); err != nil {
		return fmt.Errorf("asset: csv: %w", err)
	}
	row := make([]string, len(columns))
	for _, a := range assets {
		for i, name := range columns {
			cell, err := csvCell(&a, name)
			if err != nil {
				return fmt.Errorf("asset: csv: asset %q: %s: %w", a.SystemName, name, err)
			}
			row[i] = cell
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("asset: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("asset: csv: %w", err)
	}
	return nil
}

func csvCell(a *Asset, name string) (string, error) {
	switch name {
	case "system_name":
		return a.SystemName, nil
	case "common_name":
		return a.CommonName, nil
	case "subject_alternative_name":
		for _, san := range a.SubjectAlternativeName {
			if strings.Contains(san, ";") {
				return "", fmt.Errorf("%q holds a ';', which separates SANs", san)
			}
		}
		return strings.Join(a.SubjectAlternativeName, ";"), nil
	case "certificate_authority":
		return a.CertificateAuthority, nil
	case "certificate_expiration":
		return formatTime(a.CertificateExpiration), nil
	case "certificate_validation":
		return strconv.FormatBool(a.CertificateValidation), nil
	case "data_center":
		return a.DataCenter, nil
	case "device_model":
		return a.DeviceModel, nil
	case "host_platform":
		return a.HostPlatform, nil
	case "ip_address":
		return a.IPAddress, nil
	case "origin":
		return a.Origin, nil
	case "os_version":
		return a.OSVersion, nil
	case "port":
		return strconv.Itoa(a.Port), nil
	case "labels":
		pairs := make([]string, 0, len(a.Labels))
		for _, k := range sortedKeys(a.Labels) {
			v := a.Labels[k]
			if strings.ContainsAny(k, "=;") || strings.Contains(v, ";") {
				return "", fmt.Errorf("label %q: a key may not hold '=' or ';' and a value may not hold ';'", k)
			}
			pairs = append(pairs, k+"="+v)
		}
		return strings.Join(pairs, ";"), nil
	case "credentials":
		return a.Credentials, nil
	case "key_type":
		return a.KeyType, nil
	case "paused":
		return strconv.FormatBool(a.Paused), nil
	case "certificate_serial":
		return a.CertificateSerial, nil
	case "certificate_issuer":
		return a.CertificateIssuer, nil
	case "certificate_not_before":
		return formatTime(a.CertificateNotBefore), nil
	case "last_rotation":
		return formatTime(a.LastRotation), nil
	case "failure_count":
		return strconv.Itoa(a.FailureCount), nil
	case "next_attempt_at":
		return formatTime(a.NextAttemptAt), nil
	case "renewal_window":
		if a.RenewalWindow == nil {
			return "", nil
		}
		return formatTime(&a.RenewalWindow.Start) + "/" + formatTime(&a.RenewalWindow.End), nil
	case "renewal_time":
		return formatTime(a.RenewalTime), nil
	case "renewal_cert_id":
		return a.RenewalCertID, nil
	case "renewal_cert_ca":
		return a.RenewalCertCA, nil
	case "renewal_check_at":
		return formatTime(a.RenewalCheckAt), nil
	}
	return "", fmt.Errorf("unknown column %q", name)
}

func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}
