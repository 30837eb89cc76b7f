package portal_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/auth"
	"policydesk/calendar"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/uscc"
	"policydesk/web"
	"policydesk/web/deskapi"
	"policydesk/web/portal"
)

func TestMain(m *testing.M) {
	auth.SetParams(auth.TestParams)
	os.Exit(m.Run())
}

const password = "correct horse battery"

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

// clock is the workflow's clock: tests move it past a 公示 window. Sessions
// run on the real clock, so that moving days ahead signs nobody out.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var cst = time.FixedZone("CST", 8*3600)

// start is a Monday inside the policy's term.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, cst)

var (
	entA = uscc.Complete("91110302MA0000A01")
	entB = uscc.Complete("91110302MA0000B02")
)

// env is a running server with the JSON API and the portal, and a user per
// part of the workflow.
type env struct {
	t     testing.TB
	db    *store.DB
	ts    *httptest.Server
	srv   *web.Server
	svc   *desk.Service
	led   *ledger.Ledger
	clock *clock
	users map[string]auth.User // by login
}

func newEnv(t testing.TB, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: start}
	b := testBundle(t)
	led, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	as := auth.NewStoreWithOptions(db, auth.Options{RequestID: web.RequestID, ValidDepartment: func(id string) bool { return b.Department(id) != nil }})
	e := &env{t: t, db: db, clock: clk, users: map[string]auth.User{}}
	admin := auth.NewContext(ctx, auth.Principal{UserID: "setup", Role: auth.RoleAdmin})
	add := func(login, name string, role auth.Role, ent, dept string) {
		u, err := as.AddUser(admin, nil, auth.User{Login: login, Name: name, Role: role, Enterprise: ent, Department: dept}, password)
		if err != nil {
			t.Fatal(err)
		}
		e.users[login] = u
	}
	add("admin", "平台管理员", auth.RoleAdmin, "", "")
	add("fin1", "财政 张会计", auth.RoleFinance, "", "")
	add("fin2", "财政 刘复核", auth.RoleFinance, "", "")
	add("rev", "信息技术产业局 李审核", auth.RoleReviewer, "", "info_tech")
	add("rev-ed", "经济发展局 周审核", auth.RoleReviewer, "", "econ_dev")
	for i := 1; i <= 3; i++ {
		add(fmt.Sprintf("exp%d", i), fmt.Sprintf("评审专家%d", i), auth.RoleExpert, "", "")
	}
	add("ent", "北京亦庄智算科技有限公司", auth.RoleEnterprise, entA, "")
	add("ent-b", "北京星河模型科技有限公司", auth.RoleEnterprise, entB, "")
	add("provider", "亦庄算力服务有限公司", auth.RoleProvider, entB, "")
	experts := func(context.Context) ([]string, error) {
		return []string{e.users["exp1"].ID, e.users["exp2"].ID, e.users["exp3"].ID}, nil
	}
	svc, err := desk.New(db, led, b, desk.Options{Now: clk.Now, Calendar: calendar.Default(), Key: []byte(testKey), Experts: experts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.FundPools(ctx, desk.System); err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Version: "test"}, web.Deps{DB: db, Bundle: b, Auth: as, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	deskapi.Register(srv, svc)
	if err := portal.Register(srv, svc, as, portal.Options{Now: clk.Now, DashboardTTL: dashboardTTL}); err != nil {
		t.Fatal(err)
	}
	e.srv, e.svc, e.led = srv, svc, led
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// seed adds the demo data set of n enterprises, made over the ten weeks
// before the start, by the env's users.
func (e *env) seed(n int) desk.DemoReport {
	e.t.Helper()
	actors := desk.DemoActors{Admin: e.users["admin"].ID, Reviewers: map[string]string{"info_tech": e.users["rev"].ID, "econ_dev": e.users["rev-ed"].ID},
		Experts: []string{e.users["exp1"].ID, e.users["exp2"].ID, e.users["exp3"].ID}, Finance: [2]string{e.users["fin1"].ID, e.users["fin2"].ID}}
	rep, err := desk.SeedDemo(context.Background(), e.db, e.led, e.svc.Bundle(), []byte(testKey), actors, n, start)
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

const testKey = "0123456789abcdef"

// dashboardTTL is how long the dashboard's figures are reused: not at all
// in tests, which check them after every change.
var dashboardTTL = -time.Nanosecond

// client is a browser without JavaScript: cookies, no redirects followed.
type client struct {
	e    *env
	http *http.Client
}

func (e *env) as(login string) *client {
	jar, _ := cookiejar.New(nil)
	c := &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if login != "" {
		r := c.post("/login", url.Values{"login": {login}, "password": {password}, "next": {"/desk"}})
		if r.status != http.StatusSeeOther {
			e.t.Fatalf("login %s: %d %s", login, r.status, r.body)
		}
	}
	return c
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (c *client) send(req *http.Request) resp {
	c.e.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: string(data)}
}

func (c *client) get(path string) resp {
	c.e.t.Helper()
	req, _ := http.NewRequest("GET", c.e.ts.URL+path, nil)
	return c.send(req)
}

// page gets a page that must answer 200.
func (c *client) page(path string) string {
	c.e.t.Helper()
	r := c.get(path)
	if r.status != http.StatusOK {
		c.e.t.Fatalf("GET %s: %d\n%s", path, r.status, r.body)
	}
	return r.body
}

func (c *client) post(path string, vals url.Values) resp {
	c.e.t.Helper()
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

// file is one file of a multipart form.
type file struct {
	field, name string
	data        []byte
}

func (c *client) multipart(path string, vals url.Values, files ...file) resp {
	c.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range vals {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile(f.field, f.name)
		w.Write(f.data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req)
}

// act posts a form and follows its redirect; it returns the page shown
// and the one-time message on it.
func (c *client) act(path string, vals url.Values, files ...file) (page, flash string) {
	c.e.t.Helper()
	var r resp
	if len(files) > 0 {
		r = c.multipart(path, vals, files...)
	} else {
		r = c.post(path, vals)
	}
	if r.status != http.StatusSeeOther {
		c.e.t.Fatalf("POST %s: %d, want a redirect\n%s", path, r.status, r.body)
	}
	loc := r.header.Get("Location")
	got := c.get(loc)
	if got.status != http.StatusOK {
		c.e.t.Fatalf("POST %s → %s: %d\n%s", path, loc, got.status, got.body)
	}
	return got.body, flashOf(got.body)
}

// flashOf returns the text of the page's one-time message, "" if none;
// an error message is prefixed with "error: ".
func flashOf(page string) string {
	for _, kind := range []string{"ok", "error"} {
		marker := `<div class="flash ` + kind + `"`
		i := strings.Index(page, marker)
		if i < 0 {
			continue
		}
		rest := page[i:]
		j := strings.Index(rest, ">")
		k := strings.Index(rest, "</div>")
		text := rest[j+1 : k]
		if kind == "error" {
			return "error: " + text
		}
		return text
	}
	return ""
}

// pdf is a minimal PDF, which the upload's type sniffing accepts.
func pdf(name string) []byte { return []byte("%PDF-1.4\n% " + name + "\n%%EOF\n") }
