package api

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
)

// The docs page is rendered here from the OpenAPI description, with no
// script and nothing fetched from elsewhere, so it works on a network with
// no way out. /openapi.json has the same, for tools.

type docsOperation struct {
	Method      string
	Path        string
	Summary     string
	Description string
	Role        string
	Params      []*huma.Param
	Body        string
	Responses   []docsResponse
}

type docsResponse struct {
	Status      string
	Description string
}

type docsSchema struct {
	Name string
	JSON string
}

type docsPage struct {
	Title       string
	Version     string
	Description string
	Operations  []docsOperation
	Schemas     []docsSchema
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{margin-top:2.5rem;border-bottom:1px solid #ccc}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}
.GET{color:#0a6}.POST{color:#06c}.PUT{color:#a60}.PATCH{color:#a0a}.DELETE{color:#c22}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left;vertical-align:top}
.role{float:right;font-size:13px;color:#555}
</style></head><body>
<h1>{{.Title}} API <small>{{.Version}}</small></h1>
<p>{{.Description}}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1), <a href="/openapi.yaml">/openapi.yaml</a>.</p>
<h2>Operations</h2>
{{range .Operations}}<div class="op" id="{{.Method}}{{.Path}}">
<div><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code>{{if .Role}}<span class="role">role: {{.Role}}+</span>{{else}}<span class="role">no token needed</span>{{end}}</div>
<p><b>{{.Summary}}</b>{{if .Description}}<br>{{.Description}}{{end}}</p>
{{if .Params}}<table><tr><th>parameter</th><th>in</th><th>required</th><th>description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code></td><td>{{.In}}</td><td>{{if .Required}}yes{{end}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .Body}}<p>Body: {{.Body}}</p>{{end}}
<p>Answers: {{range $i, $r := .Responses}}{{if $i}}, {{end}}<code>{{$r.Status}}</code> {{$r.Description}}{{end}}</p>
</div>{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<h3 id="{{.Name}}">{{.Name}}</h3><pre>{{.JSON}}</pre>{{end}}
</body></html>
`))

func (s *Server) registerDocs() {
	var once sync.Once
	var page []byte
	s.mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { page = s.renderDocs() })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		_, _ = w.Write(page)
	})
}

func (s *Server) renderDocs() []byte {
	oapi := s.api.OpenAPI()
	p := docsPage{Title: oapi.Info.Title, Version: oapi.Info.Version, Description: oapi.Info.Description}
	paths := make([]string, 0, len(oapi.Paths))
	for path := range oapi.Paths {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		item := oapi.Paths[path]
		for _, m := range []struct {
			method string
			op     *huma.Operation
		}{{"GET", item.Get}, {"POST", item.Post}, {"PUT", item.Put}, {"PATCH", item.Patch}, {"DELETE", item.Delete}} {
			if m.op != nil {
				p.Operations = append(p.Operations, docsOp(m.method, path, m.op))
			}
		}
	}
	schemas := oapi.Components.Schemas.Map()
	names := make([]string, 0, len(schemas))
	for name := range schemas {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		js, err := json.MarshalIndent(schemas[name], "", "  ")
		if err != nil {
			continue
		}
		p.Schemas = append(p.Schemas, docsSchema{Name: name, JSON: string(js)})
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, p); err != nil {
		s.log.Error("api: render docs", "err", err)
		return []byte("the docs page could not be rendered; /openapi.json has the API description")
	}
	return buf.Bytes()
}

func docsOp(method, path string, op *huma.Operation) docsOperation {
	d := docsOperation{Method: method, Path: path, Summary: op.Summary, Params: op.Parameters}
	d.Description = strings.TrimSpace(strings.Split(op.Description, "\n\nRole:")[0])
	if role, ok := op.Metadata["role"].(string); ok {
		d.Role = role
	}
	if rb := op.RequestBody; rb != nil {
		for ct, mt := range rb.Content {
			d.Body = ct
			if mt.Schema != nil && mt.Schema.Ref != "" {
				d.Body += ", schema " + mt.Schema.Ref[strings.LastIndex(mt.Schema.Ref, "/")+1:]
			}
		}
	}
	codes := make([]string, 0, len(op.Responses))
	for code := range op.Responses {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	for _, code := range codes {
		d.Responses = append(d.Responses, docsResponse{Status: code, Description: op.Responses[code].Description})
	}
	return d
}
