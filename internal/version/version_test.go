package version

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGet(t *testing.T) {
	vcs := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/ottr-go/ottr", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	installed := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ottr-go/ottr", Version: "v1.4.0"}}
	tests := []struct {
		name                    string
		stampedVersion, commit  string
		info                    *debug.BuildInfo
		wantVersion, wantCommit string
	}{
		{"what make build stamps wins", "v1.4.0-3-g0123456", "0123456789abcdef0123456789abcdef01234567", vcs,
			"v1.4.0-3-g0123456", "0123456789abcdef0123456789abcdef01234567"},
		{"a go build in a changed checkout gives its commit, marked dirty", "", "", vcs,
			"dev", "0123456789abcdef0123456789abcdef01234567-dirty"},
		{"go install of a release gives the module version", "", "", installed, "v1.4.0", "unknown"},
		{"a build that recorded nothing is dev", "", "", nil, "dev", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := get(tt.stampedVersion, tt.commit, tt.info)
			if got.Version != tt.wantVersion || got.Commit != tt.wantCommit {
				t.Errorf("version %q commit %q, want %q %q", got.Version, got.Commit, tt.wantVersion, tt.wantCommit)
			}
			if got.Go != runtime.Version() {
				t.Errorf("go %q, want %q", got.Go, runtime.Version())
			}
		})
	}
}
