package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

// The web UI logs in with the API's users, passwords and login throttle,
// and keeps a session in a cookie. The cookie is signed with a key derived
// from the token signing key and, like a token, names its user and the
// password it was issued for and expires after the token lifetime; the
// user is read from the store on every request, so a deleted or demoted
// user loses access at once. Logging out writes a ui.logout audit event
// for the session, and every request looks for one, so a copy of the
// cookie kept after logout is refused on every node and after a restart.
const (
	uiSessionAction = "ui.login"
	uiLogoutAction  = "ui.logout"
	// maxSessionCookieBytes bounds what is parsed as a session cookie.
	maxSessionCookieBytes = 2048
)

// ErrLoginFailed is returned by UISessions.Login for an unknown user or a
// wrong password; it does not say which.
var ErrLoginFailed = errors.New("unknown user or wrong password")

// ErrNoSession is returned by UISessions.Check for a missing, forged,
// expired or ended session, or one whose user is gone or changed password.
var ErrNoSession = errors.New("no valid session")

// LoginThrottledError is returned by UISessions.Login when the login
// limits hold the attempt back.
type LoginThrottledError struct {
	RetryAfter time.Duration
	Detail     string
}

func (e *LoginThrottledError) Error() string { return e.Detail }

// UISession is a logged-in web UI session.
type UISession struct {
	// ID names the session in the audit log.
	ID string
	// User is the session's user as the store has it now.
	User      store.User
	ExpiresAt time.Time
	// CSRF is the token every form of the session carries.
	CSRF string
}

// UISessions logs web UI users in and out, checks their sessions, and
// does for them what the API would.
type UISessions struct {
	s   *Server
	key []byte

	// ended remembers sessions logged out in this process, so their
	// cookies are refused without a store read.
	mu    sync.Mutex
	ended map[string]time.Time
}

type sessionClaims struct {
	Username            string `json:"u"`
	ID                  string `json:"sid"`
	IssuedAt            int64  `json:"iat"`
	ExpiresAt           int64  `json:"exp"`
	PasswordFingerprint string `json:"pwf"`
}

// UISessions returns the server's web UI session keeper.
func (s *Server) UISessions() *UISessions {
	s.uiOnce.Do(func() {
		mac := hmac.New(sha256.New, s.tokens.fpKey)
		mac.Write([]byte("ottr ui session"))
		s.ui = &UISessions{s: s, key: mac.Sum(nil), ended: map[string]time.Time{}}
	})
	return s.ui
}

// TTL is how long a session lasts: the token lifetime.
func (a *UISessions) TTL() time.Duration { return a.s.cfg.TokenTTL }

// Login checks username and password behind the same limits as POST
// /user/v1/authenticate and returns the session cookie's value and the
// session. remoteAddr is the client's address, as the throttle counts it.
func (a *UISessions) Login(ctx context.Context, username, password, remoteAddr string) (string, UISession, error) {
	s := a.s
	if refusal := s.limits.admit(username, remoteAddr, s.now()); refusal != nil {
		s.log.Warn("ui: login attempts limited", "user", username, "remote", remoteAddr, "reason", refusal.detail)
		return "", UISession{}, &LoginThrottledError{RetryAfter: refusal.wait, Detail: refusal.detail}
	}
	u, ok, err := s.checkPassword(ctx, username, password)
	s.limits.finish(username, remoteAddr, err == nil, !ok, s.now())
	if err != nil {
		return "", UISession{}, fmt.Errorf("api: check the password: %w", err)
	}
	if !ok {
		s.log.Warn("ui: authentication failed", "user", username, "remote", remoteAddr)
		return "", UISession{}, ErrLoginFailed
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", UISession{}, fmt.Errorf("api: session id: %w", err)
	}
	now := s.now().Truncate(time.Second)
	c := sessionClaims{
		Username:            u.Username,
		ID:                  base64.RawURLEncoding.EncodeToString(id),
		IssuedAt:            now.Unix(),
		ExpiresAt:           now.Add(a.TTL()).Unix(),
		PasswordFingerprint: s.tokens.fingerprint(u.PasswordHash),
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", UISession{}, fmt.Errorf("api: session: %w", err)
	}
	body := base64.RawURLEncoding.EncodeToString(payload)
	cookie := body + "." + base64.RawURLEncoding.EncodeToString(a.sign("session|"+body))
	s.auditAs(withRemote(ctx, remoteAddr), u.Username, uiSessionAction, "session/"+c.ID, nil, nil)
	s.log.Info("ui: session started", "user", u.Username, "remote", remoteAddr)
	return cookie, a.session(c, u), nil
}

