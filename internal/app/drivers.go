package app

import (
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linux"
)

// Drivers returns the drivers this build has.
func Drivers() *driver.Registry {
	return driver.NewRegistry(linux.New(linux.Config{}))
}
