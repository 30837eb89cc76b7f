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

// BenchmarkPages renders the busiest pages in process (no network) on the
// demo data set of 300 enterprises: the reviewer's queue, the
// enterprise's application list and the dashboard (figures cached, as in
// production). The load at 200 connections is measured with loadgen or wrk
// against `policydesk serve --demo` (README).
func BenchmarkPages(b *testing.B) {
	dashboardTTL = 2 * time.Second
	defer func() { dashboardTTL = -time.Nanosecond }()
	e := newEnv(b, storetest.New(b, store.SQLite))
	e.seed(300)
	u, _ := url.Parse(e.ts.URL)
	for _, tc := range []struct{ login, path string }{{"rev", "/review"}, {"ent", "/me/applications"}, {"admin", "/dashboard"}} {
		var cookie string
		for _, ck := range e.as(tc.login).http.Jar.Cookies(u) {
			cookie = ck.Name + "=" + ck.Value
		}
		h := e.srv.Handler()
		b.Run(tc.path, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", tc.path, nil)
					req.Header.Set("Cookie", cookie)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("%s: %d", tc.path, w.Code)
					}
				}
			})
		})
	}
}
