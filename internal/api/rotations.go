package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/rotation"
	"github.com/ottr-go/ottr/internal/store"
)

type rotateOutput struct {
	Location string `header:"Location" doc:"the rotation's status"`
	Body     rotateBody
}

type rotateBody struct {
	RotationID int64  `json:"rotation_id"`
	StatusURL  string `json:"status_url" doc:"GET it to follow the rotation"`
}

// rotationView is a rotation with the duration of each finished step.
type rotationView struct {
	store.Rotation
	Steps []stepTiming `json:"steps" doc:"each finished step with how long it took, in order"`
	// StatusURL is where the rotation can be read.
	StatusURL string `json:"status_url"`
}

type stepTiming struct {
	Step       string    `json:"step"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	DurationMS int64     `json:"duration_ms"`
}

func rotationURL(id int64) string { return "/api/v1/rotations/" + strconv.FormatInt(id, 10) }

func viewRotation(r store.Rotation) rotationView {
	v := rotationView{Rotation: r, Steps: make([]stepTiming, 0, len(r.Journal)), StatusURL: rotationURL(r.ID)}
	if v.Journal == nil {
		v.Journal = []store.JournalEntry{}
	}
	steps := rotation.Steps()
	for _, e := range r.Journal {
		if !slices.Contains(steps, rotation.Step(e.Step)) {
			// The journal also keeps what a step needs to resume (the
			// ACME order of the issue step), which is not a step.
			continue
		}
		v.Steps = append(v.Steps, stepTiming{
			Step: e.Step, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt,
			DurationMS: e.FinishedAt.Sub(e.StartedAt).Milliseconds(),
		})
	}
	return v
}

type rotationsInput struct {
	Asset string `query:"asset" maxLength:"253" doc:"only this asset's rotations"`
	State string `query:"state" enum:"pending,running,succeeded,failed,rolled_back" doc:"only rotations in this state"`
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"most rotations to return, newest first"`
}

type rotationsOutput struct {
	Body []rotationView
}

type rotationIDPath struct {
	ID int64 `path:"id" minimum:"1" doc:"the rotation_id the rotate call returned"`
}

type rotationOutput struct {
	Body rotationView
}

func (s *Server) registerRotations() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID:   "rotate",
		Method:        http.MethodPost,
		Path:          "/api/v1/certificate/rotate/{system_name}",
		Summary:       "Rotate an asset's certificate now",
		Description:   "Queues a rotation, even if the certificate is not due or the asset is paused, and answers 202 with its id and status URL. 404 for an unknown asset; 409, with the rotation's id, when one is already pending or running; 422 when no route takes the asset, saying what each route needs.",
		Tags:          []string{"rotations"},
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, store.RolePrivileged), s.rotate)
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "list-rotations",
		Method:      http.MethodGet,
		Path:        "/api/v1/rotations",
		Summary:     "List rotations",
		Description: "Newest first, with each one's step journal but without its log.",
		Tags:        []string{"rotations"},
	}, store.RoleDeveloper), s.listRotations)
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "get-rotation",
		Method:      http.MethodGet,
		Path:        "/api/v1/rotations/{id}",
		Summary:     "Read a rotation",
		Description: "Its state, the journal of finished steps with what each produced and how long it took, and the captured log.",
		Tags:        []string{"rotations"},
		Errors:      []int{http.StatusNotFound},
	}, store.RoleDeveloper), s.getRotation)
}

func (s *Server) rotate(ctx context.Context, in *systemNamePath) (*rotateOutput, error) {
	name := asset.NormalizeName(in.SystemName)
	a, err := s.store.GetAsset(ctx, name)
	if err != nil {
		return nil, s.notFound(ctx, err, "read the asset", "no asset named "+in.SystemName)
	}
	rot, resumed, err := s.startRotation(ctx, a, store.TriggerAPI)
	var active *ActiveRotationError
	switch {
	case errors.As(err, &active):
		return nil, s.alreadyRotating(active.Rotation)
	case errors.Is(err, rotation.ErrNoRoute):
		return nil, s.noRoute(a)
	case errors.Is(err, store.ErrConflict):
		return nil, problem(http.StatusConflict, "a rotation of "+name+" is already pending or running")
	case errors.Is(err, store.ErrNotFound):
		return nil, problem(http.StatusNotFound, "no asset named "+in.SystemName)
	case err != nil:
		return nil, s.internal(ctx, "create and queue the rotation", err)
	}
	s.auditRotate(ctx, caller(ctx).Username, rot, resumed)
	url := rotationURL(rot.ID)
	return &rotateOutput{Location: url, Body: rotateBody{RotationID: rot.ID, StatusURL: url}}, nil
}

