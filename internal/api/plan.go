package api

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/driver"
	"github.com/ottr-go/ottr/internal/policy"
	"github.com/ottr-go/ottr/internal/route"
	"github.com/ottr-go/ottr/internal/scheduler"
	"github.com/ottr-go/ottr/internal/store"
)

// planPage is how many assets the plan reads from the store at a time, so
// a large inventory is never held in memory at once.
const planPage = 1000

type planBody struct {
	SystemName   string `json:"system_name,omitempty" maxLength:"253" doc:"only this asset"`
	IPAddress    string `json:"ip_address,omitempty" maxLength:"64"`
	DataCenter   string `json:"data_center,omitempty" maxLength:"64"`
	HostPlatform string `json:"host_platform,omitempty" maxLength:"64"`
	Origin       string `json:"origin,omitempty" maxLength:"64"`
	DueOnly      bool   `json:"due_only,omitempty" doc:"list only the assets that are due"`
	Limit        int    `json:"limit,omitempty" minimum:"0" maximum:"10000" doc:"most rows to list (default 1000); the counts cover every asset"`
}

type planInput struct {
	Body *planBody `required:"false"`
}

type planRow struct {
	Asset   string     `json:"asset"`
	Due     bool       `json:"due"`
	Reason  string     `json:"reason" doc:"the policy check that decided, like expiry_unknown or lifetime_fraction"`
	Message string     `json:"message"`
	When    time.Time  `json:"when" doc:"when the asset is (or was) due"`
	Route   string     `json:"route" doc:"the route that takes it, or empty when none does"`
	Driver  string     `json:"driver,omitempty"`
	RunsAt  *time.Time `json:"runs_at" nullable:"true" doc:"when the scheduler would run the due rotation, booked as it books them (CA by CA, earliest renewal first, over the whole inventory whatever the filters) against the CA's rate limits: now, or later when they have no room before; null when the asset is not due or no route takes it"`
}

type planResult struct {
	Assets    int       `json:"assets" doc:"assets looked at"`
	Due       int       `json:"due"`
	NoRoute   int       `json:"no_route" doc:"assets no route takes: they are never rotated"`
	Rows      []planRow `json:"rows"`
	Truncated bool      `json:"truncated" doc:"more rows than limit; the counts are still complete"`
	Now       time.Time `json:"now"`
}

type planOutput struct {
	Body planResult
}

type routeView struct {
	Index   int            `json:"index"`
	Name    string         `json:"name"`
	Match   route.Match    `json:"match"`
	Driver  string         `json:"driver"`
	Options map[string]any `json:"options,omitempty"`
}

type routesOutput struct {
	Body []routeView
}

const routesDescription = "The routes in order; the first that matches an asset takes it. " +
	"The options a driver declares secret (the script driver's env) hold references (env:NAME, file:/path), never secrets: " +
	"ADMIN sees the references, every other role sees \"" + driver.Redacted + "\" in their place."

func (s *Server) registerPlan() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "plan",
		Method:      http.MethodPost,
		Path:        "/api/v1/plan",
		Summary:     "Dry run: what is due, why, and which route it takes",
		Description: "Runs the renewal policy and the routing table over the inventory, or the assets matching the filters, and changes nothing. " +
			"Each due asset with a route gets the time its rotation would run (runs_at), as `ottr plan` and the web UI's plan book it.",
		Tags: []string{"rotations"},
	}, store.RoleDeveloper), s.plan)
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "list-routes",
		Method:      http.MethodGet,
		Path:        "/api/v1/routes",
		Summary:     "The routing table",
		Description: routesDescription,
		Tags:        []string{"rotations"},
	}, store.RoleDeveloper), s.listRoutes)
}

