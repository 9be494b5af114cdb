// Command fidelitydoc writes the drivers' request tables and route options
// into the file it is given (docs/drivers.md).
package main

import (
	"fmt"
	"os"

	"github.com/ottr-go/ottr/internal/driver/fidelity"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fidelitydoc docs/drivers.md")
		os.Exit(2)
	}
	doc, err := os.ReadFile(os.Args[1])
	if err == nil {
		var out string
		if out, err = fidelity.Replace(string(doc), fidelity.Tables()); err == nil {
			err = os.WriteFile(os.Args[1], []byte(out), 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fidelitydoc:", err)
		os.Exit(1)
	}
}
