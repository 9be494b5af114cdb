package metrics

import "testing"

// Object URLs, which the directory does not list, as Let's Encrypt,
// Pebble and smallstep spell them.
func TestACMEEndpointsByPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/acme/finalize/12345/67890", EndpointFinalize},
		{"/finalize-order/abc", EndpointFinalize},
		{"/acme/p/order/abc/finalize", EndpointFinalize},
		{"/acme/chall/1/2/XyZ", EndpointChallenge},
		{"/chalZ/abc", EndpointChallenge},
		{"/acme/p/challenge/a/b", EndpointChallenge},
		{"/acme/authz/1/2", EndpointAuthz},
		{"/authZ/abc", EndpointAuthz},
		{"/acme/cert/03ab", EndpointCert},
		{"/certZ/abc", EndpointCert},
		{"/acme/p/certificate/abc", EndpointCert},
		{"/acme/order/1/2", EndpointOrder},
		{"/my-order/abc", EndpointOrder},
		{"/acme/acct/123", EndpointAccount},
		{"/my-account/1", EndpointAccount},
		{"/v2/DV90/renewalInfo/abc.def", EndpointRenewalInfo},
		{"/something/else", EndpointOther},
	}
	for _, tt := range tests {
		if got := endpointByPath(tt.path); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.path, got, tt.want)
		}
	}
}
