package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/auth"
)

// Route is one entry of the route table: the pattern, who may call it,
// its documentation for OpenAPI, and its handler.
//
// A route under /api/ answers errors as JSON; any other route is a page
// and answers errors with an error page (and sends visitors who are not
// signed in to the login page).
type Route struct {
	Method  string // GET, POST, PUT, PATCH, DELETE
	Pattern string // net/http ServeMux pattern without the method, e.g. "/api/v1/applications/{id}"
	// Roles who may call the route. SignedIn allows any signed-in user. A
	// route that is neither Public nor names Roles has made no permission
	// decision: it still requires a signed-in user, and the route table
	// test fails on it.
	Roles    []auth.Role
	Public   bool // anyone, signed in or not
	Summary  string
	Tag      string
	Request  any // zero value of the JSON body's type, for OpenAPI; nil for none
	Response any // zero value of the JSON answer's type, for OpenAPI; nil for none
	Handler  func(w http.ResponseWriter, r *http.Request, p auth.Principal) error
}

// The wrapper's refusals, before any handler runs.
const (
	msgSignIn = "请先登录"
	msgRole   = "您的角色无权进行此操作"
)

// anyRole in Roles allows any signed-in user.
const anyRole auth.Role = "*"

// SignedIn is the Roles of a route open to every signed-in user.
var SignedIn = []auth.Role{anyRole}

// API reports whether the route is part of the JSON API.
func (rt Route) API() bool { return isAPIPath(rt.Pattern) }

func isAPIPath(p string) bool { return p == "/api" || strings.HasPrefix(p, "/api/") }

// Key is "METHOD pattern", the route's name in metrics and logs.
func (rt Route) Key() string { return rt.Method + " " + rt.Pattern }

// Declared reports whether the route made a permission decision: Public,
// SignedIn, or a list of roles.
func (rt Route) Declared() bool { return rt.Public || len(rt.Roles) > 0 }

// Allows reports whether p may call the route.
func (rt Route) Allows(p auth.Principal) bool {
	if rt.Public {
		return true
	}
	if p.Anonymous() {
		return false
	}
	return len(rt.Roles) == 0 || slices.Contains(rt.Roles, anyRole) || slices.Contains(rt.Roles, p.Role)
}

var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// Handle adds a route. It panics, as ServeMux does, on a malformed route
// or a pattern already taken: both are programming errors.
func (s *Server) Handle(rt Route) {
	if !slices.Contains(methods, rt.Method) {
		panic(fmt.Sprintf("web: route %s: method must be one of %v", rt.Key(), methods))
	}
	if !strings.HasPrefix(rt.Pattern, "/") || strings.ContainsAny(rt.Pattern, " \t") {
		panic(fmt.Sprintf("web: route %s: pattern must be a path", rt.Key()))
	}
	if rt.Handler == nil {
		panic(fmt.Sprintf("web: route %s has no handler", rt.Key()))
	}
	if rt.Public && len(rt.Roles) > 0 {
		panic(fmt.Sprintf("web: route %s is Public and names Roles: choose one", rt.Key()))
	}
	for _, r := range rt.Roles {
		if r != anyRole && !r.Valid() {
			panic(fmt.Sprintf("web: route %s: unknown role %q", rt.Key(), r))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.routes {
		if o.Key() == rt.Key() {
			panic("web: route registered twice: " + rt.Key())
		}
	}
	s.mux.Handle(rt.Key(), s.wrap(rt))
	s.routes = append(s.routes, rt)
}

// Routes returns the route table, in the order routes were added.
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.routes)
}

// wrap enforces the route's permission and maps its error.
func (s *Server) wrap(rt Route) http.Handler {
	api := rt.API()
	key := rt.Key()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r.Context())
		if st != nil {
			st.route = key
		}
		if !cleanText(r.URL.Path) || r.URL.RawQuery != "" && !CleanValues(r.URL.Query()) {
			s.writeError(w, r, apperr.New(apperr.Invalid, "地址中含有无效字符(NUL 或非 UTF-8 编码)", "the address holds NUL or invalid UTF-8"), api)
			return
		}
		p, sess, err := s.principal(w, r)
		if err != nil && !rt.Public {
			s.writeError(w, r, err, api)
			return
		}
		if st != nil {
			st.user, st.session = p.UserID, sess
		}
		r = r.WithContext(auth.NewContext(r.Context(), p))
		if !rt.Allows(p) {
			if p.Anonymous() {
				if !api && r.Method == http.MethodGet {
					http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
					return
				}
				s.writeError(w, r, apperr.New(apperr.Unauthorized, msgSignIn, "sign in first"), api)
				return
			}
			s.writeError(w, r, apperr.New(apperr.Forbidden, msgRole, "your role may not do this"), api)
			return
		}
		if err := rt.Handler(w, r, p); err != nil {
			s.writeError(w, r, err, api)
		}
	})
}

// cleanText reports whether s is valid UTF-8 without NUL.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// CleanValues reports whether every key and value is valid UTF-8 without
// NUL: what a form or query may carry into the database.
func CleanValues(q url.Values) bool {
	for k, vs := range q {
		if !cleanText(k) {
			return false
		}
		for _, v := range vs {
			if !cleanText(v) {
				return false
			}
		}
	}
	return true
}

// principal returns who sends r: the session cookie's user, or anonymous.
// An unknown or expired cookie is cleared and gives anonymous; an error
// of the database is returned.
func (s *Server) principal(w http.ResponseWriter, r *http.Request) (auth.Principal, auth.Session, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" {
		return auth.Principal{}, auth.Session{}, nil
	}
	p, sess, err := s.deps.Auth.Lookup(r.Context(), c.Value, s.cfg.Now())
	if err != nil {
		if apperr.Is(err, apperr.Unauthorized) {
			s.clearSessionCookie(w)
			return auth.Principal{}, auth.Session{}, nil
		}
		return auth.Principal{}, auth.Session{}, err
	}
	return p, sess, nil
}

// notFound answers every request no route matches: 405 with Allow when
// the path exists for other methods, else 404.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	api := isAPIPath(r.URL.Path)
	var allow []string
	for _, m := range methods {
		if m == r.Method {
			continue
		}
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pat := s.mux.Handler(r2); pat != "" && pat != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, &apperr.Error{Code: codeMethodNotAllowed, Message: "不支持此请求方法", MessageEn: "method not allowed"}, api)
		return
	}
	s.writeError(w, r, apperr.New(apperr.NotFound, "页面或资源不存在", "not found"), api)
}

const codeMethodNotAllowed = "method_not_allowed"
