package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ottr-go/ottr/internal/store"
)

func login(e *env, username, password string) response {
	e.t.Helper()
	return e.call(http.MethodPost, "/user/v1/authenticate", "", map[string]string{"username": username, "password": password})
}

func TestLoginReturnsABearerTokenThatWorksAsReturnedAndBare(t *testing.T) {
	e := newEnv(t)
	pw := e.addUser("dev", store.RoleDeveloper)
	r := login(e, "dev", pw)
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var tok tokenBody
	r.json(t, &tok)
	if !strings.HasPrefix(tok.Token, "Bearer ") {
		t.Fatalf("token %q does not start with %q, as Ottr's clients expect", tok.Token, "Bearer ")
	}
	if want := e.clock.Now().Add(DefaultTokenTTL); !tok.ExpiresAt.Equal(want) {
		t.Errorf("expires_at %v, want 30 minutes from now (%v)", tok.ExpiresAt, want)
	}
	for _, header := range []string{tok.Token, strings.TrimPrefix(tok.Token, "Bearer "), "bearer " + strings.TrimPrefix(tok.Token, "Bearer ")} {
		if r := e.call(http.MethodGet, "/api/v1/search", header, nil); r.status != http.StatusOK {
			t.Errorf("Authorization %.20q…: %d %s", header, r.status, r.body)
		}
	}
}

func TestLoginFailuresAre401WithoutSayingWhichPartWasWrong(t *testing.T) {
	e := newEnv(t)
	e.addUser("dev", store.RoleDeveloper)
	wrong := login(e, "dev", "Wrong-password-1")
	unknown := login(e, "nobody", "Wrong-password-1")
	for _, r := range []response{wrong, unknown} {
		if r.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401: %s", r.status, r.body)
		}
	}
	if wrong.problem(t).Detail != unknown.problem(t).Detail {
		t.Errorf("a wrong password (%q) and an unknown user (%q) are told apart", wrong.problem(t).Detail, unknown.problem(t).Detail)
	}
	if strings.Contains(string(wrong.body), "Wrong-password-1") {
		t.Error("the answer quotes the password")
	}
}

func TestTokensNotSignedByTheServerWithEdDSAAreRefused(t *testing.T) {
	e := newEnv(t)
	e.addUser("admin", store.RoleAdmin)
	now := e.clock.Now()
	claims := jwt.RegisteredClaims{
		Issuer: tokenIssuer, Subject: "admin", Audience: jwt.ClaimStrings{tokenAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	otherSigned, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(otherKey)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	// The public key as an HMAC secret: the classic algorithm confusion.
	hs, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(e.srv.tokens.pub))
	valid := strings.TrimPrefix(e.token("admin", time.Time{}), "Bearer ")
	tampered := valid[:len(valid)-4] + "AAAA"
	for name, tok := range map[string]string{
		"signed by another key":    otherSigned,
		"alg none":                 none,
		"HS256 with the pub key":   hs,
		"with a changed signature": tampered,
		"not a JWT":                "hello",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.call(http.MethodGet, "/admin/v1/users", "Bearer "+tok, nil)
			if r.status != http.StatusUnauthorized {
				t.Errorf("status %d, want 401: %s", r.status, r.body)
			}
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
		})
	}
}

func TestChangingThePasswordEndsEarlierTokens(t *testing.T) {
	e := newEnv(t)
	pw := e.addUser("dev", store.RoleDeveloper)
	old := e.token("dev", time.Time{})
	r := e.call(http.MethodPut, "/user/v1/authenticate", "", map[string]string{
		"username": "dev", "password": pw, "updated_password": "New-password-2!",
	})
	if r.status != http.StatusNoContent {
		t.Fatalf("change password: %d %s", r.status, r.body)
	}
	if r := e.call(http.MethodGet, "/api/v1/search", old, nil); r.status != http.StatusUnauthorized {
		t.Errorf("token issued before the change: %d, want 401", r.status)
	}
	if r := login(e, "dev", pw); r.status != http.StatusUnauthorized {
		t.Errorf("old password: %d, want 401", r.status)
	}
	if r := login(e, "dev", "New-password-2!"); r.status != http.StatusOK {
		t.Errorf("new password: %d, want 200", r.status)
	}
	events, err := e.app.Store.ListAudit(context.Background(), store.AuditFilter{Action: "user.password"})
	if err != nil || len(events) != 1 {
		t.Fatalf("audit events %+v, %v: want one user.password event", events, err)
	}
	if ev := events[0]; ev.Actor != "dev" || ev.Target != "user/dev" || strings.Contains(string(ev.After), "New-password") {
		t.Errorf("audit event %+v", ev)
	}
}

func TestPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		ok             bool
		rule           string
	}{
		{"a password with every kind of character passes", "Abcdef1!", true, ""},
		{"Ottr's dot counts as a symbol", "Abcdefg1.", true, ""},
		{"seven characters are too few", "Abcde1!", false, "at least 8 characters"},
		{"no lower-case letter", "ABCDEFG1!", false, "lower-case"},
		{"no upper-case letter", "abcdefg1!", false, "upper-case"},
		{"no digit", "Abcdefgh!", false, "digit"},
		{"no symbol", "Abcdefgh1", false, "symbols"},
		{"73 bytes are more than bcrypt reads", "Aa1!" + strings.Repeat("x", 69), false, "at most 72 bytes"},
		{"72 bytes are fine", "Aa1!" + strings.Repeat("x", 68), true, ""},
		{"a control character", "Abcdef1!\x00", false, "control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPasswordRules(tc.password)
			if tc.ok != (err == nil) {
				t.Fatalf("CheckPasswordRules: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), tc.rule) {
				t.Errorf("error %q does not name the rule %q", err, tc.rule)
			}
			if err != nil && len(tc.password) > 0 && strings.Contains(err.Error(), tc.password) {
				t.Error("the error quotes the password")
			}
		})
	}
}

func TestTheSigningKeyIsKeptAcrossRestarts(t *testing.T) {
	e := newEnv(t)
	e.addUser("dev", store.RoleDeveloper)
	tok := e.token("dev", time.Time{})
	again, err := New(context.Background(), Config{App: e.app, Enqueuer: e.enq, Now: e.clock.Now, BcryptCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = again
	if r := e.call(http.MethodGet, "/api/v1/search", tok, nil); r.status != http.StatusOK {
		t.Errorf("a token from before the restart: %d, want 200", r.status)
	}
}

func TestATokenStopsWorkingWhenItExpiresEvenAfterUse(t *testing.T) {
	e := newEnv(t)
	e.addUser("dev", store.RoleDeveloper)
	tok := e.token("dev", time.Time{})
	if r := e.call(http.MethodGet, "/api/v1/search", tok, nil); r.status != http.StatusOK {
		t.Fatalf("fresh token: %d", r.status)
	}
	e.clock.Add(DefaultTokenTTL - time.Second)
	if r := e.call(http.MethodGet, "/api/v1/search", tok, nil); r.status != http.StatusOK {
		t.Errorf("a second before expiry: %d, want 200", r.status)
	}
	e.clock.Add(time.Second)
	r := e.call(http.MethodGet, "/api/v1/search", tok, nil)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.problem(t).Detail, "expired") {
		t.Errorf("at expiry: %d %s, want 401 saying it expired", r.status, r.body)
	}
}
