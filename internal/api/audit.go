package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/store"
)

// audit records a change made by the request's user. before and after are
// marshalled to JSON; callers pass views without secrets (auditUser, the
// asset, whose credentials field is only a name).
func (s *Server) audit(ctx context.Context, action, target string, before, after any) {
	s.auditAs(ctx, caller(ctx).Username, action, target, before, after)
}

// auditAs records a change made by actor. A change that is made but cannot
// be recorded is logged as an error: the change stands, and the operator
// learns the trail has a gap.
func (s *Server) auditAs(ctx context.Context, actor, action, target string, before, after any) {
	e := store.AuditEvent{
		Time:       s.now().UTC(),
		Actor:      actor,
		Action:     action,
		Target:     target,
		RemoteAddr: infoFrom(ctx).remoteAddr,
	}
	var err error
	if before != nil {
		if e.Before, err = json.Marshal(before); err != nil {
			s.log.Error("api: audit: encode before", "action", action, "target", target, "err", err)
		}
	}
	if after != nil {
		if e.After, err = json.Marshal(after); err != nil {
			s.log.Error("api: audit: encode after", "action", action, "target", target, "err", err)
		}
	}
	// The change is made: record it even if the client has gone.
	if _, err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("api: audit: the change was made but not recorded", "actor", actor, "action", action, "target", target, "err", err)
	}
}

type auditInput struct {
	Actor    string `query:"actor" maxLength:"256" doc:"only events by this user"`
	Action   string `query:"action" maxLength:"128" doc:"only this action, like asset.update or user.create"`
	Target   string `query:"target" maxLength:"512" doc:"only events on this record, like asset/fw1.example.com"`
	BeforeID int64  `query:"before_id" minimum:"0" doc:"page cursor: only events older than this id (from X-Next-Cursor)"`
	Limit    int    `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"most events to return"`
}

type auditOutput struct {
	Link       string `header:"Link" doc:"the next page, rel=\"next\", when there is one"`
	NextCursor string `header:"X-Next-Cursor" doc:"before_id for the next page, when there is one"`
	Body       []store.AuditEvent
}

func (s *Server) registerAudit() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "list-audit",
		Method:      http.MethodGet,
		Path:        "/admin/v1/audit",
		Summary:     "Read the audit trail",
		Description: "Every change made through the API, newest first: who, what, on which record, the record before and after (secrets never included), and from which address.",
		Tags:        []string{"admin"},
	}, store.RoleAdmin), s.listAudit)
}

func (s *Server) listAudit(ctx context.Context, in *auditInput) (*auditOutput, error) {
	events, err := s.store.ListAudit(ctx, store.AuditFilter{
		Actor:    in.Actor,
		Action:   in.Action,
		Target:   in.Target,
		BeforeID: in.BeforeID,
		Limit:    in.Limit + 1,
	})
	if err != nil {
		return nil, s.internal(ctx, "read the audit trail", err)
	}
	out := &auditOutput{Body: events}
	if len(events) > in.Limit {
		out.Body = events[:in.Limit]
		next := strconv.FormatInt(out.Body[in.Limit-1].ID, 10)
		q := url.Values{}
		for k, v := range map[string]string{"actor": in.Actor, "action": in.Action, "target": in.Target} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", strconv.Itoa(in.Limit))
		q.Set("before_id", next)
		out.NextCursor = next
		out.Link = `</admin/v1/audit?` + q.Encode() + `>; rel="next"`
	}
	if out.Body == nil {
		out.Body = []store.AuditEvent{}
	}
	return out, nil
}
