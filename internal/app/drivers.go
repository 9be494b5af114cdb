package app

import (
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip"
	"github.com/ottr-go/ottr/internal/driver/junos"
	"github.com/ottr-go/ottr/internal/driver/lighthouse"
	"github.com/ottr-go/ottr/internal/driver/linux"
	"github.com/ottr-go/ottr/internal/driver/panos"
	"github.com/ottr-go/ottr/internal/driver/script"
	"github.com/ottr-go/ottr/internal/driver/ssm"
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
