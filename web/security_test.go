package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"policydesk/apperr"
	"policydesk/auth"
	"policydesk/ledger"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
)

func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	c := e.client()
	login := LoginRequest{Login: "u-admin", Password: testPassword}
	// A browser says where a request comes from; another site's is refused.
	r := c.do("POST", "/api/v1/session", login, "Sec-Fetch-Site", "cross-site")
	if r.status != 403 || r.errBody(t).Code != "forbidden" || c.sessionCookie() != "" {
		t.Fatalf("cross-site POST: %d %s", r.status, r.body)
	}
	// An older browser sends only Origin: it must match the host.
	r = c.do("POST", "/api/v1/session", login, "Origin", "https://evil.example")
	if r.status != 403 {
		t.Fatalf("POST with a foreign Origin: %d %s", r.status, r.body)
	}
	// A form posted from another site gets the error page.
	r = c.form("/calculator", map[string]string{"item": "compute_voucher"}, "Sec-Fetch-Site", "cross-site")
	if r.status != 403 || !strings.Contains(string(r.body), "跨站") || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("cross-site form: %d %s", r.status, r.body)
	}
	// Same origin, and clients that send neither header (curl, scripts), pass.
	if r := c.do("POST", "/api/v1/session", login, "Sec-Fetch-Site", "same-origin"); r.status != 200 {
		t.Fatalf("same-origin POST: %d %s", r.status, r.body)
	}
	if r := c.do("POST", "/api/v1/session", login, "Origin", e.ts.URL); r.status != 200 {
		t.Fatalf("POST with our Origin: %d %s", r.status, r.body)
	}
	// Unsafe methods other than POST are covered too; safe ones are not.
	if r := c.do("DELETE", "/api/v1/session", nil, "Sec-Fetch-Site", "cross-site"); r.status != 403 {
		t.Fatalf("cross-site DELETE: %d", r.status)
	}
	if r := c.do("GET", "/api/v1/me", nil, "Sec-Fetch-Site", "cross-site"); r.status != 200 {
		t.Fatalf("cross-site GET: %d", r.status)
	}
}

func TestSessionFixation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		// The attacker's own valid session, planted in the victim's browser.
		_, attacker, err := e.auth.Login(ctx, "u-expert", testPassword, "", e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, planted := range []string{attacker.ID, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			c := e.client()
			c.http.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: e.srv.cookieName(), Value: planted, Path: "/"}})
			c.login(auth.RoleFinance)
			got := c.sessionCookie()
			if got == "" || got == planted {
				t.Fatalf("login kept the planted session id %q", planted)
			}
			if _, _, err := e.auth.Lookup(ctx, planted, e.clock.Now()); !apperr.Is(err, apperr.Unauthorized) {
				t.Fatalf("the planted session still works after login: %v", err)
			}
			var me SessionResponse
			c.do("GET", "/api/v1/me", nil).json(t, &me)
			if me.User.Role != auth.RoleFinance {
				t.Fatalf("after login the browser is %+v", me.User)
			}
		}
		// The page login behaves the same.
		c := e.client()
		c.http.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: e.srv.cookieName(), Value: "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", Path: "/"}})
		r := c.form("/login", map[string]string{"login": "u-reviewer", "password": testPassword, "next": "/account"})
		if r.status != 303 || r.header.Get("Location") != "/account" {
			t.Fatalf("page login: %d %s", r.status, r.header.Get("Location"))
		}
		if got := c.sessionCookie(); got == "" || strings.HasPrefix(got, "BBBB") {
			t.Fatalf("page login kept the planted id: %q", got)
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client()
		c.login(auth.RoleReviewer)
		e.clock.Add(29 * time.Minute)
		if r := c.do("GET", "/api/v1/me", nil); r.status != 200 {
			t.Fatalf("at 29 min: %d", r.status)
		}
		e.clock.Add(30 * time.Minute)
		r := c.do("GET", "/api/v1/me", nil)
		if r.status != 401 {
			t.Fatalf("idle 30 min: %d %s", r.status, r.body)
		}
		if !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("expired cookie not cleared: %q", r.header.Get("Set-Cookie"))
		}
		// In constant use, a session still ends 12 hours after login.
		c = e.client()
		c.login(auth.RoleReviewer)
		start := e.clock.Now()
		for e.clock.Now().Before(start.Add(12*time.Hour - 20*time.Minute)) {
			e.clock.Add(20 * time.Minute)
			if r := c.do("GET", "/api/v1/me", nil); r.status != 200 {
				t.Fatalf("active session ended after %s: %d", e.clock.Now().Sub(start), r.status)
			}
		}
		e.clock.Add(20 * time.Minute)
		if r := c.do("GET", "/api/v1/me", nil); r.status != 401 {
			t.Fatalf("session alive after 12 h: %d", r.status)
		}
		// A page visit with an expired session is sent to log in again.
		r = c.do("GET", "/account", nil)
		if r.status != 303 || !strings.HasPrefix(r.header.Get("Location"), "/login?next=%2Faccount") {
			t.Fatalf("expired page visit: %d %q", r.status, r.header.Get("Location"))
		}
	})
}

func TestLogoutEverywhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		laptop, phone, other := e.client(), e.client(), e.client()
		laptop.login(auth.RoleFinance)
		phone.login(auth.RoleFinance)
		other.login(auth.RoleAdmin)
		if r := phone.do("DELETE", "/api/v1/sessions", nil); r.status != 204 {
			t.Fatalf("logout everywhere: %d %s", r.status, r.body)
		}
		for name, c := range map[string]*client{"laptop": laptop, "phone": phone} {
			if r := c.do("GET", "/api/v1/me", nil); r.status != 401 {
				t.Errorf("%s still signed in: %d", name, r.status)
			}
		}
		if r := other.do("GET", "/api/v1/me", nil); r.status != 200 {
			t.Fatalf("another user was signed out: %d", r.status)
		}
		// The same from the account page.
		laptop.login(auth.RoleFinance)
		phone.login(auth.RoleFinance)
		if r := laptop.form("/account/logout-everywhere", nil); r.status != 303 {
			t.Fatalf("page logout everywhere: %d", r.status)
		}
		if r := phone.do("GET", "/api/v1/me", nil); r.status != 401 {
			t.Fatalf("phone still signed in: %d", r.status)
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		c := e.client()
		for i := 1; i <= 5; i++ {
			r := c.do("POST", "/api/v1/session", LoginRequest{Login: "u-admin", Password: fmt.Sprintf("guess number %d", i)})
			if r.status != 401 {
				t.Fatalf("failure %d: %d", i, r.status)
			}
		}
		r := c.do("POST", "/api/v1/session", LoginRequest{Login: "u-admin", Password: testPassword})
		if r.status != 429 || r.errBody(t).Code != "rate_limited" || r.header.Get("Retry-After") != "1" {
			t.Fatalf("after 5 failures: %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		if !strings.Contains(r.errBody(t).Message, "秒后再试") {
			t.Fatalf("message %q", r.errBody(t).Message)
		}
		// The login page shows the same refusal.
		r = c.form("/login", map[string]string{"login": "u-admin", "password": testPassword})
		if r.status != 429 || !strings.Contains(string(r.body), "秒后再试") {
			t.Fatalf("page login while throttled: %d", r.status)
		}
		e.clock.Add(time.Second)
		if r := c.do("POST", "/api/v1/session", LoginRequest{Login: "u-admin", Password: testPassword}); r.status != 200 {
			t.Fatalf("after the delay: %d %s", r.status, r.body)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	c := e.client()
	for _, path := range []string{"/", "/calculator", "/api/v1/policy", "/api/v1/me", "/no/such/page", "/api/v1/nothing"} {
		r := c.do("GET", path, nil)
		h := r.header
		if h.Get("Content-Security-Policy") != "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'" {
			t.Errorf("%s: CSP %q", path, h.Get("Content-Security-Policy"))
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q", path, k, h.Get(k))
			}
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", path)
		}
		if len(h.Get("X-Request-Id")) < 8 {
			t.Errorf("%s: no request id", path)
		}
	}
	// Pages carry no inline script: every <script> has a src on this site.
	r := c.do("GET", "/", nil)
	for _, tag := range strings.Split(string(r.body), "<script")[1:] {
		if !strings.Contains(tag[:strings.Index(tag, ">")], `src="/static/`) {
			t.Errorf("inline or foreign script: <script%s", tag[:strings.Index(tag, ">")+1])
		}
	}
	if strings.Contains(string(r.body), "http://") || strings.Contains(string(r.body), "https://") {
		t.Error("a page refers to another site")
	}
	// With TLS, HSTS.
	tlsEnv := newEnv(t, storetest.New(t, store.SQLite), func(c *Config) { c.TLS = true; c.SecureCookies = true })
	if r := tlsEnv.client().do("GET", "/", nil); !strings.HasPrefix(r.header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HSTS with TLS: %q", r.header.Get("Strict-Transport-Security"))
	}
	// A sane incoming request id is kept, an odd one replaced.
	if r := c.do("GET", "/healthz", nil, "X-Request-Id", "lb-12345678"); r.header.Get("X-Request-Id") != "lb-12345678" {
		t.Errorf("request id not kept: %q", r.header.Get("X-Request-Id"))
	}
	if r := c.do("GET", "/healthz", nil, "X-Request-Id", "bad id\twith <tags>"); strings.ContainsAny(r.header.Get("X-Request-Id"), " <\t") {
		t.Errorf("odd request id echoed: %q", r.header.Get("X-Request-Id"))
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	for _, secure := range []bool{true, false} {
		e := newEnv(t, db, func(c *Config) { c.SecureCookies = secure })
		r := e.client().do("POST", "/api/v1/session", LoginRequest{Login: "u-admin", Password: testPassword})
		sc := r.header.Get("Set-Cookie")
		want := []string{"HttpOnly", "SameSite=Lax", "Path=/"}
		if secure {
			want = append(want, "__Host-pd_session=", "Secure")
		} else {
			want = append(want, "pd_session=")
			if strings.Contains(sc, "Secure") || strings.Contains(sc, "__Host-") {
				t.Errorf("plain-HTTP cookie is Secure: %s", sc)
			}
		}
		for _, w := range want {
			if !strings.Contains(sc, w) {
				t.Errorf("secure=%v: Set-Cookie %q lacks %q", secure, sc, w)
			}
		}
		if strings.Contains(sc, "Domain=") || strings.Contains(sc, "Max-Age") || strings.Contains(sc, "Expires") {
			t.Errorf("session cookie should be host-only and end with the browser: %s", sc)
		}
		db = storetest.New(t, store.SQLite) // newEnv adds its users to a fresh database
	}
}

// badBodies are sent to every JSON route: each must be refused with a 4xx
// and a code, never a 500.
var badBodies = []struct {
	name, ct string
	body     string
	status   int
}{
	{"wrong content type", "text/plain", `{}`, 415},
	{"form content type", "application/x-www-form-urlencoded", `a=b`, 415},
	{"other charset", "application/json; charset=gbk", `{}`, 415},
	{"no content type", "", `{}`, 415},
	{"empty", "application/json", ``, 400},
	{"unknown field", "application/json", `{"nope": 1}`, 400},
	{"deep", "application/json", strings.Repeat("[", 33) + strings.Repeat("]", 33), 400},
	{"deeper object", "application/json", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), 400},
	{"invalid UTF-8", "application/json", "{\"login\": \"\xff\xfe\"}", 400},
	{"trailing data", "application/json", `{} {}`, 400},
	{"truncated", "application/json", `{"login": "a`, 400},
	{"wrong type", "application/json", `{"login": 5}`, 400},
	{"array", "application/json", `[1,2,3]`, 400},
	{"too large", "application/json", `{"login": "` + strings.Repeat("x", 2<<20) + `"}`, 413},
}

func TestBadBodiesEverywhere(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	ctx := context.Background()
	for _, rt := range e.srv.Routes() {
		if !rt.API() || rt.Method == "GET" || rt.Request == nil {
			continue
		}
		for _, b := range badBodies {
			c := e.client()
			_, sess, err := e.auth.Login(ctx, "u-admin", testPassword, "", e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			c.http.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: e.srv.cookieName(), Value: sess.ID, Path: "/"}})
			req, _ := http.NewRequest(rt.Method, e.ts.URL+concretePath(rt.Pattern), strings.NewReader(b.body))
			if b.ct != "" {
				req.Header.Set("Content-Type", b.ct)
			}
			res, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var r resp
			r.status, r.header = res.StatusCode, res.Header
			buf := make([]byte, 64<<10)
			n, _ := res.Body.Read(buf)
			res.Body.Close()
			r.body = buf[:n]
			if r.status != b.status {
				t.Errorf("%s with %s: %d, want %d: %s", rt.Key(), b.name, r.status, b.status, r.body)
				continue
			}
			if eb := r.errBody(t); eb.Code == "internal" {
				t.Errorf("%s with %s: code internal", rt.Key(), b.name)
			}
		}
	}
	// Injection-looking strings are data, not code.
	c := e.client()
	for _, s := range []string{`' OR '1'='1`, `admin'--`, `../../etc/passwd`, "\u0000", `<script>alert(1)</script>`} {
		r := c.do("POST", "/api/v1/session", LoginRequest{Login: s, Password: s})
		if r.status != 401 && r.status != 400 {
			t.Errorf("login %q: %d %s", s, r.status, r.body)
		}
	}
	r := c.do("GET", "/static/../../go.mod", nil)
	if r.status == 200 {
		t.Error("path traversal served a file")
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{apperr.New(apperr.Invalid, "无效", "invalid"), 400, "invalid"},
		{apperr.New(apperr.Unauthorized, "x", "x"), 401, "unauthorized"},
		{apperr.New(apperr.Forbidden, "x", "x"), 403, "forbidden"},
		{apperr.New(apperr.NotFound, "x", "x"), 404, "not_found"},
		{apperr.New(apperr.Conflict, "x", "x"), 409, "conflict"},
		{apperr.New(apperr.InsufficientFunds, "x", "x"), 409, "insufficient_funds"},
		{apperr.New(apperr.ExceedsCap, "x", "x"), 409, "exceeds_cap"},
		{apperr.New(apperr.TooLarge, "x", "x"), 413, "too_large"},
		{apperr.New(apperr.UnsupportedMedia, "x", "x"), 415, "unsupported_media"},
		{apperr.New(apperr.RateLimited, "x", "x"), 429, "rate_limited"},
		{apperr.New(apperr.Unavailable, "x", "x"), 503, "unavailable"},
		{fmt.Errorf("wrapped: %w", apperr.New(apperr.Conflict, "x", "x")), 409, "conflict"},
		{apperr.New(apperr.Internal, "内部细节", "detail"), 500, "internal"},
		{&policy.InputError{Code: policy.CodeInvalidMoney, Message: "金额", Path: "claims[0]"}, 400, "invalid_money"},
		{&ledger.Error{Code: ledger.CodeInsufficientFunds, Message: "余额不足"}, 409, "insufficient_funds"},
		{&ledger.Error{Code: ledger.CodeExceedsCap, Message: "超出限额"}, 409, "exceeds_cap"},
		{&ledger.Error{Code: ledger.CodeInvalid, Message: "无效"}, 400, "invalid"},
		{&ledger.Error{Code: ledger.CodeNotFound, Message: "x"}, 404, "not_found"},
		{&ledger.Error{Code: ledger.CodeAlreadyResolved, Message: "x"}, 409, "already_resolved"},
		{&ledger.Error{Code: ledger.CodeInternal, Message: "x"}, 500, "internal"},
		{errors.New("disk on fire at /var/lib/secret"), 500, "internal"},
		{context.DeadlineExceeded, 503, "unavailable"},
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "22021", Message: "invalid byte sequence for encoding \"UTF8\": 0x00"}), 400, "invalid"},
		{&pgconn.PgError{Code: "22P05"}, 400, "invalid"},
		{&pgconn.PgError{Code: "53100", Message: "could not extend file"}, 507, "unavailable"},
		{&pgconn.PgError{Code: "23505"}, 500, "internal"},
	}
	for _, c := range cases {
		st, body, _ := classify(c.err)
		if st != c.status || body.Code != c.code || body.Message == "" {
			t.Errorf("classify(%v) = %d %+v, want %d %s", c.err, st, body, c.status, c.code)
		}
		if st == 500 && (strings.Contains(body.Message, "secret") || strings.Contains(body.Message, "内部细节")) {
			t.Errorf("internal detail shown: %+v", body)
		}
	}
}

