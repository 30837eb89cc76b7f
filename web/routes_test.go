package web

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"policydesk/auth"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestEveryRouteDecidesWhoMayCall fails for a route that made no
// permission decision: neither Public, nor SignedIn, nor a list of roles.
// Routes the lead adds with Handle are checked by the same function.
func TestEveryRouteDecidesWhoMayCall(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	routes := e.srv.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		if !rt.Declared() {
			t.Errorf("route %s declares neither Public nor Roles: decide who may call it", rt.Key())
		}
		if rt.Summary == "" {
			t.Errorf("route %s has no summary", rt.Key())
		}
		if rt.API() && rt.Tag == "" {
			t.Errorf("route %s has no tag", rt.Key())
		}
	}
	// The check works: an undecided route is caught.
	if (Route{Method: "GET", Pattern: "/x"}).Declared() {
		t.Fatal("a route without Public or Roles counts as declared")
	}
	// Handle refuses contradictions and unknown roles.
	for _, bad := range []Route{
		{Method: "GET", Pattern: "/api/v1/x1", Public: true, Roles: []auth.Role{auth.RoleAdmin}, Handler: okHandler},
		{Method: "GET", Pattern: "/api/v1/x2", Roles: []auth.Role{"root"}, Handler: okHandler},
		{Method: "FETCH", Pattern: "/api/v1/x3", Public: true, Handler: okHandler},
		{Method: "GET", Pattern: "/api/v1/x4", Public: true},
		{Method: "GET", Pattern: "/healthz", Public: true, Handler: okHandler},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle accepted %+v", bad.Key())
				}
			}()
			e.srv.Handle(bad)
		}()
	}
}

func okHandler(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	return WriteJSON(w, 200, map[string]string{"ok": "yes"})
}

var wildcardRE = regexp.MustCompile(`\{[^}]*\}`)

// concretePath fills a route pattern's wildcards.
func concretePath(pattern string) string {
	p := strings.ReplaceAll(pattern, "{$}", "")
	p = wildcardRE.ReplaceAllString(p, "x")
	if p == "" {
		p = "/"
	}
	return p
}

// TestRoleMatrix sends every route as a visitor and as each role and checks
// that the route table's decision is what happens: refused before the
// handler (401/redirect to login for visitors, 403 for other roles), or
// reaching the handler, which may still refuse the empty request on its
// own terms but never fails with 5xx.
func TestRoleMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		e.srv.Handle(Route{Method: "GET", Pattern: "/api/v1/test/admin-only", Roles: []auth.Role{auth.RoleAdmin}, Summary: "test", Tag: "test", Handler: okHandler})
		e.srv.Handle(Route{Method: "GET", Pattern: "/test/finance-page", Roles: []auth.Role{auth.RoleFinance, auth.RoleAdmin}, Summary: "test", Handler: okHandler})
		who := append([]auth.Role{""}, auth.Roles()...)
		checked := 0
		for _, rt := range e.srv.Routes() {
			for _, role := range who {
				c := e.client()
				var p auth.Principal
				if role != "" {
					// A fresh session per request: some routes end it.
					var sess auth.Session
					var err error
					p, sess, err = e.auth.Login(context.Background(), "u-"+string(role), testPassword, "", e.clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					c.http.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: e.srv.cookieName(), Value: sess.ID, Path: "/"}})
				}
				path := concretePath(rt.Pattern)
				var r resp
				switch {
				case rt.Method == "GET":
					r = c.do("GET", path, nil)
				case rt.API():
					r = c.do(rt.Method, path, "{}")
				default:
					r = c.form(path, map[string]string{})
				}
				label := rt.Key() + " as " + string(role)
				if role == "" {
					label = rt.Key() + " as visitor"
				}
				if r.status >= 500 {
					t.Errorf("%s: %d %s", label, r.status, r.body)
					continue
				}
				allowed := rt.Allows(p)
				denied := deniedByWrapper(t, rt, r)
				switch {
				case allowed && denied:
					t.Errorf("%s: refused by the route table (%d), but the route allows it", label, r.status)
				case !allowed && !denied:
					t.Errorf("%s: reached the handler (%d), but the route does not allow it", label, r.status)
				case !allowed && role == "" && !(r.status == 401 || r.status == 303):
					t.Errorf("%s: visitor refused with %d, want 401 or a redirect to /login", label, r.status)
				case !allowed && role != "" && r.status != 403:
					t.Errorf("%s: refused with %d, want 403", label, r.status)
				}
				checked++
			}
		}
		if want := len(e.srv.Routes()) * len(who); checked != want {
			t.Fatalf("checked %d of %d combinations", checked, want)
		}
	})
}

// deniedByWrapper reports whether r is the route wrapper's refusal.
func deniedByWrapper(t *testing.T, rt Route, r resp) bool {
	switch {
	case r.status == 303 && strings.HasPrefix(r.header.Get("Location"), "/login?next="):
		return !rt.API()
	case r.status != 401 && r.status != 403:
		return false
	case rt.API():
		var e ErrorResponse
		r.json(t, &e)
		return e.Error.Message == msgSignIn || e.Error.Message == msgRole
	}
	body := string(r.body)
	return strings.Contains(body, msgSignIn) || strings.Contains(body, msgRole)
}
