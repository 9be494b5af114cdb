// Package version says which ottr this is: the version and commit the build
// stamped into the binary, else what the Go toolchain recorded, else "dev".
package version

import (
	"cmp"
	"runtime"
	"runtime/debug"
)

// Set by the build, as `make build` does:
//
//	-ldflags "-X github.com/ottr-go/ottr/internal/version.version=v1.2.0
//	          -X github.com/ottr-go/ottr/internal/version.commit=<full hash>"
var (
	version string
	commit  string
)

// Info is what `ottr version` prints.
type Info struct {
	// Version is the release (git describe), or the module version the Go
	// toolchain recorded, or "dev".
	Version string `json:"version"`
	// Commit is the git commit built, with "-dirty" when the tree had
	// changes; "unknown" when neither the build nor the toolchain said.
	Commit string `json:"commit"`
	// Go is the Go release the binary was built with.
	Go string `json:"go"`
	// Platform is the operating system and architecture built for.
	Platform string `json:"platform"`
}

// Get returns the version of the running binary.
func Get() Info {
	info, _ := debug.ReadBuildInfo()
	return get(version, commit, info)
}

// get prefers what the build stamped; `go install` and `go build` in a git
// checkout leave the module version and the vcs.* settings instead.
func get(stampedVersion, stampedCommit string, info *debug.BuildInfo) Info {
	var moduleVersion, revision string
	if info != nil {
		if info.Main.Version != "(devel)" {
			moduleVersion = info.Main.Version
		}
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if revision != "" && modified {
			revision += "-dirty"
		}
	}
	return Info{
		Version:  cmp.Or(stampedVersion, moduleVersion, "dev"),
		Commit:   cmp.Or(stampedCommit, revision, "unknown"),
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}