func TestPanicsAndMethods(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	e.srv.Handle(Route{Method: "GET", Pattern: "/api/v1/test/panic", Public: true, Summary: "test", Tag: "test",
		Handler: func(http.ResponseWriter, *http.Request, auth.Principal) error { panic("boom at /secret/path") }})
	e.srv.Handle(Route{Method: "GET", Pattern: "/test/fail", Public: true, Summary: "test",
		Handler: func(http.ResponseWriter, *http.Request, auth.Principal) error { return errors.New("db password wrong") }})
	c := e.client()
	r := c.do("GET", "/api/v1/test/panic", nil)
	eb := r.errBody(t)
	if r.status != 500 || eb.Code != "internal" || strings.Contains(string(r.body), "boom") || eb.RequestID != r.header.Get("X-Request-Id") {
		t.Fatalf("panic: %d %s", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), "boom at /secret/path") || !strings.Contains(e.logs.String(), eb.RequestID) {
		t.Fatal("panic not logged with its request id")
	}
	r = c.do("GET", "/test/fail", nil)
	if r.status != 500 || !strings.Contains(string(r.body), "服务器") || strings.Contains(string(r.body), "password") {
		t.Fatalf("page failure: %d %s", r.status, r.body)
	}
	// The server keeps serving.
	if r := c.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatal("server broken after a panic")
	}
	r = c.do("PUT", "/api/v1/me", "{}")
	if r.status != 405 || r.errBody(t).Code != "method_not_allowed" || r.header.Get("Allow") == "" {
		t.Fatalf("PUT /api/v1/me: %d %q %s", r.status, r.header.Get("Allow"), r.body)
	}
	r = c.do("GET", "/api/v1/nothing/here", nil)
	if r.status != 404 || r.errBody(t).Code != "not_found" {
		t.Fatalf("unknown API path: %d %s", r.status, r.body)
	}
	r = c.do("GET", "/nothing/here", nil)
	if r.status != 404 || !strings.Contains(string(r.body), "页面不存在") {
		t.Fatalf("unknown page: %d", r.status)
	}
}

func TestClientIP(t *testing.T) {
	s := &Server{}
	r := httptestRequest("203.0.113.9:5555", "X-Real-IP", "198.51.100.1")
	if got := s.clientIP(r); got != "203.0.113.9" {
		t.Fatalf("without a configured header: %s", got)
	}
	s.cfg.ClientIPHeader = "X-Real-IP"
	if got := s.clientIP(r); got != "198.51.100.1" {
		t.Fatalf("with X-Real-IP: %s", got)
	}
	if got := s.clientIP(httptestRequest("203.0.113.9:5555", "X-Real-IP", "not an address")); got != "203.0.113.9" {
		t.Fatalf("garbage header: %s", got)
	}
}

func httptestRequest(remote string, hdr ...string) *http.Request {
	r, _ := http.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}
