package route

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/asset"
)

func testRoutes() []Route {
	return []Route{
		{Name: "panos-9", Match: Match{Platform: "panos", OSVersion: ">=9 <10", CertificateAuthority: "lets_encrypt",
			Models: []string{"PA-3220", "PA-5220"}}, Driver: "panos", Options: map[string]any{"commit": "partial"}},
		{Name: "panos-any", Match: Match{Platform: "panos"}, Driver: "panos"},
		{Match: Match{Platform: "linux", OSVersion: "2*", DataCenter: "DC1"}, Driver: "linux"},
		{Match: Match{Platform: "linux"}, Driver: "script", Options: map[string]any{"csr": "/opt/csr.sh"}},
	}
}

func mustCompile(t *testing.T, routes []Route) *Table {
	t.Helper()
	table, err := Compile(routes, nil)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return table
}

func TestMatch(t *testing.T) {
	table := mustCompile(t, testRoutes())
	tests := []struct {
		name      string
		asset     asset.Asset
		wantName  string
		wantIndex int
		wantOK    bool
	}{
		{"takes the first route that matches",
			asset.Asset{HostPlatform: "panos", OSVersion: "9.1.0-h3", CertificateAuthority: "lets_encrypt", DeviceModel: "PA-3220"},
			"panos-9", 0, true},
		{"falls through when the model is not listed",
			asset.Asset{HostPlatform: "panos", OSVersion: "9.1.0", CertificateAuthority: "lets_encrypt", DeviceModel: "PA-220"},
			"panos-any", 1, true},
		{"falls through when the version is out of range",
			asset.Asset{HostPlatform: "panos", OSVersion: "8.1.0", CertificateAuthority: "lets_encrypt", DeviceModel: "PA-3220"},
			"panos-any", 1, true},
		{"falls through when the CA differs",
			asset.Asset{HostPlatform: "panos", OSVersion: "9.1.0", CertificateAuthority: "digicert", DeviceModel: "PA-3220"},
			"panos-any", 1, true},
		{"compares data centers without case",
			asset.Asset{HostPlatform: "linux", OSVersion: "22.04", DataCenter: "dc1"},
			"route 3", 2, true},
		{"needs the data center when the route names one",
			asset.Asset{HostPlatform: "linux", OSVersion: "22.04", DataCenter: "dc2"},
			"route 4", 3, true},
		{"reports no route for an unknown platform",
			asset.Asset{HostPlatform: "f5"}, "", -1, false},
		{"compares platforms exactly",
			asset.Asset{HostPlatform: "PANOS"}, "", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, i, ok := table.Match(tt.asset)
			if r.Name != tt.wantName || i != tt.wantIndex || ok != tt.wantOK {
				t.Errorf("Match = %q, %d, %v; want %q, %d, %v", r.Name, i, ok, tt.wantName, tt.wantIndex, tt.wantOK)
			}
		})
	}
}

func TestMatchReturnsACopy(t *testing.T) {
	table := mustCompile(t, testRoutes())
	a := asset.Asset{HostPlatform: "panos", OSVersion: "9.1.0", CertificateAuthority: "lets_encrypt", DeviceModel: "PA-3220"}
	r, _, _ := table.Match(a)
	r.Options["commit"] = "full"
	r.Match.Models[0] = "changed"
	again, _, _ := table.Match(a)
	if again.Options["commit"] != "partial" || again.Match.Models[0] != "PA-3220" {
		t.Errorf("changing a matched route changed the table: %+v", again)
	}
}

