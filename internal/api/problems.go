package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// Problems are RFC 9457 documents: huma.ErrorModel, whose "errors" list
// names each field at fault by its location ("body.ip_address",
// "query.limit") with the rule it breaks.

// problem returns an error huma writes as a problem with status.
func problem(status int, detail string, errs ...*huma.ErrorDetail) error {
	return &huma.ErrorModel{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Errors: errs,
	}
}

// fieldError names one input at fault.
func fieldError(location, message string, value any) *huma.ErrorDetail {
	return &huma.ErrorDetail{Location: location, Message: message, Value: value}
}

// assetProblem turns a validation failure into a 422 listing every broken
// rule, each located at prefix + the field ("body.common_name").
func assetProblem(detail, prefix string, verr *asset.ValidationError) error {
	errs := make([]*huma.ErrorDetail, len(verr.Errors))
	for i, fe := range verr.Errors {
		var value any
		if fe.Value != "" {
			value = fe.Value
		}
		errs[i] = fieldError(prefix+fe.Field, fe.Field+" "+fe.Rule, value)
	}
	return problem(http.StatusUnprocessableEntity, detail, errs...)
}

// withRetryAfter adds a Retry-After header, in whole seconds, to err.
func withRetryAfter(err error, wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return huma.ErrorWithHeaders(err, http.Header{"Retry-After": {strconv.Itoa(secs)}})
}

// internal logs err, which the client must not see, and returns a 500
// that says no more than that something failed on the server.
func (s *Server) internal(ctx context.Context, what string, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// The client went away; nobody reads this answer.
		s.log.Debug("api: request canceled", "during", what)
	} else {
		s.log.Error("api: "+what, "err", err)
	}
	return problem(http.StatusInternalServerError, "the server could not "+what+"; its log has the details")
}

// notFound is the 404 for a missing record, or a 500 for any other store
// error.
func (s *Server) notFound(ctx context.Context, err error, what, detail string) error {
	if errors.Is(err, store.ErrNotFound) {
		return problem(http.StatusNotFound, detail)
	}
	return s.internal(ctx, what, err)
}

// writeProblem writes a problem outside huma (middleware, docs).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(huma.ErrorModel{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}

// metaSecretBody marks operations whose request body holds a password:
// their problems never echo a value back, since huma's own validation
// errors (a malformed body, a field too long) would quote it.
const metaSecretBody = "secretBody"

// redactSecretProblems is a huma transformer applying metaSecretBody.
func redactSecretProblems(ctx huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	op := ctx.Operation()
	if op == nil || op.Metadata[metaSecretBody] != true {
		return v, nil
	}
	for _, d := range em.Errors {
		if d != nil {
			d.Value = nil
		}
	}
	return em, nil
}

// explainMediaType is a huma transformer that makes a 415 say how to send
// the body: huma's own detail names no header, and curl's -d sends
// application/x-www-form-urlencoded unless told otherwise.
func explainMediaType(ctx huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok || em.Status != http.StatusUnsupportedMediaType {
		return v, nil
	}
	sent := ctx.Header("Content-Type")
	if sent == "" {
		sent = "no Content-Type"
	}
	em.Detail = "the request body was sent as " + sent + "; send it as JSON with the header Content-Type: application/json (curl: -H 'Content-Type: application/json')"
	return em, nil
}
