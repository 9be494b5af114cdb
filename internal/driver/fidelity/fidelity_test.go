package fidelity

import (
	"os"
	"testing"
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
		t.Fatal("docs/drivers.md's fidelity table is not the drivers' Requests: run go generate ./internal/driver/fidelity")
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
