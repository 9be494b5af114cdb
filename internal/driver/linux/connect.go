package linux

import (
	"context"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/driver"
)

// dial connects to addr over SSH, the host key checked against
// knownHostsFile, within the driver's dial timeout and ctx.
func (d *Driver) dial(ctx context.Context, addr, knownHostsFile string, c driver.Credentials) (*ssh.Client, error) {
	client, _, err := d.ssh.Dial(ctx, addr, knownHostsFile, c)
	if err != nil {
		return nil, errorf("open", "%w", err)
	}
	return client, nil
}
