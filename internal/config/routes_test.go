package config

import (
	"testing"
)

func TestRoutesKnowTheLinesTheyWereWrittenOn(t *testing.T) {
	c, err := Parse([]byte(`data_dir: /var/lib/ottr
routes:
  - name: first
    driver: linux
  - name: scripts
    driver: script
    options:
      generate_csr: /opt/gen.sh
      env:
        API_TOKEN: env:DEVICE_API_TOKEN
`), "ottr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	src := c.Routes[1].Source
	if src.File != "ottr.yaml" {
		t.Errorf("source file %q, want ottr.yaml", src.File)
	}
	for path, want := range map[string]int{"": 5, "driver": 6, "options": 7, "options.env": 9, "options.env.API_TOKEN": 10} {
		if got := src.Lines[path]; got != want {
			t.Errorf("line of %q: %d, want %d", path, got, want)
		}
	}
	if got := c.Routes[0].Source.Lines["driver"]; got != 4 {
		t.Errorf("line of the first route's driver: %d, want 4", got)
	}
}