func TestExplain(t *testing.T) {
	table := mustCompile(t, testRoutes())
	a := asset.Asset{HostPlatform: "panos", OSVersion: "8.1.0", CertificateAuthority: "lets_encrypt", DeviceModel: "PA-220"}
	got := table.Explain(a)
	want := []Explanation{
		{Index: 0, Name: "panos-9", Driver: "panos", Reasons: []string{
			`os_version "8.1.0" is not in ">=9 <10"`,
			`device_model "PA-220" is not in [PA-3220 PA-5220]`,
		}},
		{Index: 1, Name: "panos-any", Driver: "panos", Matched: true, Chosen: true, Reasons: []string{
			`host_platform "panos" is "panos"`,
		}},
		{Index: 2, Name: "route 3", Driver: "linux", Reasons: []string{
			`host_platform "panos" is not "linux"`,
			`os_version "8.1.0" does not match "2*"`,
			`data_center "" is not "DC1"`,
		}},
		{Index: 3, Name: "route 4", Driver: "script", Reasons: []string{
			`host_platform "panos" is not "linux"`,
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Explain:\n got %#v\nwant %#v", got, want)
	}
}

func TestExplainMarksShadowedRoutesAndCatchAlls(t *testing.T) {
	table := mustCompile(t, []Route{
		{Name: "all", Driver: "script"},
		{Name: "panos", Match: Match{Platform: "panos", OSVersion: "9.*"}, Driver: "panos"},
	})
	got := table.Explain(asset.Asset{HostPlatform: "panos", OSVersion: "9.1.0"})
	if !got[0].Chosen || !reflect.DeepEqual(got[0].Reasons, []string{"the route matches every asset"}) {
		t.Errorf("catch-all explanation = %+v", got[0])
	}
	if !got[1].Matched || got[1].Chosen {
		t.Errorf("second route: Matched=%v Chosen=%v, want matched but not chosen", got[1].Matched, got[1].Chosen)
	}
	if last := got[1].Reasons[len(got[1].Reasons)-1]; !strings.Contains(last, `routes[0] "all" matches first`) {
		t.Errorf("shadowed route's last reason = %q", last)
	}
	if !strings.Contains(strings.Join(got[1].Reasons, "\n"), `os_version "9.1.0" matches "9.*"`) {
		t.Errorf("matched route reasons = %q, want the os_version that held", got[1].Reasons)
	}
}

func TestExplainSaysWhenTheAssetHasNoVersion(t *testing.T) {
	table := mustCompile(t, []Route{{Match: Match{OSVersion: ">=9"}, Driver: "panos"}})
	got := table.Explain(asset.Asset{})
	if want := []string{`os_version is empty; the route needs ">=9"`}; !reflect.DeepEqual(got[0].Reasons, want) {
		t.Errorf("Reasons = %q, want %q", got[0].Reasons, want)
	}
}

func TestAStarGlobTakesAnAssetWithNoVersion(t *testing.T) {
	table := mustCompile(t, []Route{
		{Name: "nine", Match: Match{OSVersion: "9.*"}, Driver: "panos"},
		{Name: "any", Match: Match{OSVersion: "*"}, Driver: "linux"},
	})
	got := table.Explain(asset.Asset{})
	if got[0].Matched {
		t.Errorf("route 9.* took an asset with no version: %+v", got[0])
	}
	if want := []string{`os_version "" does not match "9.*"`}; !reflect.DeepEqual(got[0].Reasons, want) {
		t.Errorf("9.* reasons = %q, want %q", got[0].Reasons, want)
	}
	if !got[1].Chosen {
		t.Errorf("route * did not take an asset with no version: %+v", got[1])
	}
}

func TestCompileErrors(t *testing.T) {
	validator := func(driver string, options map[string]any) error {
		switch driver {
		case "panos":
			if _, ok := options["colour"]; ok {
				return errors.New(`option "colour" is not a panos option; options are tls_profile, commit`)
			}
			return nil
		}
		return fmt.Errorf("%w %q; drivers are panos", ErrUnknownDriver, driver)
	}
	tests := []struct {
		name    string
		routes  []Route
		wantErr []string
	}{
		{"names a route with no driver by index and default name",
			[]Route{{Driver: "panos"}, {Match: Match{Platform: "f5"}}},
			[]string{`routes[1].driver: is required`}},
		{"names an unknown driver",
			[]Route{{Name: "f5", Driver: "bigipp"}},
			[]string{`routes[0].driver: unknown driver "bigipp"`}},
		{"wraps the driver's option error",
			[]Route{{Name: "fw", Driver: "panos", Options: map[string]any{"colour": "red"}}},
			[]string{`routes[0].options: option "colour" is not a panos option`}},
		{"names a bad os_version",
			[]Route{{Name: "fw", Driver: "panos", Match: Match{OSVersion: ">=9.1.0-h3"}}},
			[]string{`routes[0].match.os_version: range ">=9.1.0-h3"`}},
		{"names an empty model",
			[]Route{{Name: "fw", Driver: "panos", Match: Match{Models: []string{"PA-220", " "}}}},
			[]string{`routes[0].match.models[1]: is empty`}},
		{"names a host template that does not parse",
			[]Route{{Name: "web", Driver: "panos", Host: "{{.IPAddress"}},
			[]string{`routes[0].host: is not a valid template`}},
		{"names a host template of a field assets do not have",
			[]Route{{Name: "web", Driver: "panos", Host: "{{.Rack}}"}},
			[]string{`routes[0].host: cannot be applied to asset "web1.example.com"`}},
		{"names a host template that renders nothing",
			[]Route{{Name: "web", Driver: "panos", Host: "{{if false}}x{{end}}"}},
			[]string{`routes[0].host: renders nothing for asset "web1.example.com"`}},
		{"reports every bad route at once",
			[]Route{{Name: "a"}, {Name: "b", Driver: "nope"}},
			[]string{`routes[0].driver: is required`, `routes[1].driver: unknown driver`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.routes, validator)
			if err == nil {
				t.Fatal("Compile = nil error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %v\nwant it to contain %q", err, want)
				}
			}
		})
	}
}

