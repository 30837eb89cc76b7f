package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"policydesk/auth"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
)

func TestMain(m *testing.M) {
	auth.SetParams(auth.TestParams)
	os.Exit(m.Run())
}

var (
	bundleOnce sync.Once
	bundleVal  *policy.Bundle
	bundleErr  error
)

func testBundle(t testing.TB) *policy.Bundle {
	bundleOnce.Do(func() { bundleVal, bundleErr = policy.Load(policies.Default()) })
	if bundleErr != nil {
		t.Fatal(bundleErr)
	}
	return bundleVal
}

// clock is a settable clock shared by the server and the auth store.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) Now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Add(d time.Duration) {
	c.ns.Add(int64(d))
}

const testPassword = "correct horse battery"

// env is a running test server with one user per role.
type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	auth  *auth.Store
	db    *store.DB
	clock *clock
	users map[auth.Role]auth.User
	logs  *bytes.Buffer
}

var t0 = time.Date(2025, 6, 30, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, db *store.DB, mods ...func(*Config)) *env {
	t.Helper()
	clk := newClock(t0)
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil))
	b := testBundle(t)
	as := auth.NewStoreWithOptions(db, auth.Options{Now: clk.Now, RequestID: RequestID,
		ValidDepartment: func(id string) bool { return b.Department(id) != nil }})
	cfg := Config{Now: clk.Now, Version: "test"}
	for _, m := range mods {
		m(&cfg)
	}
	srv, err := New(cfg, Deps{DB: db, Bundle: b, Auth: as, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &env{t: t, srv: srv, ts: ts, auth: as, db: db, clock: clk, users: map[auth.Role]auth.User{}, logs: logs}
	ctx := auth.NewContext(context.Background(), auth.Principal{UserID: "test", Role: auth.RoleAdmin})
	for _, r := range auth.Roles() {
		u := auth.User{Login: "u-" + string(r), Name: "测试" + r.Label(), Role: r}
		switch r {
		case auth.RoleEnterprise, auth.RoleProvider:
			u.Enterprise = "91110302MA01AB3C7G"
		case auth.RoleReviewer:
			u.Department = "info_tech"
		}
		got, err := as.AddUser(ctx, nil, u, testPassword)
		if err != nil {
			t.Fatal(err)
		}
		e.users[r] = got
	}
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// client is a browser or API client with its own cookies.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer is not JSON (%d): %v\n%s", r.status, err, r.body)
	}
}

// errBody decodes an API error answer.
func (r resp) errBody(t *testing.T) ErrorBody {
	t.Helper()
	var e ErrorResponse
	r.json(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" {
		t.Fatalf("error answer lacks code, message or request id: %s", r.body)
	}
	return e.Error
}

// do sends a request. body may be nil, a string (sent as is) or a value
// (sent as JSON). hdr are header pairs.
func (c *client) do(method, path string, body any, hdr ...string) resp {
	c.e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		ct = "application/json"
	case []byte:
		rd = bytes.NewReader(b)
		ct = "application/json"
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, c.e.ts.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// form posts an HTML form.
func (c *client) form(path string, vals map[string]string, hdr ...string) resp {
	c.e.t.Helper()
	v := url.Values{}
	for k, x := range vals {
		v.Set(k, x)
	}
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: data}
}

// login signs the client in through the API.
func (c *client) login(role auth.Role) {
	c.e.t.Helper()
	r := c.do("POST", "/api/v1/session", LoginRequest{Login: "u-" + string(role), Password: testPassword})
	if r.status != http.StatusOK {
		c.e.t.Fatalf("login as %s: %d %s", role, r.status, r.body)
	}
}

// sessionCookie returns the client's session cookie value ("" if none).
func (c *client) sessionCookie() string {
	u, _ := http.NewRequest("GET", c.e.ts.URL, nil)
	for _, ck := range c.http.Jar.Cookies(u.URL) {
		if ck.Name == c.e.srv.cookieName() {
			return ck.Value
		}
	}
	return ""
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// waitDraining waits until Run has begun its shutdown.
func waitDraining(t *testing.T, s *Server) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if s.draining.Load() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("server did not begin draining")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func newTestServer(t *testing.T, s *Server) *httptest.Server {
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}
