package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ottr-go/ottr/internal/api"
)

const (
	// sessionCookie holds the signed session (api.UISessions).
	sessionCookie = "ottr_session"
	// loginCookie holds the login form's CSRF token, before any session.
	loginCookie = "ottr_login"
	// csrfField and csrfHeader carry a session's CSRF token in a form and
	// in an htmx request.
	csrfField  = "csrf"
	csrfHeader = "X-CSRF-Token"
)

// session is the logged-in user of a request, read from the store for
// this request.
type session struct {
	api.UISession
	// RemoteAddr is the client's address, for the audit log.
	RemoteAddr string
}

// Can reports whether the session's user has role min or a higher one.
func (s *session) Can(min string) bool {
	return s != nil && api.Allows(s.User.Role, min)
}

// dispatch lets a request into rt: it finds the session, sends a visitor
// without one to the login page, refuses a role below rt's and a POST
// without the session's CSRF token, then runs the handler and turns its
// error into a page.
func (u *UI) dispatch(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if rt.role != anyone {
			var err error
			if s, err = u.sessionOf(r); err != nil {
				u.fail(w, r, nil, err)
				return
			}
			if s == nil {
				u.toLogin(w, r)
				return
			}
			if !s.Can(rt.role) {
				u.fail(w, r, s, userError(http.StatusForbidden,
					fmt.Sprintf("this needs the %s role or a higher one; %s has %s", rt.role, s.User.Username, s.User.Role)))
				return
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead && !validCSRF(r, s.CSRF) {
				u.fail(w, r, s, userError(http.StatusForbidden,
					"the form's security token is missing or stale: reload the page and try again"))
				return
			}
		}
		if err := rt.handle(w, r, s); err != nil {
			u.fail(w, r, s, err)
		}
	})
}

// sessionOf returns the request's session, or nil when it has none.
func (u *UI) sessionOf(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	us, err := u.sessions.Check(r.Context(), c.Value)
	if errors.Is(err, api.ErrNoSession) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ui: check the session: %w", err)
	}
	return &session{UISession: us, RemoteAddr: api.RemoteAddr(r)}, nil
}

// toLogin sends a visitor without a session to the login page, and back
// to the page asked for after logging in. htmx requests are told to load
// the login page whole, rather than swap it into a fragment.
func (u *UI) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/ui/login"
	if r.Method == http.MethodGet && r.URL.Path != "/ui/" {
		target += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", target)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "log in first: your session has ended", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// safeNext keeps a post-login destination inside the UI.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

type loginData struct {
	Next string
	Form *form
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, _ *session) error {
	if s, err := u.sessionOf(r); err == nil && s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return u.renderLogin(w, r, http.StatusOK, &loginData{Next: safeNext(r.URL.Query().Get("next")), Form: newEmptyForm()})
}

// renderLogin shows the login form with a fresh CSRF token, kept in a
// cookie the form must match (there is no session to tie it to yet).
func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, d *loginData) error {
	token, err := randomToken()
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: loginCookie, Value: token, Path: "/ui/login", MaxAge: 3600,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return u.renderWith(w, r, status, "login", "Log in", &view{CSRF: token, Data: d})
}

func (u *UI) loginSubmit(w http.ResponseWriter, r *http.Request, _ *session) error {
	f := newForm(r)
	d := &loginData{Next: safeNext(f.get("next")), Form: f}
	c, err := r.Cookie(loginCookie)
	if err != nil || f.get(csrfField) == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(f.get(csrfField))) != 1 {
		f.Error = "the login form had expired: enter your username and password again"
		return u.renderLogin(w, r, http.StatusForbidden, d)
	}
	username, password := strings.TrimSpace(f.get("username")), f.get("password")
	if username == "" {
		f.fail("username", "enter your username")
	}
	if password == "" {
		f.fail("password", "enter your password")
	}
	if !f.ok() {
		return u.renderLogin(w, r, http.StatusUnprocessableEntity, d)
	}
	cookie, us, err := u.sessions.Login(r.Context(), username, password, api.RemoteAddr(r))
	var throttled *api.LoginThrottledError
	switch {
	case errors.Is(err, api.ErrLoginFailed):
		f.fail("password", "unknown user or wrong password")
		return u.renderLogin(w, r, http.StatusUnauthorized, d)
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", fmt.Sprint(int(throttled.RetryAfter.Round(time.Second).Seconds())))
		f.Error = throttled.Detail
		return u.renderLogin(w, r, http.StatusTooManyRequests, d)
	case err != nil:
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/ui/login", MaxAge: -1})
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: cookie, Path: "/ui/", Expires: us.ExpiresAt,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
	return nil
}

// logout ends the session on the server, so a copy of the cookie no
// longer works anywhere, and drops the cookie.
func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	c, err := r.Cookie(sessionCookie)
	if err == nil {
		if err := u.sessions.Logout(r.Context(), c.Value, s.RemoteAddr); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/ui/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("ui: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
