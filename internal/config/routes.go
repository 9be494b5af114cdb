package config

import (
	"strconv"
	"strings"

	"github.com/ottr-go/ottr/internal/route"
)

// locateRoutes gives every route its place in the file, so that compiling
// the routing table, where the drivers check the options, reports the line
// of what it refuses.
func (c *Config) locateRoutes() {
	lines := make([]map[string]int, len(c.Routes))
	for path, line := range c.lines {
		rest, ok := strings.CutPrefix(path, "routes[")
		if !ok {
			continue
		}
		index, within, ok := strings.Cut(rest, "]")
		i, err := strconv.Atoi(index)
		if !ok || err != nil || i < 0 || i >= len(c.Routes) {
			continue
		}
		if lines[i] == nil {
			lines[i] = map[string]int{}
		}
		lines[i][strings.TrimPrefix(within, ".")] = line
	}
	for i := range c.Routes {
		c.Routes[i].Source = route.Source{File: c.source, Lines: lines[i]}
	}
}
