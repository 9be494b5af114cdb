package api

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ottr-go/ottr/internal/store"
)

// Tokens are JWTs signed with Ed25519 ("EdDSA"), the only algorithm
// accepted when they come back: Ottr never pinned one. They carry the
// username and no role, since the role is read from the store on every
// request: a deleted user's token stops working at once, and a demoted
// user's rights drop at once.
const (
	// signingKeyName is the vault entry holding the Ed25519 seed.
	signingKeyName = "api/token-signing-key/ed25519"
	tokenIssuer    = "ottr"
	tokenAudience  = "ottr-api"
	bearerScheme   = "bearer"
	// maxTokenBytes bounds what is parsed as a token; ours are ~300 bytes.
	maxTokenBytes = 4096
)

type tokens struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	// fpKey keys the password fingerprint carried in each token.
	fpKey  []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser

	// verified remembers tokens whose signature checked out, so a client
	// sending the same token on every request pays for the Ed25519
	// verification once, not every time (it was a tenth of a search's
	// cost). Only verified tokens enter it; expiry is checked on each use.
	mu       sync.Mutex
	verified map[string]claims
}

// maxVerifiedTokens bounds the verified-token cache.
const maxVerifiedTokens = 10000

// claims are a token's contents. PasswordFingerprint ties the token to the
// password it was issued for, so changing a password ends every token
// issued before; it is an HMAC of the bcrypt hash under a server key and
// tells the holder nothing.
type claims struct {
	jwt.RegisteredClaims
	PasswordFingerprint string `json:"pwf"`
}

// loadTokens reads the signing key from the vault, creating and storing
// one on first start.
func loadTokens(ctx context.Context, v Vault, ttl time.Duration, now func() time.Time) (*tokens, error) {
	seed, err := v.Get(ctx, signingKeyName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("api: token signing key: %w", err)
		}
		if err := v.Put(ctx, signingKeyName, seed); err != nil {
			return nil, fmt.Errorf("api: store token signing key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("api: token signing key: %w", err)
	case len(seed) != ed25519.SeedSize:
		return nil, fmt.Errorf("api: token signing key: stored key has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	mac := hmac.New(sha256.New, seed)
	mac.Write([]byte("ottr api password fingerprint"))
	t := &tokens{
		priv:     priv,
		pub:      priv.Public().(ed25519.PublicKey),
		fpKey:    mac.Sum(nil),
		ttl:      ttl,
		now:      now,
		verified: map[string]claims{},
	}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithStrictDecoding(),
	)
	return t, nil
}

func (t *tokens) fingerprint(passwordHash []byte) string {
	mac := hmac.New(sha256.New, t.fpKey)
	mac.Write(passwordHash)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:12])
}

// issue returns a signed token for u, valid from now for the TTL.
func (t *tokens) issue(u store.User) (string, time.Time, error) {
	return t.issueAt(u, t.now())
}

func (t *tokens) issueAt(u store.User, at time.Time) (string, time.Time, error) {
	at = at.Truncate(time.Second)
	exp := at.Add(t.ttl)
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return "", time.Time{}, err
	}
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   u.Username,
			Audience:  jwt.ClaimStrings{tokenAudience},
			IssuedAt:  jwt.NewNumericDate(at),
			NotBefore: jwt.NewNumericDate(at),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        base64.RawURLEncoding.EncodeToString(id),
		},
		PasswordFingerprint: t.fingerprint(u.PasswordHash),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(t.priv)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("api: sign token: %w", err)
	}
	return signed, exp, nil
}

// verify checks a token's signature, algorithm, issuer, audience and
// times, and returns its claims.
func (t *tokens) verify(raw string) (claims, error) {
	now := t.now()
	t.mu.Lock()
	c, ok := t.verified[raw]
	t.mu.Unlock()
	if ok {
		if !now.Before(c.ExpiresAt.Time) {
			return claims{}, jwt.ErrTokenExpired
		}
		if c.NotBefore != nil && now.Before(c.NotBefore.Time) {
			return claims{}, jwt.ErrTokenNotValidYet
		}
		return c, nil
	}
	c, err := t.parse(raw)
	if err != nil {
		return claims{}, err
	}
	t.remember(raw, c, now)
	return c, nil
}

// remember caches a verified token, first dropping expired ones when the
// cache is full, and all of them if that is not enough.
func (t *tokens) remember(raw string, c claims, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.verified) >= maxVerifiedTokens {
		for k, v := range t.verified {
			if !now.Before(v.ExpiresAt.Time) {
				delete(t.verified, k)
			}
		}
		if len(t.verified) >= maxVerifiedTokens {
			clear(t.verified)
		}
	}
	t.verified[raw] = c
}