func (s *Server) plan(ctx context.Context, in *planInput) (*planOutput, error) {
	var b planBody
	if in.Body != nil {
		b = *in.Body
	}
	limit := b.Limit
	if limit == 0 {
		limit = 1000
	}
	f := store.AssetFilter{
		SystemName:   asset.NormalizeName(b.SystemName),
		IPAddress:    strings.TrimSpace(b.IPAddress),
		DataCenter:   strings.ToLower(strings.TrimSpace(b.DataCenter)),
		HostPlatform: strings.TrimSpace(b.HostPlatform),
		Origin:       strings.TrimSpace(b.Origin),
		Limit:        planPage,
	}
	if ip, err := netip.ParseAddr(f.IPAddress); err == nil {
		f.IPAddress = ip.String()
	}
	now := s.now().UTC()
	res := planResult{Rows: []planRow{}, Now: now}
	// Run times are booked over the whole inventory, as the scheduler
	// books them; a filtered plan reads it a second time for them.
	filtered := f.SystemName != "" || f.IPAddress != "" || f.DataCenter != "" || f.HostPlatform != "" || f.Origin != ""
	var bookings scheduler.Bookings
	listed := map[string]int{} // due assets with a route -> their row
	err := s.eachAsset(ctx, f, func(a asset.Asset) {
		row := s.planRow(a, now)
		res.Assets++
		if row.Due {
			res.Due++
		}
		if row.Route == "" {
			res.NoRoute++
		}
		shown := -1
		if !b.DueOnly || row.Due {
			if len(res.Rows) < limit {
				shown = len(res.Rows)
				res.Rows = append(res.Rows, row)
			} else {
				res.Truncated = true
			}
		}
		if row.Due && row.Route != "" {
			if filtered {
				if shown >= 0 {
					listed[a.SystemName] = shown
				}
			} else {
				bookings.Add(shown, a, now)
			}
		}
	})
	if err == nil && filtered && len(listed) > 0 {
		err = s.eachAsset(ctx, store.AssetFilter{Limit: planPage}, func(a asset.Asset) {
			if row := s.planRow(a, now); row.Due && row.Route != "" {
				shown, ok := listed[a.SystemName]
				if !ok {
					shown = -1
				}
				bookings.Add(shown, a, now)
			}
		})
	}
	if err != nil {
		return nil, s.internal(ctx, "read the inventory", err)
	}
	bookings.Times(s.app.Budget, func(row int, at time.Time) {
		if row >= 0 {
			res.Rows[row].RunsAt = &at
		}
	})
	return &planOutput{Body: res}, nil
}

// eachAsset calls fn with every asset f selects, a page at a time, so a
// large inventory is never held in memory at once.
func (s *Server) eachAsset(ctx context.Context, f store.AssetFilter, fn func(asset.Asset)) error {
	for {
		assets, err := s.store.ListAssets(ctx, f)
		if err != nil {
			return err
		}
		for _, a := range assets {
			fn(a)
		}
		if len(assets) < f.Limit {
			return nil
		}
		f.After = assets[len(assets)-1].SystemName
	}
}

// planRow says of one asset what the scheduler would decide now.
func (s *Server) planRow(a asset.Asset, now time.Time) planRow {
	d := policy.Decide(policy.Input{Asset: a, Now: now, Settings: s.app.Config.Policy})
	row := planRow{Asset: a.SystemName, Due: d.Due, Reason: d.Reason, Message: d.Message, When: d.When(now)}
	if r, _, ok := s.app.Routes.Match(a); ok {
		row.Route, row.Driver = r.Name, r.Driver
	}
	return row
}

func (s *Server) listRoutes(ctx context.Context, _ *struct{}) (*routesOutput, error) {
	admin := caller(ctx).Role == store.RoleAdmin
	routes := s.app.Routes.Routes()
	out := &routesOutput{Body: make([]routeView, 0, len(routes))}
	for i, r := range routes {
		options := r.Options
		if !admin {
			options = s.app.Drivers.RedactOptions(r.Driver, r.Options)
		}
		out.Body = append(out.Body, routeView{Index: i, Name: r.Name, Match: r.Match, Driver: r.Driver, Options: options})
	}
	return out, nil
}
