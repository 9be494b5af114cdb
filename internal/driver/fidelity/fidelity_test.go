package fidelity

import (
	"os"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/ottr-go/ottr/internal/driver"
)

func TestDocsCarryEveryDriversTable(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/drivers.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Replace(string(doc), Tables())
	if err != nil {
		t.Fatal(err)
	}
	if want != string(doc) {
		t.Fatal("docs/drivers.md's fidelity table or option tables are not the drivers' Requests and Schemas: run go generate ./internal/driver/fidelity")
	}
}

func TestEveryRequestNamesItsSourceOrHowTheDriverStaysSafe(t *testing.T) {
	for _, tb := range Tables() {
		for _, r := range tb.Requests {
			if r.Call == "" || r.Fields == "" {
				t.Errorf("%s: a request without a call or fields: %+v", tb.Driver, r)
			}
			if r.Confirmed() == (r.Safety != "") {
				t.Errorf("%s: %s: give either a source or, where none confirms it, what the driver does to stay safe", tb.Driver, r.Call)
			}
		}
	}
}

func TestEveryOptionIsDeclaredWithAKindAndWhatItDoes(t *testing.T) {
	kinds := []driver.OptionKind{driver.OptionString, driver.OptionPath, driver.OptionInt, driver.OptionBool,
		driver.OptionDuration, driver.OptionStringList, driver.OptionStringMap}
	for _, tb := range Tables() {
		if len(tb.Options) == 0 {
			t.Errorf("%s declares no options", tb.Driver)
		}
		seen := map[string]bool{}
		for _, o := range tb.Options {
			if o.Name == "" || seen[o.Name] {
				t.Errorf("%s: option %q is unnamed or declared twice", tb.Driver, o.Name)
			}
			seen[o.Name] = true
			if !slices.Contains(kinds, o.Kind) {
				t.Errorf("%s: %s has kind %q, which is none of %v", tb.Driver, o.Name, o.Kind, kinds)
			}
			// The doc completes "is required: " in errors and fills a table
			// cell in docs: one line, starting as the middle of a sentence
			// does (an acronym such as PEM aside).
			first, _, _ := strings.Cut(o.Doc, " ")
			if first == "" || strings.ContainsAny(o.Doc, "\n`") || unicode.IsUpper([]rune(first)[0]) && first != strings.ToUpper(first) {
				t.Errorf("%s: %s: doc %q is not one line starting in lower case", tb.Driver, o.Name, o.Doc)
			}
			if o.Required && o.Default != "" {
				t.Errorf("%s: %s is required and has a default, %q", tb.Driver, o.Name, o.Default)
			}
		}
	}
}
