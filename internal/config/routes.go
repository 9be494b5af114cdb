package config

import (
	"errors"

	"github.com/ottr-go/ottr/internal/route"
)

// CompileRoutes builds the routing table from the configuration's routes,
// v checking each route's driver and options (route.Compile). What it
// refuses is an *Error like the loader's own, each problem on the line of
// the setting at fault — an option the driver does not know on the line
// it was written, a missing one on the line of the route's options:
//
//	ottr.yaml:57: routes[0].options.reload_cmd: unknown option (did you mean "reload_command"?)
func (c *Config) CompileRoutes(v route.OptionValidator) (*route.Table, error) {
	table, err := route.Compile(c.Routes, v)
	var compileErr *route.Error
	if !errors.As(err, &compileErr) {
		return table, err
	}
	problems := make([]Problem, len(compileErr.Problems))
	for i, p := range compileErr.Problems {
		setting := p.Setting()
		problems[i] = Problem{Line: c.Line(setting), Path: setting, Message: p.Message}
	}
	return nil, newError(c.source, problems)
}
