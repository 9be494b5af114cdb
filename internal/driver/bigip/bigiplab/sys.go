package bigiplab

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// sys config (save), sys version, auth user and auth partition.

// sysConfigRequest is the body of POST /mgmt/tm/sys/config.
type sysConfigRequest struct {
	Command string           `json:"command"`
	Options []map[string]any `json:"options"`
}

// sysConfig runs `save sys config`: the running configuration becomes the
// saved one, which a reboot loads. The answer echoes the command, as
// f5-common-python's functional test of it expects.
func (d *Device) sysConfig(r *http.Request, body []byte) reply {
	if r.Method != http.MethodPost {
		return tmError(errorf(http.StatusMethodNotAllowed, "Method %s is not supported on /tm/sys/config.", r.Method))
	}
	var req sysConfigRequest
	if err := decodeStrict(body, "/sys/config", &req); err != nil {
		return tmError(err)
	}
	if req.Command != "save" {
		return tmError(errorf(http.StatusBadRequest, "command %q on sys config is not supported by this device; use save", req.Command))
	}
	if len(req.Options) > 0 {
		return tmError(errorf(http.StatusBadRequest, "options of save sys config are not supported by this device"))
	}
	if d.failSaves.Load() {
		return tmError(errorf(http.StatusBadRequest, "%s", saveFailureMessage))
	}
	d.mu.Lock()
	d.saved = d.st.clone()
	d.mu.Unlock()
	return ok(map[string]any{"kind": "tm:sys:config:runstate", "command": "save"})
}

// versionJSON is GET /mgmt/tm/sys/version, in the shape F5's
// bigip_device_info module documents for 13.1.0.4.
func (d *Device) versionJSON() map[string]any {
	describe := func(s string) map[string]any { return map[string]any{"description": s} }
	return map[string]any{
		"kind":     "tm:sys:version:versionstats",
		"selfLink": d.selfLink("sys/version"),
		"entries": map[string]any{
			"https://localhost/mgmt/tm/sys/version/0": map[string]any{
				"nestedStats": map[string]any{
					"entries": map[string]any{
						"Build":   describe("0.0.6"),
						"Date":    describe("Tue Mar 13 20:10:42 PDT 2018"),
						"Edition": describe("Final"),
						"Product": describe("BIG-IP"),
						"Title":   describe("Main Package"),
						"Version": describe(d.cfg.Version),
					},
				},
			},
		},
	}
}

// authUser is GET /mgmt/tm/auth/user/NAME for the device's one local
// user, with its role on all partitions.
func (d *Device) authUser(name string) reply {
	if name != d.cfg.Username {
		return tmError(errorf(http.StatusNotFound, "01020036:3: The requested user role partition (%s) was not found.", name))
	}
	return ok(map[string]any{
		"kind": "tm:auth:user:userstate", "name": name, "fullPath": name, "generation": 1,
		"selfLink":          d.selfLink("auth/user/" + name),
		"description":       name,
		"encryptedPassword": "$6$" + randomText(8) + "$" + randomText(86),
		"shell":             "none",
		"partitionAccess": []any{map[string]any{
			"name": "all-partitions", "role": d.cfg.Role,
			"nameReference": map[string]any{"link": d.selfLink("auth/partition/all-partitions")},
		}},
	})
}

// authPartition is GET /mgmt/tm/auth/partition/NAME.
func (d *Device) authPartition(name string) reply {
	d.mu.Lock()
	found := d.st.partitions[name]
	d.mu.Unlock()
	if !found {
		return tmError(errorf(http.StatusNotFound, "01020036:3: The requested folder (/%s) was not found.", name))
	}
	return ok(map[string]any{
		"kind": "tm:auth:partition:partitionstate", "name": name, "fullPath": name, "generation": 1,
		"selfLink": d.selfLink("auth/partition/" + name), "defaultRouteDomain": 0,
	})
}

// encryptedSecret is how a GET shows a secret property: "$M$", two
// characters, "$" and base64, as BIG-IP's master key encryption does. The
// value depends on nothing the client knows.
func encryptedSecret(secret string) string {
	if secret == "" {
		return ""
	}
	return "$M$" + randomText(2) + "$" + base64.StdEncoding.EncodeToString([]byte(randomText(len(secret)+8)))
}

// randomText is n random letters and digits.
func randomText(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	var s strings.Builder
	for _, c := range b {
		s.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return s.String()
}
