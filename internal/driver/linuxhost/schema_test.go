package linuxhost_test

import (
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux"
	"github.com/ottr-go/ottr/internal/driver/ssm"
)

// TestEachDriversSchemaMarksRequiredWhatItsValidationRequires checks the
// Schema of each driver built on the host logic against its validation of
// a route that sets no option at all.
func TestEachDriversSchemaMarksRequiredWhatItsValidationRequires(t *testing.T) {
	for _, d := range []interface {
		driver.Driver
		Schema() driver.Schema
	}{linux.New(linux.Config{}), ssm.New(ssm.Config{})} {
		t.Run(d.Name(), func(t *testing.T) {
			err := d.ValidateOptions(map[string]any{})
			if err == nil {
				t.Fatal("ValidateOptions accepted a route without options")
			}
			required := 0
			for _, spec := range d.Schema() {
				if spec.Required {
					required++
				}
				if got := strings.Contains(err.Error(), `"`+spec.Name+`": is required`); got != spec.Required {
					t.Errorf("%s: the schema says required %v, ValidateOptions %v", spec.Name, spec.Required, got)
				}
			}
			if n := strings.Count(err.Error(), ": is required"); n != required {
				t.Errorf("ValidateOptions requires %d options, the schema %d: %v", n, required, err)
			}
		})
	}
}
