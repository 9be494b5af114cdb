// Package fidelity gathers the request tables of every driver
// (driver.Request) and writes them as the fidelity table of
// docs/drivers.md: for each request a driver sends, the vendor source that
// confirms it, or what the driver does to stay safe where none does.
package fidelity

//go:generate go run ./fidelitydoc ../../../docs/drivers.md

import (
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip"
	"github.com/ottr-go/ottr/internal/driver/junos"
	"github.com/ottr-go/ottr/internal/driver/lighthouse"
	"github.com/ottr-go/ottr/internal/driver/linux"
	"github.com/ottr-go/ottr/internal/driver/panos"
	"github.com/ottr-go/ottr/internal/driver/script"
	"github.com/ottr-go/ottr/internal/driver/ssm"
)

// Table is one driver's requests.
type Table struct {
	Driver   string
	Requests []driver.Request
}

// Tables returns every driver's table, in the order docs/drivers.md
// describes the drivers.
func Tables() []Table {
	return []Table{
		{"linux", linux.Requests()},
		{"panos", panos.Requests()},
		{"bigip", bigip.Requests()},
		{"lighthouse", lighthouse.Requests()},
		{"junos", junos.Requests()},
		{"linux-ssm", ssm.Requests()},
		{"script", script.Requests()},
	}
}

// Begin and End mark the generated table in docs/drivers.md.
const (
	Begin = "<!-- fidelity table: written by go generate ./internal/driver/fidelity; edit the drivers' Requests -->"
	End   = "<!-- end of fidelity table -->"
)

// Markdown renders tables as the section between Begin and End.
func Markdown(tables []Table) string {
	var b strings.Builder
	b.WriteString(Begin + "\n")
	for _, t := range tables {
		fmt.Fprintf(&b, "\n#### %s\n\n", t.Driver)
		if len(t.Requests) == 0 {
			b.WriteString("Sends no request of its own to the device.\n")
			continue
		}
		b.WriteString("| request | fields | confirmed by |\n|---|---|---|\n")
		for _, r := range t.Requests {
			source := r.Source
			if !r.Confirmed() {
				source = "**unconfirmed**: " + r.Safety
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", cell(r.Call), cell(r.Fields), cell(source))
		}
	}
	b.WriteString("\n" + End)
	return b.String()
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// Replace returns doc with the part between Begin and End replaced by
// Markdown(tables).
func Replace(doc string, tables []Table) (string, error) {
	i, j := strings.Index(doc, Begin), strings.Index(doc, End)
	if i < 0 || j < i {
		return "", fmt.Errorf("the fidelity table's markers are missing: put %q and %q where the table goes", Begin, End)
	}
	return doc[:i] + Markdown(tables) + doc[j+len(End):], nil
}
