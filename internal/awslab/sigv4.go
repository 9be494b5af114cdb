// Package awslab holds what ottr's emulators of AWS APIs share: the check
// of Signature Version 4 that every AWS endpoint makes, so an emulator
// refuses a request a real endpoint would refuse.
package awslab

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signature Version 4, as AWS documents it ("Create a signed AWS API
// request"): the emulator recomputes the signature of every request from the
// configured secret and refuses any request whose signature differs, whose
// credential scope is for another region, or whose date is more than
// fifteen minutes away from the clock.

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	scopeDate      = "20060102"
	// maxClockSkew is how far X-Amz-Date may be from the server's clock
	// before AWS answers "Signature expired".
	maxClockSkew = 15 * time.Minute
)

// AuthError is a refused signature, in the terms each protocol reports it.
type AuthError struct {
	// Kind selects the error code: see JSONCode and QueryCode.
	Kind    AuthFailure
	Message string
}

type AuthFailure int

const (
	AuthMissing AuthFailure = iota
	AuthUnknownKey
	AuthBadSignature
	AuthExpired
	AuthBadScope
)

// JSONCode is the __type AWS JSON services (SSM) answer with.
func (e *AuthError) JSONCode() string {
	switch e.Kind {
	case AuthMissing:
		return "MissingAuthenticationTokenException"
	case AuthUnknownKey:
		return "UnrecognizedClientException"
	default:
		return "InvalidSignatureException"
	}
}

// QueryCode is the <Code> EC2 answers with.
func (e *AuthError) QueryCode() string {
	switch e.Kind {
	case AuthMissing:
		return "MissingAuthenticationToken"
	case AuthUnknownKey:
		return "AuthFailure"
	case AuthExpired:
		return "RequestExpired"
	case AuthBadScope:
		return "AuthFailure"
	default:
		return "SignatureDoesNotMatch"
	}
}

func (e *AuthError) Error() string { return e.Message }

// credentialScope is the parsed Credential= part of an Authorization header.
type credentialScope struct {
	accessKeyID string
	date        string
	region      string
	service     string
}

func (c credentialScope) String() string {
	return c.date + "/" + c.region + "/" + c.service + "/aws4_request"
}

// signedRequest is the parsed Authorization header.
type signedRequest struct {
	scope         credentialScope
	signedHeaders []string
	signature     string
}

// Verifier checks SigV4 signatures against one key pair.
type Verifier struct {
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	Now             func() time.Time
}

// Verify checks r (whose body has been read into body) and returns the
// service its credential scope names.
func (v *Verifier) Verify(r *http.Request, body []byte) (string, *AuthError) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", &AuthError{Kind: AuthMissing, Message: "Request is missing Authentication Token"}
	}
	sr, err := parseAuthorization(auth)
	if err != nil {
		return "", &AuthError{Kind: AuthBadSignature, Message: err.Error()}
	}
	if sr.scope.accessKeyID != v.AccessKeyID {
		return "", &AuthError{Kind: AuthUnknownKey, Message: "The security token included in the request is invalid."}
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, perr := time.Parse(amzDateFormat, amzDate)
	if perr != nil {
		return "", &AuthError{Kind: AuthBadSignature, Message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."}
	}
	if now := v.Now(); signedAt.Before(now.Add(-maxClockSkew)) || signedAt.After(now.Add(maxClockSkew)) {
		return "", &AuthError{Kind: AuthExpired, Message: fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.UTC().Add(-maxClockSkew).Format(amzDateFormat), now.UTC().Format(amzDateFormat))}
	}
	if sr.scope.date != signedAt.Format(scopeDate) {
		return "", &AuthError{Kind: AuthBadScope, Message: fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			sr.scope.date, signedAt.Format(scopeDate), amzDate)}
	}
	if sr.scope.region != v.Region {
		return "", &AuthError{Kind: AuthBadScope, Message: fmt.Sprintf(
			"Credential should be scoped to a valid region, not '%s'. ", sr.scope.region)}
	}
	if !slices.Contains(sr.signedHeaders, "host") {
		return "", &AuthError{Kind: AuthBadSignature, Message: "'Host' must be a 'SignedHeader' in the AWS Authorization."}
	}

	canonical := canonicalRequest(r, body, sr.signedHeaders)
	hashed := sha256.Sum256([]byte(canonical))
	stringToSign := strings.Join([]string{
		sigV4Algorithm, amzDate, sr.scope.String(), hex.EncodeToString(hashed[:]),
	}, "\n")
	key := signingKey(v.SecretAccessKey, sr.scope)
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(sr.signature)) {
		return "", &AuthError{Kind: AuthBadSignature, Message: "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return sr.scope.service, nil
}

// parseAuthorization reads
// "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/ssm/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex".
func parseAuthorization(h string) (signedRequest, error) {
	var sr signedRequest
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return sr, fmt.Errorf("Unsupported AWS 'algorithm': '%s'", strings.SplitN(h, " ", 2)[0])
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return sr, fmt.Errorf("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters, got %q", part)
		}
		fields[name] = value
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return sr, fmt.Errorf("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters")
	}
	sr.scope = credentialScope{accessKeyID: cred[0], date: cred[1], region: cred[2], service: cred[3]}
	sr.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	sr.signature = fields["Signature"]
	return sr, nil
}

// canonicalRequest builds the canonical request of r over the signed
// headers, as the signer built it.
func canonicalRequest(r *http.Request, body []byte, signedHeaders []string) string {
	var headers strings.Builder
	for _, name := range signedHeaders {
		headers.WriteString(name)
		headers.WriteByte(':')
		headers.WriteString(canonicalHeaderValue(r, name))
		headers.WriteByte('\n')
	}
	payload := sha256.Sum256(body)
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	return strings.Join([]string{
		r.Method,
		uri,
		canonicalQuery(r.URL.Query()),
		headers.String(),
		strings.Join(signedHeaders, ";"),
		hex.EncodeToString(payload[:]),
	}, "\n")
}

func canonicalHeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return r.Host
	case "content-length":
		// The server keeps the length in the request, not always in
		// its header map.
		if v := r.Header.Get("Content-Length"); v != "" {
			return v
		}
		return strconv.FormatInt(r.ContentLength, 10)
	}
	values := r.Header.Values(http.CanonicalHeaderKey(name))
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		values := append([]string(nil), q[k]...)
		sort.Strings(values)
		for _, v := range values {
			parts = append(parts, uriEncode(k)+"="+uriEncode(v))
		}
	}
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes everything but RFC 3986's unreserved characters.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func signingKey(secret string, scope credentialScope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), scope.date)
	k = hmacSHA256(k, scope.region)
	k = hmacSHA256(k, scope.service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// RequestID returns a new random ID in the shape of AWS's request and
// version IDs (a version 4 UUID).
func RequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
