// Package scriptdriver carries the example scripts of this folder inside
// the ottr binary, so `ottr lab --platforms script` can run them against
// its emulated Linux hosts from any working directory. The scripts in the
// folder are the source; nothing here changes them.
package scriptdriver

import (
	"embed"
	"io/fs"
)

//go:embed *.sh
var scripts embed.FS

// Scripts returns the example scripts, common.sh included, by file name.
func Scripts() fs.FS { return scripts }
