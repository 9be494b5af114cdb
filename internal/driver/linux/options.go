package linux

import (
	"strings"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/linuxhost"
)

// Route option names of the SSH transport.
const (
	optSSHPort = "ssh_port"
	optAddress = "address"
	optSudo    = "sudo"
)

const defaultSSHPort = 22

// Schema returns the driver's route options: the host logic's
// (linuxhost.Schema) and the SSH transport's.
func Schema() driver.Schema {
	return append(linuxhost.Schema(),
		driver.OptionSpec{Name: optSSHPort, Kind: driver.OptionInt, Default: "22", Doc: "SSH port"},
		driver.OptionSpec{Name: optAddress, Kind: driver.OptionString,
			Doc: "host to connect to instead of the asset's ip_address"},
		driver.OptionSpec{Name: optSudo, Kind: driver.OptionBool, Default: "false",
			Doc: "run every command through sudo -n"},
	)
}

// options are a route's options, parsed and checked.
type options struct {
	linuxhost.Options
	// SSHPort is the device's SSH port.
	SSHPort int
	// Address overrides the asset's ip_address when set.
	Address string
	// Sudo runs every command through "sudo -n".
	Sudo bool
}

// parseOptions checks a route's options and returns them with defaults
// filled in. Every problem is reported, each naming the option and the rule.
func parseOptions(raw map[string]any) (*options, error) {
	o := &options{SSHPort: defaultSSHPort}
	host, err := linuxhost.ParseOptions(raw, Schema(), func(bad driver.BadOption) {
		o.SSHPort = driver.IntOption(raw, optSSHPort, defaultSSHPort, 1, 65535, bad)
		reported := false
		o.Address, _ = driver.StringOption(raw, optAddress, func(name, rule string, args ...any) {
			reported = true
			bad(name, rule, args...)
		})
		if _, ok := raw[optAddress]; ok && !reported && strings.TrimSpace(o.Address) == "" {
			bad(optAddress, "must not be empty when set")
		}
		if v, ok := raw[optSudo]; ok {
			b, isBool := v.(bool)
			if !isBool {
				bad(optSudo, "must be true or false, got %s", driver.DescribeValue(v))
			}
			o.Sudo = b
		}
	})
	if err != nil {
		return nil, wrapf("options", err)
	}
	o.Options = *host
	return o, nil
}
