package driver_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ottr-go/ottr/internal/driver"
)

// problems collects what a driver.BadOption reports, one line each.
type problems []string

func (p *problems) bad(name, rule string, args ...any) {
	*p = append(*p, fmt.Sprintf("option %q: "+rule, append([]any{name}, args...)...))
}

func TestCheckKnownOptions(t *testing.T) {
	var got problems
	raw := map[string]any{"port": 1, "zeta": true, "alpha": "x"}
	driver.CheckKnownOptions(raw, []string{"mode", "port"}, got.bad)
	want := problems{
		`option "alpha": unknown option (known: mode, port)`,
		`option "zeta": unknown option (known: mode, port)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("reported %q, want %q", got, want)
	}
}

func TestInteger(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
		want  int
		ok    bool
	}{
		{"takes a YAML int", 8443, 8443, true},
		{"takes an int64", int64(7), 7, true},
		{"takes an int32", int32(7), 7, true},
		{"takes a JSON whole float", float64(22), 22, true},
		{"takes a quoted number", "830", 830, true},
		{"refuses a fraction", 1.5, 0, false},
		{"refuses a float beyond int32", float64(1 << 40), 0, false},
		{"refuses a uint64 beyond int32", uint64(1 << 40), 0, false},
		{"refuses an int64 beyond int32", int64(1 << 40), 0, false},
		{"refuses an int beyond int32", -1 << 40, 0, false},
		{"refuses a quoted number beyond int32", "1099511627776", 0, false},
		{"refuses a word", "twenty", 0, false},
		{"refuses a bool", true, 0, false},
		{"refuses nothing", nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := driver.Integer(tc.value)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("Integer(%#v) = %d, %v; want %d, ok %v", tc.value, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestIntOption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     map[string]any
		want    int
		problem string
	}{
		{"keeps the default when the option is absent", map[string]any{}, 22, ""},
		{"takes a value within bounds", map[string]any{"port": 2222}, 2222, ""},
		{"reports a value that is no number", map[string]any{"port": "ssh"}, 22, `option "port": must be a whole number, got "ssh"`},
		{"reports a value out of bounds", map[string]any{"port": 70000}, 22, `option "port": must be between 1 and 65535, got 70000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got problems
			if n := driver.IntOption(tc.raw, "port", 22, 1, 65535, got.bad); n != tc.want {
				t.Errorf("IntOption = %d, want %d", n, tc.want)
			}
			if want := problemsOf(tc.problem); !slices.Equal(got, want) {
				t.Errorf("reported %q, want %q", got, want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value any
		want  time.Duration
		ok    bool
	}{
		{"takes a Go duration", "90s", 90 * time.Second, true},
		{"takes whole seconds from YAML", 600, 10 * time.Minute, true},
		{"takes whole seconds from JSON", float64(30), 30 * time.Second, true},
		{"takes quoted seconds", "45", 45 * time.Second, true},
		{"refuses a word", "soon", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := driver.Duration(tc.value)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("Duration(%#v) = %v, %v; want %v, ok %v", tc.value, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestFormatDurationWritesWhatARouteWould(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second:               "5s",
		90 * time.Second:              "1m30s",
		10 * time.Minute:              "10m",
		2 * time.Hour:                 "2h",
		2*time.Hour + 30*time.Minute:  "2h30m",
		48*time.Hour + 30*time.Second: "48h0m30s",
	} {
		if got := driver.FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestStringOption(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     map[string]any
		want    string
		ok      bool
		problem string
	}{
		{"is not ok when the option is absent", map[string]any{}, "", false, ""},
		{"returns a single-line string", map[string]any{"cmd": "systemctl reload nginx"}, "systemctl reload nginx", true, ""},
		{"returns an empty string", map[string]any{"cmd": ""}, "", true, ""},
		{"reports a value that is no string", map[string]any{"cmd": 5}, "", false, `option "cmd": must be a string, got int 5`},
		{"reports a string that spans lines", map[string]any{"cmd": "a\nb"}, "", false, `option "cmd": must be a single line`},
		{"reports a string with a NUL", map[string]any{"cmd": "a\x00b"}, "", false, `option "cmd": must be a single line`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got problems
			s, ok := driver.StringOption(tc.raw, "cmd", got.bad)
			if s != tc.want || ok != tc.ok {
				t.Errorf("StringOption = %q, %v; want %q, %v", s, ok, tc.want, tc.ok)
			}
			if want := problemsOf(tc.problem); !slices.Equal(got, want) {
				t.Errorf("reported %q, want %q", got, want)
			}
		})
	}
}

func TestDescribeValueTellsAStringFromANumber(t *testing.T) {
	for value, want := range map[any]string{
		nil:    "nothing",
		8080:   "int 8080",
		"8080": `"8080"`,
		true:   "bool true",
	} {
		if got := driver.DescribeValue(value); got != want {
			t.Errorf("DescribeValue(%#v) = %q, want %q", value, got, want)
		}
	}
}

func problemsOf(p string) problems {
	if p == "" {
		return nil
	}
	return problems{p}
}