// parse checks a token fully.
func (t *tokens) parse(raw string) (claims, error) {
	var c claims
	_, err := t.parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.pub, nil })
	if err != nil {
		return claims{}, err
	}
	if c.Subject == "" {
		return claims{}, errors.New("token names no user")
	}
	return c, nil
}

// tokenFromHeader takes the token out of an Authorization header as Ottr's
// clients send it ("Bearer <jwt>", exactly as authenticate returned it) or
// bare.
func tokenFromHeader(h string) (string, bool) {
	h = strings.TrimSpace(h)
	if scheme, rest, ok := strings.Cut(h, " "); ok {
		if !strings.EqualFold(scheme, bearerScheme) {
			return "", false
		}
		h = strings.TrimSpace(rest)
	}
	if h == "" || len(h) > maxTokenBytes || strings.ContainsAny(h, " \t") {
		return "", false
	}
	return h, true
}

type callerKey struct{}

// caller returns the authenticated user of a request.
func caller(ctx context.Context) store.User {
	u, _ := ctx.Value(callerKey{}).(store.User)
	return u
}

// authFailure is why a request is not let in: 401 for who the caller is,
// 403 for what they may do.
type authFailure struct {
	status int
	detail string
}

// authenticate returns the user the Authorization header speaks for, read
// fresh from the store.
func (s *Server) authenticate(ctx context.Context, header string) (store.User, *authFailure, error) {
	if strings.TrimSpace(header) == "" {
		return store.User{}, &authFailure{http.StatusUnauthorized,
			"this endpoint needs a token: send the Authorization header with the token POST /user/v1/authenticate returns"}, nil
	}
	raw, ok := tokenFromHeader(header)
	if !ok {
		return store.User{}, &authFailure{http.StatusUnauthorized,
			`the Authorization header must be "Bearer <token>" or the bare token, as POST /user/v1/authenticate returns it`}, nil
	}
	c, err := s.tokens.verify(raw)
	if err != nil {
		detail := "the token is not valid; get a new one from POST /user/v1/authenticate"
		if errors.Is(err, jwt.ErrTokenExpired) {
			detail = "the token has expired; get a new one from POST /user/v1/authenticate"
		}
		return store.User{}, &authFailure{http.StatusUnauthorized, detail}, nil
	}
	u, err := s.store.GetUser(ctx, c.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, &authFailure{http.StatusUnauthorized, "the token's user no longer exists"}, nil
	}
	if err != nil {
		return store.User{}, nil, err
	}
	if !hmac.Equal([]byte(c.PasswordFingerprint), []byte(s.tokens.fingerprint(u.PasswordHash))) {
		return store.User{}, &authFailure{http.StatusUnauthorized,
			"the password changed after this token was issued; get a new one from POST /user/v1/authenticate"}, nil
	}
	return u, nil, nil
}

// requireRole is the operation middleware that lets in users with role
// min or a higher one.
func (s *Server) requireRole(min string) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		u, fail, err := s.authenticate(ctx.Context(), ctx.Header("Authorization"))
		if err != nil {
			_ = huma.WriteErr(s.api, ctx, http.StatusInternalServerError, "the server could not check the token; its log has the details")
			s.log.Error("api: read user", "err", err)
			return
		}
		if fail == nil && roleRank(u.Role) < roleRank(min) {
			fail = &authFailure{http.StatusForbidden,
				fmt.Sprintf("this endpoint needs the %s role or a higher one; %s has %s", min, u.Username, u.Role)}
		}
		if fail != nil {
			if fail.status == http.StatusUnauthorized {
				ctx.SetHeader("WWW-Authenticate", `Bearer realm="ottr"`)
			}
			_ = huma.WriteErr(s.api, ctx, fail.status, fail.detail)
			return
		}
		next(huma.WithValue(ctx, callerKey{}, u))
	}
}

// bodyLimit is huma's own body limit: the middleware has already refused
// bodies over MaxBodyBytes, and huma takes a body of exactly its limit
// for a larger one.
func (s *Server) bodyLimit() int64 { return s.cfg.MaxBodyBytes + 1 }

// secured adds what every operation needing role min has: the check, the
// security requirement, the 401 and 403 answers and the role in its
// description.
func (s *Server) secured(op huma.Operation, min string) huma.Operation {
	op.Middlewares = append(op.Middlewares, s.requireRole(min))
	op.MaxBodyBytes = s.bodyLimit()
	op.Security = []map[string][]string{{bearerScheme: {}}}
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
	op.Description = strings.TrimSpace(op.Description + "\n\nRole: " + min + " or higher.")
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata["role"] = min
	return op
}
