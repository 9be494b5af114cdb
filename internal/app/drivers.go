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
// linux-ssm.
func Drivers() *driver.Registry {
	return driver.NewRegistry(
		linux.New(linux.Config{}),
		panos.New(panos.Config{}),
		bigip.New(bigip.Config{}),
		lighthouse.New(lighthouse.Config{}),
		junos.New(junos.Config{}),
		script.New(script.Config{}),
		ssm.New(ssm.Config{}),
	)
}
