package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

type healthBody struct {
	Status string `json:"status" example:"ok"`
}

type healthOutput struct {
	Body healthBody
}

// readyTimeout bounds the store check, so a wedged database makes /readyz
// answer 503 rather than hang the prober.
const readyTimeout = 2 * time.Second

func (s *Server) registerHealth() {
	huma.Register(s.api, huma.Operation{
		OperationID: "healthz",
		Method:      http.MethodGet,
		Path:        "/healthz",
		Summary:     "Liveness: the process serves requests",
		Tags:        []string{"health"},
	}, func(context.Context, *struct{}) (*healthOutput, error) {
		return &healthOutput{Body: healthBody{Status: "ok"}}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "readyz",
		Method:      http.MethodGet,
		Path:        "/readyz",
		Summary:     "Readiness: the store answers",
		Tags:        []string{"health"},
		Errors:      []int{http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.Warn("api: not ready: the store does not answer", "err", err)
			return nil, problem(http.StatusServiceUnavailable, "the store does not answer")
		}
		return &healthOutput{Body: healthBody{Status: "ok"}}, nil
	})
	// Prometheus scrapes without a token, as probes call /healthz: the
	// metrics carry no secret (docs/metrics.md). They are in the
	// exposition format, not JSON, so not an operation of the OpenAPI
	// description.
	if s.app.Metrics != nil {
		s.mux.Handle("GET /metrics", s.app.Metrics.Handler())
	}
}
