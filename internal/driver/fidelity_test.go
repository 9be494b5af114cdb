package driver

import (
	"strings"
	"testing"
)

func TestUnlistedFindsCallsOutsideTheTableAndRowsNeverSent(t *testing.T) {
	requests := []Request{
		{Call: "GET /mgmt/tm/sys/version", Fields: "-", Source: "doc"},
		{Call: "GET /mgmt/tm/sys/crypto/cert/*", Fields: "-", Source: "doc"},
		{Call: "POST /mgmt/tm/sys/config", Fields: "command=save", Source: "doc"},
	}
	unknown, unused := UnlistedRequests(requests, []string{
		"GET /mgmt/tm/sys/version",
		"GET /mgmt/tm/sys/crypto/cert/~Common~ottr-1",
		"DELETE /mgmt/tm/sys/crypto/cert/~Common~ottr-1",
		"DELETE /mgmt/tm/sys/crypto/cert/~Common~ottr-1",
	})
	if strings.Join(unknown, ",") != "DELETE /mgmt/tm/sys/crypto/cert/~Common~ottr-1" {
		t.Errorf("unknown = %q, want the DELETE once", unknown)
	}
	if len(unused) != 1 || unused[0].Call != "POST /mgmt/tm/sys/config" {
		t.Errorf("unused = %+v, want the save that was never sent", unused)
	}
}
