package linux

import (
	"strconv"

	"github.com/ottr-go/ottr/internal/driver"
)

// Schema declares the route options the driver takes.
func (d *Driver) Schema() driver.Schema {
	return driver.Schema{
		{Name: optCertPath, Kind: driver.OptionPath, Required: true,
			Doc: "the absolute path of the file that receives the leaf followed by its chain, such as /etc/nginx/ssl/site.pem"},
		{Name: optKeyPath, Kind: driver.OptionPath, Required: true, Doc: "the absolute path of the file that receives the new private key"},
		{Name: optChainPath, Kind: driver.OptionPath, Doc: "absolute path of a file that receives the chain without the leaf"},
		{Name: optReloadCommand, Kind: driver.OptionString, Required: true,
			Doc: `the command that loads the new files, such as "systemctl reload nginx"`},
		{Name: optSSHPort, Kind: driver.OptionInt, Default: "22", Doc: "SSH port"},
		{Name: optAddress, Kind: driver.OptionString, Default: "the asset's ip_address", Doc: "host to connect to"},
		{Name: optSudo, Kind: driver.OptionBool, Default: "false", Doc: "run every command through sudo -n"},
		{Name: optWorkDir, Kind: driver.OptionPath, Default: "key_path's directory", Doc: "directory for the staged key"},
		{Name: optOwner, Kind: driver.OptionString, Doc: `"user" or "user:group" for the installed files`},
		{Name: optMode, Kind: driver.OptionString, Default: `"0600"`, Doc: `octal mode of the installed key, as a string such as "0640"`},
		{Name: optKeepBackups, Kind: driver.OptionInt, Default: strconv.Itoa(defaultKeepBackups),
			Doc: "backups kept of each file, 1 to " + strconv.Itoa(maxKeepBackups) + "; older ones, old private keys among them, are removed at the next install"},
	}
}