// Check returns the session a cookie value stands for, with its user read
// from the store now; ErrNoSession when there is none.
func (a *UISessions) Check(ctx context.Context, cookie string) (UISession, error) {
	c, err := a.parse(cookie)
	if err != nil {
		return UISession{}, err
	}
	if a.endedHere(c.ID) {
		return UISession{}, ErrNoSession
	}
	ended, err := a.s.store.ListAudit(ctx, store.AuditFilter{Target: "session/" + c.ID, Action: uiLogoutAction, Limit: 1})
	if err != nil {
		return UISession{}, fmt.Errorf("api: read the session's end: %w", err)
	}
	if len(ended) > 0 {
		a.remember(c)
		return UISession{}, ErrNoSession
	}
	u, err := a.s.store.GetUser(ctx, c.Username)
	if errors.Is(err, store.ErrNotFound) {
		return UISession{}, ErrNoSession
	}
	if err != nil {
		return UISession{}, fmt.Errorf("api: read the session's user: %w", err)
	}
	if !hmac.Equal([]byte(c.PasswordFingerprint), []byte(a.s.tokens.fingerprint(u.PasswordHash))) {
		return UISession{}, ErrNoSession
	}
	return a.session(c, u), nil
}

// Logout ends the session of a cookie value for good, on every node.
func (a *UISessions) Logout(ctx context.Context, cookie, remoteAddr string) error {
	c, err := a.parse(cookie)
	if err != nil {
		return nil // nothing to end
	}
	a.remember(c)
	e := store.AuditEvent{
		Time: a.s.now().UTC(), Actor: c.Username, Action: uiLogoutAction,
		Target: "session/" + c.ID, RemoteAddr: remoteAddr,
	}
	if _, err := a.s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		return fmt.Errorf("api: end the session: %w", err)
	}
	return nil
}

// Audit records a change made from the web UI by actor, as the API
// records its own.
func (a *UISessions) Audit(ctx context.Context, actor, remoteAddr, action, target string, before, after any) {
	a.s.auditAs(withRemote(ctx, remoteAddr), actor, action, target, before, after)
}

// ErrNoRoute is returned by Rotate for an asset no route takes.
var ErrNoRoute = rotation.ErrNoRoute

// Rotate starts a forced rotation of the named asset for actor, as POST
// /api/v1/certificate/rotate does, and audits it: an active rotation whose
// process is gone is set going again, one on its way is an
// *ActiveRotationError.
func (a *UISessions) Rotate(ctx context.Context, actor, remoteAddr, name string) (store.Rotation, error) {
	as, err := a.s.store.GetAsset(ctx, name)
	if err != nil {
		return store.Rotation{}, err
	}
	ctx = withRemote(ctx, remoteAddr)
	rot, resumed, err := a.s.startRotation(ctx, as, store.TriggerManual)
	if err != nil {
		return store.Rotation{}, err
	}
	a.s.auditRotate(ctx, actor, rot, resumed)
	return rot, nil
}

// RemoteAddr is a request's client address as the login limits and the
// audit log count it (forwarding headers are not trusted).
func RemoteAddr(r *http.Request) string { return clientAddr(r) }

// Allows reports whether role has every right of role min.
func Allows(role, min string) bool { return roleRank(role) > 0 && roleRank(role) >= roleRank(min) }

func (a *UISessions) session(c sessionClaims, u store.User) UISession {
	return UISession{
		ID:        c.ID,
		User:      u,
		ExpiresAt: time.Unix(c.ExpiresAt, 0).UTC(),
		CSRF:      base64.RawURLEncoding.EncodeToString(a.sign("csrf|" + c.ID)),
	}
}

func (a *UISessions) sign(s string) []byte {
	mac := hmac.New(sha256.New, a.key)
	mac.Write([]byte(s))
	return mac.Sum(nil)
}

// parse checks a cookie's signature and lifetime.
func (a *UISessions) parse(cookie string) (sessionClaims, error) {
	if cookie == "" || len(cookie) > maxSessionCookieBytes {
		return sessionClaims{}, ErrNoSession
	}
	body, sig, ok := strings.Cut(cookie, ".")
	if !ok {
		return sessionClaims{}, ErrNoSession
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.sign("session|"+body)) {
		return sessionClaims{}, ErrNoSession
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return sessionClaims{}, ErrNoSession
	}
	var c sessionClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Username == "" || c.ID == "" {
		return sessionClaims{}, ErrNoSession
	}
	now := a.s.now().Unix()
	if now >= c.ExpiresAt || now < c.IssuedAt-60 {
		return sessionClaims{}, ErrNoSession
	}
	return c, nil
}

func (a *UISessions) endedHere(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.ended[id]
	return ok
}

// remember keeps an ended session until it would have expired anyway.
func (a *UISessions) remember(c sessionClaims) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.s.now()
	if len(a.ended) >= maxVerifiedTokens {
		for id, exp := range a.ended {
			if !now.Before(exp) {
				delete(a.ended, id)
			}
		}
	}
	if len(a.ended) < maxVerifiedTokens {
		a.ended[c.ID] = time.Unix(c.ExpiresAt, 0)
	}
}

func withRemote(ctx context.Context, remoteAddr string) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, requestInfo{remoteAddr: remoteAddr})
}
