package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/ottr-go/ottr/internal/store"
)

type loginBody struct {
	Username string `json:"username" minLength:"1" maxLength:"256"`
	Password string `json:"password" minLength:"1" maxLength:"1024"`
}

type loginInput struct {
	Body loginBody
}

type tokenBody struct {
	Token     string    `json:"token" doc:"\"Bearer \" and the JWT: send it back exactly as is in the Authorization header" example:"Bearer eyJhbGciOiJFZERTQSIs..."`
	ExpiresAt time.Time `json:"expires_at" doc:"when the token stops working"`
}

type loginOutput struct {
	Body tokenBody
}

type passwordChangeBody struct {
	Username        string `json:"username" minLength:"1" maxLength:"256"`
	Password        string `json:"password" minLength:"1" maxLength:"1024" doc:"the current password"`
	UpdatedPassword string `json:"updated_password" maxLength:"1024" doc:"the new password"`
}

type passwordChangeInput struct {
	Body passwordChangeBody
}

// userView is a user as the API shows it: Ottr's fields (timestamp is when
// it was created) and ours. The password hash never leaves the server.
type userView struct {
	Username  string    `json:"username"`
	Role      string    `json:"role" enum:"ADMIN,PRIVILEGED,DEVELOPER"`
	Timestamp time.Time `json:"timestamp" doc:"when the user was created (Ottr's field)"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func viewUser(u store.User) userView {
	return userView{Username: u.Username, Role: u.Role, Timestamp: u.CreatedAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// auditUser is what the audit log keeps of a user: never a password or hash.
func auditUser(u store.User) map[string]string {
	return map[string]string{"username": u.Username, "role": u.Role}
}

type createUserBody struct {
	Username string `json:"username" maxLength:"256"`
	Password string `json:"password" maxLength:"1024"`
	Role     string `json:"role" enum:"ADMIN,PRIVILEGED,DEVELOPER"`
}

type createUserInput struct {
	Body createUserBody
}

type userOutput struct {
	Body userView
}

type usersOutput struct {
	Body []userView
}

type usernamePath struct {
	Username string `path:"username" maxLength:"256"`
}

func (s *Server) registerAuth() {
	secret := map[string]any{metaSecretBody: true}
	huma.Register(s.api, huma.Operation{
		OperationID: "authenticate",
		Method:      http.MethodPost,
		Path:        "/user/v1/authenticate",
		Summary:     "Get a token",
		Description: "Checks the username and password and returns a token valid for 30 minutes. " +
			"Attempts are limited per username and per client address; past the limit the answer is 429 with Retry-After.",
		Tags:         []string{"user"},
		Metadata:     secret,
		MaxBodyBytes: s.bodyLimit(),
		Errors:       []int{http.StatusUnauthorized, http.StatusTooManyRequests},
	}, s.login)
	huma.Register(s.api, huma.Operation{
		OperationID:   "change-password",
		Method:        http.MethodPut,
		Path:          "/user/v1/authenticate",
		Summary:       "Change a password",
		Description:   "Checks the username and current password, then sets updated_password. Tokens issued before stop working.",
		Tags:          []string{"user"},
		DefaultStatus: http.StatusNoContent,
		Metadata:      secret,
		MaxBodyBytes:  s.bodyLimit(),
		Errors:        []int{http.StatusUnauthorized, http.StatusTooManyRequests},
	}, s.changePassword)
}

func (s *Server) registerUsers() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "list-users",
		Method:      http.MethodGet,
		Path:        "/admin/v1/users",
		Summary:     "List users",
		Tags:        []string{"admin"},
	}, store.RoleAdmin), s.listUsers)
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID:   "create-user",
		Method:        http.MethodPost,
		Path:          "/admin/v1/users",
		Summary:       "Create a user",
		Description:   "The password must have at least 8 characters, a lower-case letter, an upper-case letter, a digit and one of " + PasswordSymbols + ", and at most 72 bytes.",
		Tags:          []string{"admin"},
		DefaultStatus: http.StatusCreated,
		Metadata:      map[string]any{metaSecretBody: true},
		Errors:        []int{http.StatusConflict},
	}, store.RoleAdmin), s.createUser)
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID:   "delete-user",
		Method:        http.MethodDelete,
		Path:          "/admin/v1/users/{username}",
		Summary:       "Delete a user",
		Description:   "Answers 204 whether or not the user existed, as Ottr did, so the answer does not reveal usernames. The last ADMIN cannot be deleted.",
		Tags:          []string{"admin"},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusConflict},
	}, store.RoleAdmin), s.deleteUser)
}

// checkPassword answers whether password is u's, taking as long for a user
// that does not exist, so timing does not tell which usernames do.
func (s *Server) checkPassword(ctx context.Context, username, password string) (store.User, bool, error) {
	u, err := s.store.GetUser(ctx, username)
	// bcrypt reads 72 bytes and ignores the rest, so a longer password
	// could pass for its prefix; no stored password is longer.
	if errors.Is(err, store.ErrNotFound) || err == nil && len(password) > MaxPasswordBytes {
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(password))
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil {
		return store.User{}, false, nil
	}
	return u, true, nil
}

// passwordGate applies the login limits and checks the password; it
// returns the problem to answer with when the caller is not let through.
func (s *Server) passwordGate(ctx context.Context, username, password string) (store.User, error) {
	addr := infoFrom(ctx).remoteAddr
	if refusal := s.limits.admit(username, addr, s.now()); refusal != nil {
		s.log.Warn("api: login attempts limited", "user", username, "remote", addr, "reason", refusal.detail)
		return store.User{}, withRetryAfter(problem(http.StatusTooManyRequests, refusal.detail), refusal.wait)
	}
	u, ok, err := s.checkPassword(ctx, username, password)
	s.limits.finish(username, addr, err == nil, !ok, s.now())
	if err != nil {
		return store.User{}, s.internal(ctx, "check the password", err)
	}
	if !ok {
		s.log.Warn("api: authentication failed", "user", username, "remote", addr)
		return store.User{}, huma.ErrorWithHeaders(problem(http.StatusUnauthorized, "Authentication Failure: unknown user or wrong password"),
			http.Header{"WWW-Authenticate": {`Bearer realm="ottr"`}})
	}
	return u, nil
}

func (s *Server) login(ctx context.Context, in *loginInput) (*loginOutput, error) {
	u, err := s.passwordGate(ctx, in.Body.Username, in.Body.Password)
	if err != nil {
		return nil, err
	}
	token, exp, err := s.tokens.issue(u)
	if err != nil {
		return nil, s.internal(ctx, "issue a token", err)
	}
	s.log.Info("api: token issued", "user", u.Username, "remote", infoFrom(ctx).remoteAddr)
	return &loginOutput{Body: tokenBody{Token: "Bearer " + token, ExpiresAt: exp}}, nil
}

func (s *Server) changePassword(ctx context.Context, in *passwordChangeInput) (*struct{}, error) {
	if err := CheckPasswordRules(in.Body.UpdatedPassword); err != nil {
		return nil, problem(http.StatusUnprocessableEntity, "the new password breaks the password rules",
			fieldError("body.updated_password", err.Error(), nil))
	}
	u, err := s.passwordGate(ctx, in.Body.Username, in.Body.Password)
	if err != nil {
		return nil, err
	}
	hash, err := hashPassword(in.Body.UpdatedPassword, s.cfg.BcryptCost)
	if err != nil {
		return nil, s.internal(ctx, "hash the password", err)
	}
	before := auditUser(u)
	u.PasswordHash = hash
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return nil, s.notFound(ctx, err, "change the password", "the user was deleted meanwhile")
	}
	after := auditUser(u)
	after["password"] = "changed"
	s.auditAs(ctx, u.Username, "user.password", "user/"+u.Username, before, after)
	return nil, nil
}

func (s *Server) listUsers(ctx context.Context, _ *struct{}) (*usersOutput, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, s.internal(ctx, "list users", err)
	}
	out := &usersOutput{Body: make([]userView, 0, len(users))}
	for _, u := range users {
		out.Body = append(out.Body, viewUser(u))
	}
	return out, nil
}

func (s *Server) createUser(ctx context.Context, in *createUserInput) (*userOutput, error) {
	b := in.Body
	var errs []*huma.ErrorDetail
	if err := CheckUsername(b.Username); err != nil {
		errs = append(errs, fieldError("body.username", err.Error(), nil))
	}
	if err := CheckPasswordRules(b.Password); err != nil {
		errs = append(errs, fieldError("body.password", err.Error(), nil))
	}
	if len(errs) > 0 {
		return nil, problem(http.StatusUnprocessableEntity, "the user cannot be created as given", errs...)
	}
	err := createUser(ctx, s.store, b.Username, b.Password, b.Role, s.cfg.BcryptCost)
	if errors.Is(err, store.ErrExists) {
		return nil, problem(http.StatusConflict, "a user named "+b.Username+" exists already",
			fieldError("body.username", "is taken", b.Username))
	}
	if err != nil {
		return nil, s.internal(ctx, "create the user", err)
	}
	u, err := s.store.GetUser(ctx, b.Username)
	if err != nil {
		return nil, s.internal(ctx, "read the new user", err)
	}
	s.audit(ctx, "user.create", "user/"+u.Username, nil, auditUser(u))
	return &userOutput{Body: viewUser(u)}, nil
}

func (s *Server) deleteUser(ctx context.Context, in *usernamePath) (*struct{}, error) {
	u, err := s.store.GetUser(ctx, in.Username)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, s.internal(ctx, "read the user", err)
	}
	last, err := IsLastAdmin(ctx, s.store, u)
	if err != nil {
		return nil, s.internal(ctx, "list users", err)
	}
	if last {
		return nil, problem(http.StatusConflict, u.Username+" is the last ADMIN; create another admin before deleting this one",
			fieldError("path.username", "is the last ADMIN", u.Username))
	}
	if err := s.store.DeleteUser(ctx, u.Username); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.internal(ctx, "delete the user", err)
	}
	s.audit(ctx, "user.delete", "user/"+u.Username, auditUser(u), nil)
	return nil, nil
}
