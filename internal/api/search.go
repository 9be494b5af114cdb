package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

// Search page sizes. Ottr answered with every match at once; a page keeps
// one request cheap at 100,000 assets, and the next page is announced in
// headers so the body stays Ottr's bare list.
const (
	defaultSearchLimit = 100
	maxSearchLimit     = 1000
)

type searchInput struct {
	IPAddress           string      `query:"ip_address" maxLength:"64" doc:"exactly this address, like 10.0.0.1"`
	SystemName          string      `query:"system_name" maxLength:"253" doc:"exactly this device, like fw1.example.com"`
	DataCenter          string      `query:"data_center" maxLength:"64"`
	HostPlatform        string      `query:"host_platform" maxLength:"64" doc:"like panos or linux"`
	Origin              string      `query:"origin" maxLength:"64" doc:"where the asset came from, like API"`
	DaysUntilExpiration optionalInt `query:"days_until_expiration" minimum:"-36500" maximum:"36500" doc:"only certificates expiring within this many days (or already expired); assets whose expiry is unknown are included, since they are due first"`
	Limit               int         `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"most assets to return"`
	Cursor              string      `query:"cursor" maxLength:"400" doc:"where the page starts: the X-Next-Cursor of the previous page"`
}

type searchOutput struct {
	Link       string `header:"Link" doc:"the next page, rel=\"next\", when there is one"`
	NextCursor string `header:"X-Next-Cursor" doc:"the cursor of the next page, when there is one"`
	Body       []asset.Asset
}

func (s *Server) registerSearch() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "search",
		Method:      http.MethodGet,
		Path:        "/api/v1/search",
		Summary:     "Search the inventory",
		Description: "Assets matching every filter given, by system_name, as a JSON list (Ottr's answer). " +
			"At most limit assets are returned; when there are more, the Link (rel=\"next\") and X-Next-Cursor headers say where the next page starts.",
		Tags:   []string{"assets"},
		Errors: []int{http.StatusUnprocessableEntity},
	}, store.RoleDeveloper), s.search)
}

// Resolve normalises the filters the way assets are stored, so
// FW1.Example.com finds fw1.example.com, and checks the cursor.
func (in *searchInput) Resolve(huma.Context) []error {
	in.SystemName = asset.NormalizeName(in.SystemName)
	in.DataCenter = strings.ToLower(strings.TrimSpace(in.DataCenter))
	in.HostPlatform = strings.TrimSpace(in.HostPlatform)
	in.Origin = strings.TrimSpace(in.Origin)
	in.IPAddress = strings.TrimSpace(in.IPAddress)
	if ip, err := netip.ParseAddr(in.IPAddress); err == nil {
		in.IPAddress = ip.String()
	}
	if in.Cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(in.Cursor)
		if err != nil || len(after) == 0 {
			return []error{fieldError("query.cursor", "is not a cursor this API gave; pass X-Next-Cursor from the previous page as is", in.Cursor)}
		}
		in.Cursor = string(after)
	}
	return nil
}

func (s *Server) search(ctx context.Context, in *searchInput) (*searchOutput, error) {
	f := store.AssetFilter{
		SystemName:   in.SystemName,
		IPAddress:    in.IPAddress,
		DataCenter:   in.DataCenter,
		HostPlatform: in.HostPlatform,
		Origin:       in.Origin,
		After:        in.Cursor,
		Limit:        in.Limit + 1,
	}
	if d := in.DaysUntilExpiration; d.Set {
		before := s.now().Add(time.Duration(d.Value) * 24 * time.Hour)
		f.ExpiresBefore = &before
	}
	assets, err := s.store.ListAssets(ctx, f)
	if err != nil {
		return nil, s.internal(ctx, "search the inventory", err)
	}
	out := &searchOutput{Body: assets}
	if len(assets) > in.Limit {
		out.Body = assets[:in.Limit]
		cursor := base64.RawURLEncoding.EncodeToString([]byte(out.Body[in.Limit-1].SystemName))
		out.NextCursor = cursor
		out.Link = "</api/v1/search?" + nextQuery(in, cursor) + `>; rel="next"`
	}
	if out.Body == nil {
		out.Body = []asset.Asset{}
	}
	return out, nil
}

// nextQuery is the query string of the page after in's, ending at cursor.
func nextQuery(in *searchInput, cursor string) string {
	q := url.Values{}
	for k, v := range map[string]string{
		"ip_address":    in.IPAddress,
		"system_name":   in.SystemName,
		"data_center":   in.DataCenter,
		"host_platform": in.HostPlatform,
		"origin":        in.Origin,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if in.DaysUntilExpiration.Set {
		q.Set("days_until_expiration", strconv.Itoa(in.DaysUntilExpiration.Value))
	}
	q.Set("limit", strconv.Itoa(in.Limit))
	q.Set("cursor", cursor)
	return q.Encode()
}

// optionalInt is an integer query parameter that may be absent.
type optionalInt struct {
	Value int
	Set   bool
}

// Receiver implements huma.ParamWrapper.
func (o *optionalInt) Receiver() reflect.Value { return reflect.ValueOf(o).Elem().Field(0) }

// OnParamSet implements huma.ParamReactor.
func (o *optionalInt) OnParamSet(isSet bool, _ any) { o.Set = isSet }

// Schema implements huma.SchemaProvider: the parameter is an integer.
func (optionalInt) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeInteger, Format: "int64"}
}