// locatedError is an option problem that names its option, as the
// drivers' *driver.OptionProblem does.
type locatedError struct{ path string }

func (e locatedError) Error() string      { return "option " + e.path + ": is wrong" }
func (e locatedError) OptionPath() string { return e.path }
func (e locatedError) Detail() string     { return "is wrong" }

func TestCompileErrorsNameTheOptionAtFault(t *testing.T) {
	validator := func(driver string, options map[string]any) error {
		if driver != "script" {
			return fmt.Errorf("%w %q", ErrUnknownDriver, driver)
		}
		var errs []error
		if options["env"] != nil {
			errs = append(errs, locatedError{"env.TOKEN"})
		}
		if options["plain"] != nil {
			errs = append(errs, locatedError{"plain"})
		}
		if options["whole"] != nil {
			errs = append(errs, locatedError{""})
		}
		if options["x"] != nil {
			errs = append(errs, errors.New("script: options: something else is wrong"))
		}
		return errors.Join(errs...)
	}
	for _, tc := range []struct {
		name   string
		routes []Route
		want   []Problem
	}{
		{"each problem at the option it names, in the order given",
			[]Route{{Driver: "script", Options: map[string]any{"env": map[string]any{"TOKEN": "x"}, "plain": "x"}}},
			[]Problem{{Route: 0, Path: "options.env.TOKEN", Message: "is wrong"}, {Route: 0, Path: "options.plain", Message: "is wrong"}}},
		{"a problem naming no option at the options, whole",
			[]Route{{Driver: "script", Options: map[string]any{"x": 1, "whole": 1}}},
			[]Problem{{Route: 0, Path: "options", Message: "is wrong"}, {Route: 0, Path: "options", Message: "script: options: something else is wrong"}}},
		{"a problem in the second route at the second route",
			[]Route{{Driver: "script"}, {Driver: "script", Options: map[string]any{"plain": 1}}},
			[]Problem{{Route: 1, Path: "options.plain", Message: "is wrong"}}},
		{"an unknown driver at the driver",
			[]Route{{Driver: "nosuch"}},
			[]Problem{{Route: 0, Path: "driver", Message: `unknown driver "nosuch"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.routes, validator)
			var compileErr *Error
			if !errors.As(err, &compileErr) {
				t.Fatalf("Compile = %v, want an *Error", err)
			}
			got := make([]Problem, len(compileErr.Problems))
			for i, p := range compileErr.Problems {
				p.Err = nil
				got[i] = p
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestCompileErrorNamesEachSettingOnALine(t *testing.T) {
	_, err := Compile([]Route{{Name: "a"}, {Name: "b", Driver: "x", Match: Match{Models: []string{""}}}}, nil)
	want := "routes[0].driver: is required: name the driver that rotates these assets, like panos or linux\n" +
		"routes[1].match.models[0]: is empty; remove it or name a device model"
	if err == nil || err.Error() != want {
		t.Errorf("Compile = %v\nwant\n%s", err, want)
	}
}

func TestCompileUnknownDriverStaysDetectable(t *testing.T) {
	_, err := Compile([]Route{{Driver: "x"}}, func(string, map[string]any) error { return ErrUnknownDriver })
	if !errors.Is(err, ErrUnknownDriver) {
		t.Errorf("errors.Is(err, ErrUnknownDriver) = false for %v", err)
	}
}

func TestPlatforms(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		want   map[string]bool
	}{
		{"lists the platforms routes name", testRoutes(), map[string]bool{"panos": true, "linux": true}},
		{"is nil when a route takes every platform", []Route{{Match: Match{Platform: "panos"}, Driver: "panos"}, {Driver: "script"}}, nil},
		{"is empty with no routes", nil, map[string]bool{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustCompile(t, tt.routes).Platforms(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Platforms = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoutesFillsDefaultNames(t *testing.T) {
	table := mustCompile(t, testRoutes())
	var names []string
	for _, r := range table.Routes() {
		names = append(names, r.Name)
	}
	if want := []string{"panos-9", "panos-any", "route 3", "route 4"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names = %v, want %v", names, want)
	}
	if table.Len() != 4 {
		t.Errorf("Len = %d, want 4", table.Len())
	}
}

func TestTableDoesNotShareTheCallersSlices(t *testing.T) {
	routes := testRoutes()
	table := mustCompile(t, routes)
	routes[0].Match.Models[0] = "changed"
	routes[0].Options["commit"] = "full"
	got := table.Routes()[0]
	if got.Match.Models[0] != "PA-3220" || got.Options["commit"] != "partial" {
		t.Errorf("table changed with the caller's routes: %+v", got)
	}
}
