// Package fidelity gathers what every driver declares about itself and
// writes it into docs/drivers.md: the request tables (driver.Request) as
// the fidelity table — for each request a driver sends, the vendor source
// that confirms it, or what the driver does to stay safe where none does —
// and each driver's route options (driver.Schema) as the option table of
// its section.
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

// Table is one driver's requests and route options.
type Table struct {
	Driver   string
	Requests []driver.Request
	Options  driver.Schema
}

// Tables returns every driver's table, in the order docs/drivers.md
// describes the drivers.
func Tables() []Table {
	return []Table{
		{"linux", linux.Requests(), linux.New(linux.Config{}).Schema()},
		{"panos", panos.Requests(), panos.New(panos.Config{}).Schema()},
		{"bigip", bigip.Requests(), bigip.New(bigip.Config{}).Schema()},
		{"lighthouse", lighthouse.Requests(), lighthouse.New(lighthouse.Config{}).Schema()},
		{"junos", junos.Requests(), junos.New(junos.Config{}).Schema()},
		{"linux-ssm", ssm.Requests(), ssm.New(ssm.Config{}).Schema()},
		{"script", script.Requests(), script.New(script.Config{}).Schema()},
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

// OptionsBegin and OptionsEnd mark a driver's option table in
// docs/drivers.md.
func OptionsBegin(driverName string) string {
	return "<!-- options of " + driverName + ": written by go generate ./internal/driver/fidelity; edit the driver's Schema -->"
}

// OptionsEnd ends the option table OptionsBegin starts.
func OptionsEnd(driverName string) string { return "<!-- end of options of " + driverName + " -->" }

// OptionsMarkdown renders a driver's schema as the section between
// OptionsBegin and OptionsEnd.
func OptionsMarkdown(driverName string, s driver.Schema) string {
	var b strings.Builder
	b.WriteString(OptionsBegin(driverName) + "\n")
	b.WriteString("| option | kind | default | meaning |\n|---|---|---|---|\n")
	for _, o := range s {
		def := o.Default
		switch {
		case o.Required:
			def = "required"
		case def == "":
		case !strings.Contains(def, " "):
			def = "`" + def + "`"
		}
		doc := o.Doc
		if o.Secret {
			doc = "**secret**: " + doc
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", o.Name, o.Kind, cell(def), text(doc))
	}
	b.WriteString(OptionsEnd(driverName))
	return b.String()
}

// text makes plain text, such as "labels.<key>", safe and shown as written
// inside a Markdown table cell.
func text(s string) string {
	return cell(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s))
}

// Replace returns doc with the fidelity table and every driver's option
// table written from tables.
func Replace(doc string, tables []Table) (string, error) {
	doc, err := replaceBetween(doc, Begin, End, Markdown(tables))
	if err != nil {
		return "", fmt.Errorf("the fidelity table: %w", err)
	}
	for _, t := range tables {
		doc, err = replaceBetween(doc, OptionsBegin(t.Driver), OptionsEnd(t.Driver), OptionsMarkdown(t.Driver, t.Options))
		if err != nil {
			return "", fmt.Errorf("the option table of %s: %w", t.Driver, err)
		}
	}
	return doc, nil
}

// replaceBetween returns doc with the part from begin to end, both
// included, replaced by section.
func replaceBetween(doc, begin, end, section string) (string, error) {
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("its markers are missing: put %q and %q where the table goes", begin, end)
	}
	return doc[:i] + section + doc[j+len(end):], nil
}
