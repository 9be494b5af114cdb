package ssm

import "github.com/ottr-go/ottr/internal/driver"

// Requests lists every kind of request the driver sends to a device, each
// with the published source that confirms its shape (driver.Request). A
// test fails on any request the emulator sees that is not listed here.
func Requests() []driver.Request {
	return []driver.Request{}
}
