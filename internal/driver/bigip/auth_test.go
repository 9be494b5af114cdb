package bigip

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/driver/bigip/bigiplab"
)

func TestSessionsUseOneTokenAndDeleteItOnClose(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	sess := f.open(t, New(Config{}))
	if _, err := sess.CurrentCertificate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sess.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	reqs := f.dev.Requests()
	if len(reqs) < 3 {
		t.Fatalf("only %d requests reached the device", len(reqs))
	}
	login := reqs[0]
	if login.Method != http.MethodPost || login.Path != "/mgmt/shared/authn/login" {
		t.Fatalf("the first request is %s %s, want the token login", login.Method, login.Path)
	}
	body := jsonBody(t, login)
	if body["loginProviderName"] != "tmos" || body["username"] != testUser || body["password"] != testPassword {
		t.Errorf("the login body is %v, want username, password and loginProviderName tmos", body)
	}
	var token string
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("%s %s carries an Authorization header: every call after the login must use the token", r.Method, r.Path)
		}
		if strings.Contains(r.Path+"?"+r.RawQuery, testPassword) {
			t.Errorf("%s %s carries the password in its URL", r.Method, r.Path)
		}
		if r.Path != login.Path && strings.Contains(string(r.Body), testPassword) {
			t.Errorf("%s %s carries the password in its body", r.Method, r.Path)
		}
		if r.Path == login.Path {
			continue
		}
		got := r.Header.Get("X-F5-Auth-Token")
		if got == "" {
			t.Errorf("%s %s has no X-F5-Auth-Token", r.Method, r.Path)
		}
		if token == "" {
			token = got
		} else if got != token {
			t.Errorf("%s %s uses another token: a session logs in once", r.Method, r.Path)
		}
	}
	last := reqs[len(reqs)-1]
	if last.Method != http.MethodDelete || last.Path != "/mgmt/shared/authz/tokens/"+token {
		t.Errorf("the last request is %s %s, want the deletion of the session's token", last.Method, last.Path)
	}
	for _, r := range reqs[:len(reqs)-1] {
		if strings.Contains(r.Path+"?"+r.RawQuery, token) {
			t.Errorf("%s %s carries the token in its URL", r.Method, r.Path)
		}
	}
	if n := f.dev.ActiveTokens(); n != 0 {
		t.Errorf("after Close the device still has %d live tokens", n)
	}
}

func TestAnExpiredTokenLeadsToOneNewLogin(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	sess := f.open(t, New(Config{}))
	f.dev.ExpireTokens()
	if _, err := sess.CurrentCertificate(context.Background()); err != nil {
		t.Fatalf("CurrentCertificate after the token expired: %v", err)
	}
	if n := len(f.requests(http.MethodPost, "/mgmt/shared/authn/login")); n != 2 {
		t.Errorf("the driver logged in %d times, want 2 (once more after the token expired)", n)
	}
	f.dev.ExpireTokens()
	if err := sess.Close(); err != nil {
		t.Errorf("Close after the token expired: %v", err)
	}
}

func TestWrongPasswordCarriesTheDevicesMessage(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	creds := driver.Credentials{Username: testUser, Password: "Wrong-Password.1"}
	_, err := New(Config{}).Open(context.Background(), f.target, creds)
	if err == nil {
		t.Fatal("Open with a wrong password succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"bigip: open:", "HTTP 401", "Authentication failed."} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, creds.Password) {
		t.Errorf("error %q carries the password", msg)
	}
}

func TestTheAPICertificateIsVerified(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *fixture)
		want   string
	}{
		{
			name:   "refuses an API certificate from a CA the route does not trust",
			change: func(f *fixture) { f.target.Options["ca_file"] = writeRoot(t, newCA(t).Root()) },
			want:   "certificate signed by unknown authority",
		},
		{
			name:   "refuses an API certificate for another name",
			change: func(f *fixture) { f.target.Options["tls_server_name"] = "other.example.test" },
			want:   "other.example.test",
		},
		{
			name:   "says which ca_file is unusable",
			change: func(f *fixture) { f.target.Options["ca_file"] = "/nonexistent/ca.pem" },
			want:   "read ca_file",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil, bigiplab.Config{})
			tc.change(f)
			_, err := New(Config{Roots: x509.NewCertPool()}).Open(context.Background(), f.target, f.creds)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if n := len(f.requests(http.MethodPost, "/mgmt/shared/authn/login")); n != 0 {
				t.Errorf("the password was sent %d times to an unverified device", n)
			}
		})
	}
}

func TestDeviceErrorsCarryF5sMessage(t *testing.T) {
	f := newFixture(t, nil, bigiplab.Config{})
	f.target.Options["profile"] = "no_such_profile"
	sess := f.open(t, New(Config{}))
	_, err := sess.CurrentCertificate(context.Background())
	if err == nil {
		t.Fatal("CurrentCertificate of a missing profile succeeded")
	}
	want := "01020036:3: The requested ClientSSL Profile (/Common/no_such_profile) was not found."
	for _, s := range []string{"bigip: current certificate:", "HTTP 404", want} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}
