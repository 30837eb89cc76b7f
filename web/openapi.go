package web

import (
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"policydesk/auth"
)

// OpenAPI builds the OpenAPI 3.1 document of the route table. JSON Schemas
// (draft 2020-12, as OpenAPI 3.1 uses) are derived by reflection from each
// route's Request and Response types, so the document cannot drift from
// the code. Pages are listed too, answering text/html.
func (s *Server) OpenAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}}
	errRef := g.schema(reflect.TypeOf(ErrorResponse{}))
	paths := map[string]map[string]any{}
	for _, rt := range s.Routes() {
		path, params := openAPIPath(rt.Pattern)
		op := map[string]any{
			"operationId": operationID(rt),
			"summary":     rt.Summary,
		}
		if rt.Tag != "" {
			op["tags"] = []string{rt.Tag}
		}
		if len(params) > 0 {
			var ps []any
			for _, p := range params {
				ps = append(ps, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
			op["parameters"] = ps
		}
		if rt.Public {
			op["security"] = []any{}
			op["x-roles"] = []string{"public"}
		} else {
			op["security"] = []any{map[string]any{"session": []string{}}}
			roles := []string{}
			for _, r := range rt.Roles {
				roles = append(roles, string(r))
			}
			if len(roles) == 0 || slices.Contains(rt.Roles, anyRole) {
				roles = []string{"signed_in"}
			}
			op["x-roles"] = roles
		}
		if rt.Request != nil {
			op["requestBody"] = map[string]any{
				"required": true,
				"content":  map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Request))}},
			}
		}
		ok := map[string]any{"description": "OK"}
		switch {
		case !rt.API():
			ok["content"] = map[string]any{"text/html": map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.Response != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Response))}}
		}
		responses := map[string]any{"200": ok}
		if rt.API() {
			responses["default"] = map[string]any{
				"description": "错误 error: see error.code",
				"content":     map[string]any{"application/json": map[string]any{"schema": errRef}},
			}
		}
		op["responses"] = responses
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "policydesk API",
			"version":     s.cfg.Version,
			"description": "京技管發〔2024〕29號 AI原生产业政策兑现平台 — JSON API. Errors answer {\"error\": {code, message, message_en, field, request_id}}.",
		},
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"paths":             paths,
		"components": map[string]any{
			"schemas": g.defs,
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": s.cookieName(),
					"description": "Server-side session from POST /api/v1/session"},
			},
		},
	}
}

var wildcard = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// openAPIPath turns a ServeMux pattern into an OpenAPI path and its
// parameters: /a/{id}/{rest...} → /a/{id}/{rest}; {$} is dropped.
func openAPIPath(pattern string) (string, []string) {
	pattern = strings.ReplaceAll(pattern, "{$}", "")
	var params []string
	path := wildcard.ReplaceAllStringFunc(pattern, func(m string) string {
		name := wildcard.FindStringSubmatch(m)[1]
		params = append(params, name)
		return "{" + name + "}"
	})
	if path == "" {
		path = "/"
	}
	return path, params
}

func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	up := true
	for _, c := range rt.Pattern {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			if up && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			b.WriteRune(c)
			up = false
		} else {
			up = true
		}
	}
	return b.String()
}

// schemaGen derives JSON Schemas from Go types, naming each struct type
// once under components/schemas.
type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
}

var (
	timeType      = reflect.TypeOf(time.Time{})
	rawType       = reflect.TypeOf(json.RawMessage{})
	numberType    = reflect.TypeOf(json.Number(""))
	textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
	jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
)

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	case t == numberType:
		return map[string]any{"type": "number"}
	case t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler):
		// A type that writes its own JSON: money.Amount writes yuan text.
		if t.Kind() == reflect.Struct || t.Kind() == reflect.Interface {
			return map[string]any{}
		}
		return map[string]any{"type": "string"}
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		return g.structRef(t)
	}
	return map[string]any{}
}

func (g *schemaGen) structRef(t reflect.Type) map[string]any {
	if t.Name() == "" {
		return g.structSchema(t)
	}
	name, ok := g.names[t]
	if !ok {
		name = schemaName(t)
		for n := 2; g.defs[name] != nil; n++ {
			name = schemaName(t) + strings.Repeat("_", n-1)
		}
		g.names[t] = name
		g.defs[name] = map[string]any{} // placeholder: recursive types end here
		g.defs[name] = g.structSchema(t)
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func schemaName(t reflect.Type) string {
	pkg := t.PkgPath()
	if i := strings.LastIndex(pkg, "/"); i >= 0 {
		pkg = pkg[i+1:]
	}
	n := t.Name()
	if i := strings.IndexByte(n, '['); i >= 0 {
		n = n[:i]
	}
	if pkg == "web" || pkg == "" {
		return n
	}
	return pkg + "." + n
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				for ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			var sc map[string]any
			if strings.Contains(","+opts+",", ",string,") {
				sc = map[string]any{"type": "string"}
			} else {
				sc = g.schema(ft)
			}
			if d := f.Tag.Get("doc"); d != "" {
				sc = withDescription(sc, d)
			}
			props[name] = sc
			optional := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,") || ft.Kind() == reflect.Pointer
			if !optional {
				required = append(required, name)
			}
		}
	}
	walk(t)
	sc := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		slices.Sort(required)
		sc["required"] = required
	}
	return sc
}

// withDescription adds a description; beside a $ref, JSON Schema 2020-12
// allows sibling keywords.
func withDescription(sc map[string]any, d string) map[string]any {
	out := make(map[string]any, len(sc)+1)
	for k, v := range sc {
		out[k] = v
	}
	out["description"] = d
	return out
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	w.Header().Set("Cache-Control", "no-cache")
	return WriteJSON(w, http.StatusOK, s.OpenAPI())
}
