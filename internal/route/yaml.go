package route

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// ParseYAML reads a standalone routes file:
//
//	routes:
//	  - name: panos-9
//	    match: {platform: panos, os_version: "9.*"}
//	    driver: panos
//	    options: {tls_profile: ottr}
//
// A key it does not know is an error with its line number, so a misspelt
// match field cannot silently widen a route. An empty file has no routes.
// The routes are not checked beyond their shape: pass them to Compile.
func ParseYAML(data []byte) ([]Route, error) {
	var file struct {
		Routes []Route `yaml:"routes"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("route: read routes file: %w", err)
	}
	return file.Routes, nil
}