// ActiveRotationError reports that the asset already has a rotation on
// its way.
type ActiveRotationError struct {
	Rotation store.Rotation
}

func (e *ActiveRotationError) Error() string {
	return fmt.Sprintf("rotation %d of %s is already %s", e.Rotation.ID, e.Rotation.Asset, e.Rotation.State)
}

// startRotation creates and queues a forced rotation of a, or sets going
// again its active rotation whose process is gone (resumed). An active
// rotation on its way is an *ActiveRotationError; an asset no route takes
// is rotation.ErrNoRoute.
func (s *Server) startRotation(ctx context.Context, a asset.Asset, trigger store.Trigger) (rot store.Rotation, resumed bool, err error) {
	if active, err := s.store.ActiveRotation(ctx, a.SystemName); err == nil {
		revived, err := s.cfg.Enqueuer.Revive(ctx, active, a.DataCenter)
		if err != nil {
			return store.Rotation{}, false, fmt.Errorf("take over the rotation: %w", err)
		}
		if !revived {
			return store.Rotation{}, false, &ActiveRotationError{Rotation: active}
		}
		return active, true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Rotation{}, false, fmt.Errorf("look for an active rotation: %w", err)
	}
	rot, err = s.app.Runner.Create(ctx, a.SystemName, trigger, true, s.cfg.Enqueuer.EnqueueFunc(a.DataCenter, time.Time{}))
	if errors.Is(err, store.ErrConflict) {
		// Another request or the scheduler got there first.
		if active, aerr := s.store.ActiveRotation(ctx, a.SystemName); aerr == nil {
			return store.Rotation{}, false, &ActiveRotationError{Rotation: active}
		}
	}
	// On an error the rotation and its job were created together: neither
	// exists.
	return rot, false, err
}

// auditRotate records a rotation started (or resumed) by actor.
func (s *Server) auditRotate(ctx context.Context, actor string, rot store.Rotation, resumed bool) {
	after := map[string]any{"rotation_id": rot.ID, "trigger": rot.Trigger}
	if resumed {
		after["resumed"] = true
	}
	s.auditAs(ctx, actor, "asset.rotate", "asset/"+rot.Asset, nil, after)
}

func (s *Server) alreadyRotating(active store.Rotation) error {
	return problem(http.StatusConflict,
		fmt.Sprintf("rotation %d of %s is already %s; follow it at %s", active.ID, active.Asset, active.State, rotationURL(active.ID)),
		fieldError("rotation_id", "the active rotation", active.ID))
}

// noRoute is the 422 for an asset no route takes: what the asset routes
// on, and for every route what does not match.
func (s *Server) noRoute(a asset.Asset) error {
	detail := fmt.Sprintf("no route takes %s (host_platform %q, os_version %q, certificate_authority %q, device_model %q): "+
		"add a route for it, or fix these fields", a.SystemName, a.HostPlatform, a.OSVersion, a.CertificateAuthority, a.DeviceModel)
	var errs []*huma.ErrorDetail
	for _, e := range s.app.Routes.Explain(a) {
		if e.Matched {
			continue
		}
		errs = append(errs, fieldError(fmt.Sprintf("routes[%d]", e.Index),
			fmt.Sprintf("route %q (driver %s): %s", e.Name, e.Driver, strings.Join(e.Reasons, "; ")), nil))
	}
	if len(errs) == 0 {
		errs = append(errs, fieldError("routes", "the routing table is empty; add routes to the config", nil))
	}
	return problem(http.StatusUnprocessableEntity, detail, errs...)
}

func (s *Server) listRotations(ctx context.Context, in *rotationsInput) (*rotationsOutput, error) {
	rots, err := s.store.ListRotations(ctx, store.RotationFilter{
		Asset: asset.NormalizeName(in.Asset),
		State: store.State(in.State),
		Limit: in.Limit,
	})
	if err != nil {
		return nil, s.internal(ctx, "list rotations", err)
	}
	out := &rotationsOutput{Body: make([]rotationView, 0, len(rots))}
	for _, r := range rots {
		out.Body = append(out.Body, viewRotation(r))
	}
	return out, nil
}

func (s *Server) getRotation(ctx context.Context, in *rotationIDPath) (*rotationOutput, error) {
	r, err := s.store.GetRotation(ctx, in.ID)
	if err != nil {
		return nil, s.notFound(ctx, err, "read the rotation", fmt.Sprintf("no rotation %d", in.ID))
	}
	v := viewRotation(r)
	if v.Log == nil {
		v.Log = []store.LogLine{}
	}
	return &rotationOutput{Body: v}, nil
}
