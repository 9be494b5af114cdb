package cli_test

import (
	"strings"
	"testing"
)

// --no-rotate runs no wave, so there is nothing for --bench to measure:
// the two are refused together before anything starts.
func TestLabNoRotateRefusesBench(t *testing.T) {
	out, errOut, code := run(t, "", "lab", "--no-rotate", "--bench", "--devices", "2")
	if code == 0 {
		t.Fatalf("ottr lab --no-rotate --bench succeeded:\n%s", out)
	}
	for _, want := range []string{"--bench", "--no-rotate", "drop one of them"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(out, "starting the lab") {
		t.Errorf("the lab started before the flags were checked:\n%s", out)
	}
}
