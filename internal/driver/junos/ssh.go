package junos

import (
	"context"
	"net"

	"golang.org/x/crypto/ssh"

	"github.com/ottr-go/ottr/internal/driver"
)

// dial connects to addr over SSH, the host key checked against
// knownHostsFile, within ctx. It returns the TCP connection too: closing it
// is how a blocked NETCONF read is interrupted.
func (d *Driver) dial(ctx context.Context, addr, knownHostsFile string, c driver.Credentials) (*ssh.Client, net.Conn, error) {
	return d.ssh.Dial(ctx, addr, knownHostsFile, c)
}
