package app

import (
	"fmt"
	"strings"

	"github.com/ottr-go/ottr/internal/config"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip"
	"github.com/ottr-go/ottr/internal/driver/junos"
	"github.com/ottr-go/ottr/internal/driver/lighthouse"
	"github.com/ottr-go/ottr/internal/driver/linux"
	"github.com/ottr-go/ottr/internal/driver/panos"
	"github.com/ottr-go/ottr/internal/driver/script"
	"github.com/ottr-go/ottr/internal/driver/ssm"
	"github.com/ottr-go/ottr/internal/route"
)

// Drivers returns the drivers this build has, each under the name routes
// select it by: linux, panos, bigip, lighthouse, junos, script and
// linux-ssm. knownHostsFile is ottr.yaml's known_hosts_file, which the SSH
// drivers verify host keys against; "" where no device is reached.
func Drivers(knownHostsFile string) *driver.Registry {
	return driver.NewRegistry(
		linux.New(linux.Config{KnownHostsFile: knownHostsFile}),
		panos.New(panos.Config{}),
		bigip.New(bigip.Config{}),
		lighthouse.New(lighthouse.Config{}),
		junos.New(junos.Config{KnownHostsFile: knownHostsFile}),
		script.New(script.Config{KnownHostsFile: knownHostsFile}),
		ssm.New(ssm.Config{}),
	)
}

// compileRoutes builds cfg's routing table, with every route's options
// checked against its driver's schema and rules; a refusal is a
// *config.Error naming each problem's line.
func compileRoutes(drivers *driver.Registry, cfg *config.Config) (*route.Table, error) {
	return cfg.CompileRoutes(func(name string, options map[string]any) error {
		d, ok := drivers.Get(name)
		if !ok {
			return fmt.Errorf("%w %q (this build has: %s)", route.ErrUnknownDriver, name, strings.Join(drivers.Names(), ", "))
		}
		return driver.CheckOptions(d, options)
	})
}
