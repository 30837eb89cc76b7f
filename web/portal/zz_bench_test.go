package portal_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"policydesk/store"
	"policydesk/store/storetest"
)

func BenchmarkPages(b *testing.B) {
	dashboardTTL = 2 * time.Second
	defer func() { dashboardTTL = time.Nanosecond }()
	e := newEnv(b, storetest.New(b, store.SQLite))
	e.seed(300)
	for _, tc := range []struct{ login, path string }{{"rev", "/review"}, {"ent", "/me/applications"}, {"admin", "/dashboard"}} {
		c := e.as(tc.login)
		var cookie string
		for _, ck := range c.http.Jar.Cookies(mustParse(e.ts.URL)) {
			cookie = ck.Name + "=" + ck.Value
		}
		h := e.srv.Handler()
		b.Run(tc.path, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", tc.path, nil)
					req.Header.Set("Cookie", cookie)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("%d", w.Code)
					}
				}
			})
		})
	}
}

func mustParse(s string) *url.URL { u, _ := url.Parse(s); return u }
