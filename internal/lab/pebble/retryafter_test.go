package pebble

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestNoRetryAfterLeavesClientsToTheirOwnPace checks which of the CA's
// answers during an issuance carry a Retry-After: the challenge answer by
// default, none in the mode that copies Debian's pebble.
func TestNoRetryAfterLeavesClientsToTheirOwnPace(t *testing.T) {
	tests := []struct {
		name         string
		noRetryAfter bool
		want         []string
	}{
		{"by default the challenge and finalize answers say when to look again", false, []string{challengePath, finalizePath}},
		{"without Retry-After no answer says when to look again", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testCA.SetNoRetryAfter(tt.noRetryAfter)
			t.Cleanup(func() { testCA.SetNoRetryAfter(false) })
			client := trustingClient(testCA.TLSRoots())
			var mu sync.Mutex
			var withRetryAfter []string
			client.Transport = observingTransport{next: client.Transport, seen: func(r *http.Request, resp *http.Response) {
				if resp.Header.Get("Retry-After") == "" {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, prefix := range []string{challengePath, "/authZ/", orderPath, newOrderPath, finalizePath} {
					if strings.HasPrefix(r.URL.Path, prefix) && !slices.Contains(withRetryAfter, prefix) {
						withRetryAfter = append(withRetryAfter, prefix)
					}
				}
			}}
			chain := issueWith(t, client, "default", "pace.lab.ottr.test")
			verifiesTo(t, chain, "pace.lab.ottr.test")
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(withRetryAfter, tt.want) {
				t.Errorf("answers with a Retry-After: %q, want %q", withRetryAfter, tt.want)
			}
		})
	}
}
