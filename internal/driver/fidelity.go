package driver

import (
	"regexp"
	"strings"
)

// Request is one kind of request a driver sends to a device, with the
// published source that confirms its shape. Each driver package keeps the
// table of its requests (Requests) beside the code that sends them; a test
// runs the driver against its emulator and fails on any request the table
// does not list, and docs/drivers.md's fidelity table is written from these
// tables (go run ./internal/driver/fidelity/cmd/fidelitydoc).
type Request struct {
	// Call names the request the way the device's emulator records it:
	// "GET /mgmt/tm/sys/version", "op <request><certificate><generate>",
	// "rpc <get-pki-local-certificate>", "ssh openssl req".
	Call string
	// Fields are the fields, parameters or arguments the driver sends.
	Fields string
	// Source is the vendor document and section, or the vendor-maintained
	// client repository and file, that confirms Call and Fields. Empty
	// when no published source confirms it.
	Source string
	// Safety is, for a request no source confirms, what the driver does
	// to stay safe if the device answers otherwise (checks the answer for
	// failure words, reads back after writing, accepts both forms).
	Safety string
}

// Confirmed reports whether a published source confirms the request.
func (r Request) Confirmed() bool { return r.Source != "" }

// UnlistedRequests returns the calls no request of requests matches, each once, in
// the order first seen, and the requests no call matched: a driver's
// tests pass it the driver's Requests and the calls its emulator recorded. A request's
// Call may hold "*" for any run of characters (an object name, a path
// tail).
func UnlistedRequests(requests []Request, calls []string) (unknown []string, unused []Request) {
	patterns := make([]*regexp.Regexp, len(requests))
	for i, r := range requests {
		patterns[i] = regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(r.Call), `\*`, ".+") + "$")
	}
	used := make([]bool, len(requests))
	seen := map[string]bool{}
	for _, c := range calls {
		matched := false
		for i, p := range patterns {
			if p.MatchString(c) {
				used[i], matched = true, true
			}
		}
		if !matched && !seen[c] {
			seen[c] = true
			unknown = append(unknown, c)
		}
	}
	for i, u := range used {
		if !u {
			unused = append(unused, requests[i])
		}
	}
	return unknown, unused
}
