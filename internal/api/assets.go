package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/ottr-go/ottr/internal/asset"
	"github.com/ottr-go/ottr/internal/store"
)

type assetWriteInput struct {
	RawBody []byte
}

type assetOutput struct {
	Status   int
	Location string `header:"Location" doc:"where the asset can be read"`
	Body     asset.Asset
}

type systemNamePath struct {
	SystemName string `path:"system_name" maxLength:"253" doc:"the asset's system_name, like fw1.example.com"`
}

type validationOutput struct {
	Body map[string]string
}

const assetBodyDoc = "An asset in Ottr's form or ottr's: certificate_expiration may be \"None\" or an ISO 8601 time " +
	"(without a zone it is UTC), certificate_validation may be \"True\" or \"False\". Unknown fields are refused. " +
	"subject_alternative_name defaults to [common_name] and origin to \"API\". The fields ottr records from " +
	"rotations (certificate_serial, certificate_issuer, certificate_not_before, last_rotation, failure_count, " +
	"next_attempt_at, renewal_window, renewal_time) cannot be changed through the API."

func (s *Server) registerAssets() {
	huma.Register(s.api, s.secured(huma.Operation{
		OperationID:   "create-asset",
		Method:        http.MethodPost,
		Path:          "/api/v1/assets",
		Summary:       "Add an asset",
		Description:   "Adds a device to the inventory; 409 if its system_name is taken. " + assetBodyDoc,
		Tags:          []string{"assets"},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity},
	}, store.RolePrivileged), s.createAsset)
	s.documentAssetBody(http.MethodPost, "/api/v1/assets")

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "put-asset",
		Method:      http.MethodPut,
		Path:        "/api/v1/assets",
		Summary:     "Add or update an asset",
		Description: "Adds the device (201) or updates it (200); on update, the fields the body leaves out keep their values. " +
			"Ottr's guide adds assets this way. " + assetBodyDoc,
		Tags:   []string{"assets"},
		Errors: []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
	}, store.RolePrivileged), s.putAsset)
	s.documentAssetBody(http.MethodPut, "/api/v1/assets")

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID:   "delete-asset",
		Method:        http.MethodDelete,
		Path:          "/api/v1/assets/delete/{system_name}",
		Summary:       "Delete an asset",
		Description:   "Removes the device and its rotation history.",
		Tags:          []string{"assets"},
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusNotFound},
	}, store.RolePrivileged), s.deleteAsset)

	huma.Register(s.api, s.secured(huma.Operation{
		OperationID: "get-asset",
		Method:      http.MethodGet,
		Path:        "/api/v1/assets/{system_name}",
		Summary:     "Read an asset",
		Tags:        []string{"assets"},
		Errors:      []int{http.StatusNotFound},
	}, store.RoleDeveloper), s.getAsset)

	for _, prefix := range []string{"/admin/v1", "/api/v1"} {
		for _, set := range []bool{true, false} {
			verb := "unset"
			summary := "Stop verifying the device's current TLS certificate"
			if set {
				verb, summary = "set", "Verify the device's TLS certificate"
			}
			id := "certificate-validation-" + verb
			if prefix == "/api/v1" {
				id += "-api"
			}
			huma.Register(s.api, s.secured(huma.Operation{
				OperationID: id,
				Method:      http.MethodPatch,
				Path:        prefix + "/management/certificate-validation/" + verb + "/{system_name}",
				Summary:     summary,
				Description: "Sets certificate_validation to " + map[bool]string{true: "true", false: "false"}[set] +
					". Served under /admin/v1 and /api/v1, as Ottr's documentation and code had it.",
				Tags:   []string{"admin"},
				Errors: []int{http.StatusNotFound},
			}, store.RoleAdmin), s.certificateValidation(set))
		}
	}
}

// documentAssetBody replaces the generic schema huma gives a raw body with
// the asset's.
func (s *Server) documentAssetBody(method, path string) {
	oapi := s.api.OpenAPI()
	item := oapi.Paths[path]
	if item == nil {
		return
	}
	var op *huma.Operation
	switch method {
	case http.MethodPost:
		op = item.Post
	case http.MethodPut:
		op = item.Put
	}
	if op == nil {
		return
	}
	schema := oapi.Components.Schemas.Schema(reflect.TypeFor[asset.Asset](), true, "Asset")
	op.RequestBody = &huma.RequestBody{
		Description: assetBodyDoc,
		Required:    true,
		Content:     map[string]*huma.MediaType{"application/json": {Schema: schema}},
	}
}

func assetLocation(name string) string { return "/api/v1/assets/" + url.PathEscape(name) }

// prepare normalises, validates and timestamps a, answering a 422 that
// names each broken rule.
func (s *Server) prepare(a asset.Asset, location string) (asset.Asset, error) {
	p, err := s.app.Prepare(a)
	var verr *asset.ValidationError
	if errors.As(err, &verr) {
		return asset.Asset{}, assetProblem("the asset breaks "+pluralRules(len(verr.Errors)), location, verr)
	}
	if err != nil {
		return asset.Asset{}, problem(http.StatusUnprocessableEntity, "the asset is not valid: "+err.Error())
	}
	return p, nil
}

func pluralRules(n int) string {
	if n == 1 {
		return "a rule"
	}
	return "several rules"
}

