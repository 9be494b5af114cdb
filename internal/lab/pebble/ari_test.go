package pebble

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// renewalInfoRetryAfter returns the Retry-After of the CA's renewal
// information answer for certID.
func renewalInfoRetryAfter(t *testing.T, certID string) string {
	t.Helper()
	resp, err := trustingClient(testCA.TLSRoots()).Get(renewalInfoURL(t) + "/" + certID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("renewalInfo: %s", resp.Status)
	}
	return resp.Header.Get("Retry-After")
}

func TestRenewalInfoRetryAfter(t *testing.T) {
	leaf := issue(t, "default", "ari-retry.lab.ottr.test")[0]
	id := ariCertID(t, leaf)
	t.Run("is Pebble's six hours by default", func(t *testing.T) {
		if got := renewalInfoRetryAfter(t, id); got != "21600" {
			t.Errorf("Retry-After %q, want 21600", got)
		}
	})
	t.Run("can be shortened so a client asks again soon", func(t *testing.T) {
		testCA.SetRenewalInfoRetryAfter(1500 * time.Millisecond)
		defer testCA.SetRenewalInfoRetryAfter(0)
		if got := renewalInfoRetryAfter(t, id); got != "2" {
			t.Errorf("Retry-After %q, want 2", got)
		}
	})
	t.Run("is shortened for a window set by hand too", func(t *testing.T) {
		if err := testCA.SetRenewalWindow(leaf, time.Now().Add(-time.Hour), time.Now()); err != nil {
			t.Fatal(err)
		}
		testCA.SetRenewalInfoRetryAfter(time.Second)
		defer testCA.SetRenewalInfoRetryAfter(0)
		if got := renewalInfoRetryAfter(t, id); got != "1" {
			t.Errorf("Retry-After %q, want 1", got)
		}
	})
}

func TestPeekReplacesReadsTheOrderAndLeavesTheBody(t *testing.T) {
	encode := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	tests := []struct {
		name, body, want string
	}{
		{"finds the certificate an order replaces",
			`{"protected":"` + encode(`{"alg":"ES256"}`) + `","payload":"` + encode(`{"identifiers":[{"type":"dns","value":"a.test"}],"replaces":"aki.serial"}`) + `","signature":"c2ln"}`,
			"aki.serial"},
		{"finds nothing in an order that replaces nothing",
			`{"payload":"` + encode(`{"identifiers":[{"type":"dns","value":"a.test"}]}`) + `"}`, ""},
		{"finds nothing in a body that is not a JWS", `not json`, ""},
		{"finds nothing in a payload that is not base64url", `{"payload":"!!"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, newOrderPath, strings.NewReader(tt.body))
			if got := peekReplaces(r); got != tt.want {
				t.Errorf("replaces %q, want %q", got, tt.want)
			}
			rest, _ := io.ReadAll(r.Body)
			if string(rest) != tt.body {
				t.Errorf("the body left for Pebble is %q, want it whole", rest)
			}
		})
	}
}
