package ssm

import (
	"github.com/ottr-go/ottr/internal/driver"
)

// Schema declares the route options the driver takes.
func (d *Driver) Schema() driver.Schema {
	return driver.Schema{
		{Name: optRegion, Kind: driver.OptionString, Required: true, Doc: `the AWS region of the instances, such as "us-east-1"`},
		{Name: optEndpoint, Kind: driver.OptionString, Default: "AWS's own endpoints", Doc: "https URL used instead of AWS's SSM and EC2 endpoints"},
		{Name: optCAFile, Kind: driver.OptionPath, Default: "the system's roots", Doc: "PEM file of roots the endpoint's certificate may chain to"},
		{Name: optDocument, Kind: driver.OptionString, Default: defaultDocument, Doc: "SSM document that runs shell scripts"},
		{Name: optTimeout, Kind: driver.OptionDuration, Default: driver.FormatDuration(defaultTimeout),
			Doc: "bound on each command, " + minTimeout.String() + " to " + driver.FormatDuration(maxTimeout)},
		{Name: optInstanceIDFrom, Kind: driver.OptionString, Default: fromNameTag,
			Doc: "how the instance is found: " + fromNameTag + " or " + fromAssetField},
		{Name: optNameTag, Kind: driver.OptionString, Default: defaultNameTag,
			Doc: `template of the Name tag, with .SystemName, .ShortName (system_name's first label), .CommonName, .DataCenter, .IPAddress and {{label "key"}}`},
		{Name: optInstanceIDField, Kind: driver.OptionString, Default: defaultInstanceIDField,
			Doc: "with " + fromAssetField + ": system_name or labels.<key>"},
		{Name: optPreHooksDir, Kind: driver.OptionString, Default: defaultPreHooksDir, Doc: `directory of hooks run before the CSR; "" for none`},
		{Name: optPostHooksDir, Kind: driver.OptionString, Default: defaultPostHooksDir, Doc: `directory of hooks run after install and rollback; "" for none`},
		{Name: optCertPath, Kind: driver.OptionPath, Required: true,
			Doc: "the absolute path of the file that receives the leaf followed by its chain, such as /etc/nginx/ssl/site.pem"},
		{Name: optKeyPath, Kind: driver.OptionPath, Required: true, Doc: "the absolute path of the file that receives the new private key"},
		{Name: optChainPath, Kind: driver.OptionPath, Doc: "absolute path of a file that receives the chain without the leaf"},
		{Name: optReloadCommand, Kind: driver.OptionString, Required: true,
			Doc: `the command that loads the new files, such as "systemctl reload nginx"`},
		{Name: optWorkDir, Kind: driver.OptionPath, Default: "key_path's directory", Doc: "directory for the staged key"},
		{Name: optOwner, Kind: driver.OptionString, Doc: `"user" or "user:group" for the installed files`},
		{Name: optMode, Kind: driver.OptionString, Default: `"0600"`, Doc: `octal mode of the installed key, as a string such as "0640"`},
	}
}