// newAsset is the base a created asset starts from: certificate
// validation on, as Ottr created every asset.
func newAsset() asset.Asset { return asset.Asset{CertificateValidation: true} }

func (s *Server) createAsset(ctx context.Context, in *assetWriteInput) (*assetOutput, error) {
	body, err := parseAssetBody(in.RawBody)
	if err != nil {
		return nil, err
	}
	return s.insertAsset(ctx, body)
}

func (s *Server) insertAsset(ctx context.Context, body assetBody) (*assetOutput, error) {
	a, err := mergeAsset(newAsset(), body)
	if err != nil {
		return nil, err
	}
	if a, err = s.prepare(a, "body."); err != nil {
		return nil, err
	}
	if err := s.store.CreateAsset(ctx, a); errors.Is(err, store.ErrExists) {
		return nil, problem(http.StatusConflict, "an asset named "+a.SystemName+" exists already; PUT /api/v1/assets updates it",
			fieldError("body.system_name", "is taken", a.SystemName))
	} else if err != nil {
		return nil, s.internal(ctx, "add the asset", err)
	}
	stored, err := s.store.GetAsset(ctx, a.SystemName)
	if err != nil {
		return nil, s.internal(ctx, "read the new asset", err)
	}
	s.audit(ctx, "asset.create", "asset/"+stored.SystemName, nil, stored)
	return &assetOutput{Status: http.StatusCreated, Location: assetLocation(stored.SystemName), Body: stored}, nil
}

func (s *Server) putAsset(ctx context.Context, in *assetWriteInput) (*assetOutput, error) {
	body, err := parseAssetBody(in.RawBody)
	if err != nil {
		return nil, err
	}
	name := asset.NormalizeName(body.asset.SystemName)
	if name == "" {
		return nil, problem(http.StatusUnprocessableEntity, "the asset needs a system_name",
			fieldError("body.system_name", "system_name is required: the device's fully-qualified domain name, like fw1.example.com", nil))
	}
	before, err := s.store.GetAsset(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return s.insertAsset(ctx, body)
	}
	if err != nil {
		return nil, s.internal(ctx, "read the asset", err)
	}
	a, err := mergeAsset(before, body)
	if err != nil {
		return nil, err
	}
	if a, err = s.prepare(a, "body."); err != nil {
		return nil, err
	}
	if err := s.store.UpdateAsset(ctx, a); err != nil {
		return nil, s.notFound(ctx, err, "update the asset", "the asset "+name+" was deleted meanwhile; send it again to add it")
	}
	after, err := s.store.GetAsset(ctx, a.SystemName)
	if err != nil {
		return nil, s.internal(ctx, "read the updated asset", err)
	}
	s.audit(ctx, "asset.update", "asset/"+after.SystemName, before, after)
	return &assetOutput{Status: http.StatusOK, Location: assetLocation(after.SystemName), Body: after}, nil
}

func (s *Server) getAsset(ctx context.Context, in *systemNamePath) (*assetOutput, error) {
	name := asset.NormalizeName(in.SystemName)
	a, err := s.store.GetAsset(ctx, name)
	if err != nil {
		return nil, s.notFound(ctx, err, "read the asset", "no asset named "+in.SystemName)
	}
	return &assetOutput{Status: http.StatusOK, Body: a}, nil
}

func (s *Server) deleteAsset(ctx context.Context, in *systemNamePath) (*struct{}, error) {
	name := asset.NormalizeName(in.SystemName)
	before, err := s.store.GetAsset(ctx, name)
	if err != nil {
		return nil, s.notFound(ctx, err, "read the asset", "no asset named "+in.SystemName)
	}
	if err := s.store.DeleteAsset(ctx, name); err != nil {
		return nil, s.notFound(ctx, err, "delete the asset", "no asset named "+in.SystemName)
	}
	s.audit(ctx, "asset.delete", "asset/"+name, before, nil)
	return nil, nil
}

// certificateValidation sets or unsets certificate_validation, answering
// with Ottr's messages.
func (s *Server) certificateValidation(set bool) func(context.Context, *systemNamePath) (*validationOutput, error) {
	return func(ctx context.Context, in *systemNamePath) (*validationOutput, error) {
		name := asset.NormalizeName(in.SystemName)
		before, err := s.store.GetAsset(ctx, name)
		if err != nil {
			return nil, s.notFound(ctx, err, "read the asset", "no asset named "+in.SystemName)
		}
		a := before.Clone()
		a.CertificateValidation = set
		if a, err = s.prepare(a, "asset."); err != nil {
			return nil, err
		}
		if err := s.store.UpdateAsset(ctx, a); err != nil {
			return nil, s.notFound(ctx, err, "update the asset", "no asset named "+in.SystemName)
		}
		action := "asset.certificate_validation.unset"
		if set {
			action = "asset.certificate_validation.set"
		}
		s.audit(ctx, action, "asset/"+name, before, a)
		if set {
			return &validationOutput{Body: map[string]string{"Certificate Validation Enabled": "Certificate validation enabled on " + name +
				". Please ensure " + name + " does not currently have a self-signed or invalid certificate."}}, nil
		}
		return &validationOutput{Body: map[string]string{"Certificate Validation Unset": "Certificate validation disabled for the next execution on " + name +
			". Please ensure this endpoint was only executed if the current certification on " + name + " is either a self-signed or an invalid certificate."}}, nil
	}
}
