package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/route"
)

// optionProblem is a problem with one route option, as drivers report
// them (driver.OptionProblem).
type optionProblem struct{ path, detail string }

func (p optionProblem) Error() string      { return fmt.Sprintf("option %q: %s", p.path, p.detail) }
func (p optionProblem) OptionPath() string { return p.path }
func (p optionProblem) Detail() string     { return p.detail }

// hostValidator knows the driver "host", which takes cert_path (required),
// reload_command (required) and env (a map).
func hostValidator(driver string, options map[string]any) error {
	if driver != "host" {
		return fmt.Errorf("%w %q (this build has: host)", route.ErrUnknownDriver, driver)
	}
	var errs []error
	for name, v := range options {
		switch name {
		case "cert_path", "reload_command":
		case "env":
			if _, ok := v.(map[string]any)["TOKEN"].(string); !ok {
				errs = append(errs, optionProblem{"env.TOKEN", "must be a reference"})
			}
		default:
			errs = append(errs, optionProblem{name, "unknown option"})
		}
	}
	if _, ok := options["cert_path"]; !ok {
		errs = append(errs, optionProblem{"cert_path", "is required"})
	}
	return errors.Join(errs...)
}

func TestRouteProblemsAreReportedAtTheirLines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		routes string
		want   []string
	}{
		{"an option the driver refuses, at its line", `
  - driver: host
    options:
      cert_path: /etc/site.pem
      reload_cmd: systemctl reload nginx
`, []string{"ottr.yaml:6: routes[0].options.reload_cmd: unknown option"}},
		{"a missing option, at the line of the options", `
  - driver: host
    options:
      reload_command: systemctl reload nginx
`, []string{"ottr.yaml:4: routes[0].options.cert_path: is required"}},
		{"a missing option of a route without options, at the route", `
  - name: bare
    driver: host
`, []string{"ottr.yaml:3: routes[0].options.cert_path: is required"}},
		{"a value within an option, at its line", `
  - driver: host
    options:
      cert_path: /etc/site.pem
      env:
        TOKEN: 5
`, []string{"ottr.yaml:7: routes[0].options.env.TOKEN: must be a reference"}},
		{"problems of two routes, in the order of the file", `
  - driver: host
    match: {os_version: ">=x"}
    options:
      cert_path: /etc/a.pem
      colour: red
  - driver: hots
`, []string{
			`ottr.yaml:4: routes[0].match.os_version: range ">=x": version "x" must be one to three numbers separated by dots, like 9.1 or 18.2.0; vendor suffixes such as -h3 or R3 are not compared`,
			`ottr.yaml:7: routes[0].options.colour: unknown option`,
			`ottr.yaml:8: routes[1].driver: unknown driver "hots" (this build has: host)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte("data_dir: /var/lib/ottr\nroutes:"+tc.routes), "ottr.yaml")
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.CompileRoutes(hostValidator)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("CompileRoutes = %v, want an *Error", err)
			}
			if want := strings.Join(tc.want, "\n"); err.Error() != want {
				t.Errorf("CompileRoutes reported\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestRoutesTheValidatorAcceptsCompile(t *testing.T) {
	c, err := Parse([]byte("routes:\n  - driver: host\n    options: {cert_path: /etc/a.pem}\n"), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	table, err := c.CompileRoutes(hostValidator)
	if err != nil || table.Len() != 1 {
		t.Fatalf("CompileRoutes = %v, %v; want a table of one route", table, err)
	}
}
