package deskapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/audit"
	"policydesk/auth"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/uscc"
	"policydesk/web"
	"policydesk/web/deskapi"
)

func TestMain(m *testing.M) {
	auth.SetParams(auth.TestParams)
	os.Exit(m.Run())
}

const password = "correct horse battery"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t     *testing.T
	ts    *httptest.Server
	srv   *web.Server
	svc   *desk.Service
	led   *ledger.Ledger
	db    *store.DB
	clock *clock
	users map[string]auth.User // by login
}

var cst = time.FixedZone("CST", 8*3600)

// newEnv boots the server with the workflow's routes and users: admin,
// two finance users, a reviewer of 资讯技术产业局 and one of 经济发展局,
// four experts and two enterprises.
func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2025, 6, 2, 9, 0, 0, 0, cst)}
	b, err := policy.Load(policies.Default())
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	as := auth.NewStoreWithOptions(db, auth.Options{Now: clk.Now, RequestID: web.RequestID, ValidDepartment: func(id string) bool { return b.Department(id) != nil }})
	e := &env{t: t, db: db, led: led, clock: clk, users: map[string]auth.User{}}
	admin := auth.NewContext(ctx, auth.Principal{UserID: "setup", Role: auth.RoleAdmin})
	add := func(login string, role auth.Role, ent, dept string) {
		u, err := as.AddUser(admin, nil, auth.User{Login: login, Name: login, Role: role, Enterprise: ent, Department: dept}, password)
		if err != nil {
			t.Fatal(err)
		}
		e.users[login] = u
	}
	add("admin", auth.RoleAdmin, "", "")
	add("fin1", auth.RoleFinance, "", "")
	add("fin2", auth.RoleFinance, "", "")
	add("rev", auth.RoleReviewer, "", "info_tech")
	add("rev-ed", auth.RoleReviewer, "", "econ_dev")
	for i := 1; i <= 4; i++ {
		add(fmt.Sprintf("exp%d", i), auth.RoleExpert, "", "")
	}
	add("ent", auth.RoleEnterprise, entA, "")
	add("ent-b", auth.RoleEnterprise, entB, "")
	svc, err := desk.New(db, led, b, desk.Options{Now: clk.Now, Key: []byte("0123456789abcdef"),
		Experts: func(context.Context) ([]string, error) {
			return []string{e.users["exp1"].ID, e.users["exp2"].ID, e.users["exp3"].ID, e.users["exp4"].ID}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Now: clk.Now, Version: "test"}, web.Deps{DB: db, Bundle: b, Auth: as, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	deskapi.Register(srv, svc)
	e.srv, e.svc = srv, svc
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

var (
	entA = uscc.Complete("91110302MA0000A01")
	entB = uscc.Complete("91110302MA0000B02")
)

type client struct {
	e    *env
	http *http.Client
}

func (e *env) as(login string) *client {
	jar, _ := cookiejar.New(nil)
	c := &client{e: e, http: &http.Client{Jar: jar}}
	if login != "" {
		r := c.do("POST", "/api/v1/session", map[string]string{"login": login, "password": password})
		if r.status != 200 {
			e.t.Fatalf("login %s: %d %s", login, r.status, r.body)
		}
	}
	return c
}

type resp struct {
	status int
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("not JSON (%d): %s", r.status, r.body)
	}
}

func (r resp) code() string {
	var e struct{ Error struct{ Code string } }
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (c *client) do(method, path string, body any, hdr ...string) resp {
	c.e.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, c.e.ts.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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
	return resp{status: res.StatusCode, body: data}
}

func (c *client) upload(path, kind, filename string, data []byte) resp {
	c.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("kind", kind)
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: body}
}

func (c *client) ok(method, path string, body any, v any, hdr ...string) {
	c.e.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.status/100 != 2 {
		c.e.t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
	}
	if v != nil {
		r.decode(c.e.t, v)
	}
}

func want(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("want %d %s, got %d %s", status, code, r.status, r.body)
	}
}

var pdf = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

// TestWorkflowOverHTTP is issue 4's proof: a compute voucher applied for,
// returned for 补正, resubmitted, accepted, reviewed by three experts (one
// recuses), proposed, publicized, objected to and the objection resolved,
// approved, batched and paid — through the API — and the ledger and the
// audit chain verify at the end.
func TestWorkflowOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		admin, ent, entB, rev, other := e.as("admin"), e.as("ent"), e.as("ent-b"), e.as("rev"), e.as("rev-ed")
		fin1, fin2, public := e.as("fin1"), e.as("fin2"), e.as("")
		admin.ok("POST", "/api/v1/pools/fund", nil, nil)
		admin.ok("POST", "/api/v1/rounds", deskapi.RoundRequest{Name: "2025年第一批", Items: []string{"compute_voucher"}, Opens: "2025-05-01", Closes: "2025-06-30"}, nil)
		want(t, ent.do("POST", "/api/v1/rounds", deskapi.RoundRequest{Name: "x"}), 403, "forbidden")

		ent.ok("POST", "/api/v1/enterprises", deskapi.EnterpriseRequest{USCC: entA, Name: "北京亦庄智算科技有限公司"}, nil)
		want(t, ent.do("POST", "/api/v1/enterprises", deskapi.EnterpriseRequest{USCC: "91110302MA01AB3C7X", Name: "x"}), 400, "invalid")
		ent.ok("PUT", "/api/v1/enterprises/"+entA+"/bank-account", deskapi.BankAccountRequest{BankName: "北京银行", BankAccount: "20000012345678"}, nil)
		ent.ok("POST", "/api/v1/enterprises/"+entA+"/facts", map[string]any{"source": "self_declared", "as_of": "2025-01-01",
			"facts": map[string]any{"in_etown": true, "serious_dishonesty_listed": false, "penalties": []any{}}}, nil)
		// The bank account: masked for the enterprise, full for finance, hidden from another enterprise.
		var seen desk.Enterprise
		ent.ok("GET", "/api/v1/enterprises/"+entA, nil, &seen)
		if seen.BankFull != "" || seen.BankMasked != "****5678" {
			t.Fatalf("enterprise view of its account: %+v", seen)
		}
		fin1.ok("GET", "/api/v1/enterprises/"+entA, nil, &seen)
		if seen.BankFull != "20000012345678" {
			t.Fatalf("finance view: %+v", seen)
		}
		want(t, entB.do("GET", "/api/v1/enterprises/"+entA, nil), 404, "not_found")

		var app desk.Application
		ent.ok("POST", "/api/v1/applications", deskapi.ApplicationRequest{Item: "compute_voucher", Facts: map[string]json.RawMessage{"year": json.RawMessage("2025"), "compute_fees": json.RawMessage(`"5000000"`)}}, &app)
		base := "/api/v1/applications/" + app.ID
		for _, m := range []string{"contract", "settlement", "payment_proof"} {
			if r := ent.upload(base+"/materials", m, m+".pdf", append(append([]byte{}, pdf...), m...)); r.status != 201 {
				t.Fatalf("upload %s: %d %s", m, r.status, r.body)
			}
		}
		want(t, ent.upload(base+"/materials", "contract", "virus.exe", []byte("MZ\x90\x00")), 415, "unsupported_media")
		want(t, entB.upload(base+"/materials", "contract", "c.pdf", pdf), 404, "not_found")
		ent.ok("POST", base+"/commitment", nil, nil)
		var sub1, sub2 desk.Application
		ent.ok("POST", base+"/submit", nil, &sub1, "Idempotency-Key", "submit-1")
		ent.ok("POST", base+"/submit", nil, &sub2, "Idempotency-Key", "submit-1")
		if sub1.State != "submitted" || sub2.Version != sub1.Version || sub1.Allowed != 1_500_000_00 {
			t.Fatalf("submit: %+v / %+v", sub1.State, sub2.Version)
		}
		want(t, ent.do("POST", base+"/accept", nil), 403, "forbidden")
		want(t, other.do("POST", base+"/accept", nil), 404, "not_found")
		want(t, entB.do("GET", base, nil), 404, "not_found")

		rev.ok("POST", base+"/return", deskapi.MessageRequest{Message: "请补充结算单"}, nil)
		ent.ok("PUT", base+"/facts", deskapi.ApplicationFactsRequest{Facts: map[string]json.RawMessage{"year": json.RawMessage("2025"), "compute_fees": json.RawMessage(`"6000000"`)}}, nil)
		ent.ok("POST", base+"/submit", nil, nil)
		rev.ok("POST", base+"/accept", deskapi.MessageRequest{Message: "材料齐全"}, nil)

		exp := func(i int) string { return e.users[fmt.Sprintf("exp%d", i)].ID }
		rev.ok("POST", base+"/panel", deskapi.PanelRequest{Experts: []string{exp(1), exp(2), exp(3)}}, nil)
		e1, e2, e3, e4 := e.as("exp1"), e.as("exp2"), e.as("exp3"), e.as("exp4")
		var redacted desk.Application
		e1.ok("GET", base, nil, &redacted)
		if len(redacted.Facts) != 0 || redacted.USCC != "" {
			t.Fatalf("an expert saw the application before declaring: %+v", redacted)
		}
		want(t, e1.do("POST", base+"/score", deskapi.ScoreRequest{Scores: map[string]int{"a": 80}, Amount: 1}), 409, "conflict")
		e3.ok("POST", base+"/declaration", deskapi.DeclarationRequest{Conflict: true, Note: "曾任该企业顾问"}, nil)
		amounts := map[*client]int64{e1: 1_600_000_00, e2: 1_700_000_00, e4: 1_500_000_00}
		for _, c := range []*client{e1, e2, e4} { // exp4 is the one drawn to replace exp3
			c.ok("POST", base+"/declaration", deskapi.DeclarationRequest{}, nil)
			c.ok("POST", base+"/score", map[string]any{"scores": map[string]int{"必要性": 80}, "amount": fmt.Sprintf("%d.%02d", amounts[c]/100, amounts[c]%100)}, nil)
		}
		var prop desk.Application
		rev.ok("POST", base+"/consolidate", deskapi.MessageRequest{Message: "专家组意见"}, &prop)
		if prop.State != "proposed" || prop.Proposed != 1_600_000_00 {
			t.Fatalf("proposed: %s %d", prop.State, prop.Proposed)
		}

		var pub desk.Publicity
		rev.ok("POST", "/api/v1/publicity", deskapi.PublishRequest{Title: "算力券拟支持名单", IDs: []string{app.ID}}, &pub)
		var list desk.Publicity
		public.ok("GET", "/api/v1/publicity/"+pub.ID, nil, &list)
		if len(list.Entries) != 1 || list.Entries[0].Amount != 1_600_000_00 {
			t.Fatalf("public 公示 list: %+v", list)
		}
		var obj desk.Objection
		public.ok("POST", base+"/objections", deskapi.ObjectionRequest{Name: "张三", Contact: "13800000000", Text: "结算单可能重复计算,请核查。"}, &obj)
		var objs []desk.Objection
		rev.ok("GET", base+"/objections", nil, &objs)
		if len(objs) != 1 || objs[0].Contact != "13800000000" {
			t.Fatalf("objections: %+v", objs)
		}
		rev.ok("POST", "/api/v1/objections/"+obj.ID+"/resolution", deskapi.ResolutionRequest{Resolution: "经核查无重复"}, nil)
		e.clock.Set(time.Date(2025, 6, 10, 9, 0, 0, 0, cst))
		want(t, public.do("POST", base+"/objections", deskapi.ObjectionRequest{Name: "李四", Contact: "1", Text: "公示期结束后的异议不应受理。"}), 409, "conflict")
		if n, _, err := e.svc.CloseWindows(context.Background()); err != nil || n != 1 {
			t.Fatalf("scheduler: %d %v", n, err)
		}
		// A week later the sessions have expired: sign in again.
		fin1, fin2, ent, admin = e.as("fin1"), e.as("fin2"), e.as("ent"), e.as("admin")

		var batch desk.Batch
		fin1.ok("POST", "/api/v1/batches", deskapi.BatchRequest{IDs: []string{app.ID}}, &batch)
		want(t, fin1.do("POST", "/api/v1/batches/"+batch.ID+"/approval", map[string]any{"count": 1, "total": "1600000.00"}), 403, "forbidden")
		want(t, fin2.do("POST", "/api/v1/batches/"+batch.ID+"/approval", map[string]any{"count": 1, "total": "1600000.01"}), 409, "conflict")
		fin2.ok("POST", "/api/v1/batches/"+batch.ID+"/approval", map[string]any{"count": 1, "total": "1600000.00"}, nil)
		r := fin1.do("GET", "/api/v1/batches/"+batch.ID+"/xlsx", nil)
		if r.status != 200 || !bytes.HasPrefix(r.body, []byte("PK")) {
			t.Fatalf("xlsx export: %d", r.status)
		}
		var paid desk.Application
		fin1.ok("POST", "/api/v1/batches/"+batch.ID+"/payments/"+app.ID, deskapi.PaymentRequest{Paid: true, BankRef: "BOB20250610001"}, &paid)
		if paid.State != "paid" || paid.Paid != 1_600_000_00 {
			t.Fatalf("paid: %s %d", paid.State, paid.Paid)
		}
		var tl []desk.Event
		ent.ok("GET", base+"/timeline", nil, &tl)
		if tl[len(tl)-1].To != "paid" {
			t.Fatalf("timeline ends with %s", tl[len(tl)-1].To)
		}
		if rep, err := e.led.Verify(context.Background()); err != nil || !rep.OK() {
			t.Fatalf("ledger verify: %v %+v", err, rep)
		}
		var av audit.Report
		admin.ok("GET", "/api/v1/audit/verify", nil, &av)
		if !av.OK() || av.Rows < 30 {
			t.Fatalf("audit verify: %+v", av)
		}
		var rows []audit.Row
		admin.ok("GET", "/api/v1/audit?entity=application&entity_id="+app.ID, nil, &rows)
		if len(rows) < 10 {
			t.Fatalf("audit rows of the application: %d", len(rows))
		}
	})
}

// TestRouteRoleMatrix calls every workflow route as every role (and as a
// visitor): a role the route does not declare gets 401/403 before any
// handler runs; a declared role never does.
func TestRouteRoleMatrix(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	e := newEnv(t, db)
	logins := map[auth.Role]string{auth.RoleAdmin: "admin", auth.RoleFinance: "fin1", auth.RoleReviewer: "rev", auth.RoleExpert: "exp1", auth.RoleEnterprise: "ent"}
	clients := map[auth.Role]*client{"": e.as("")}
	for role, login := range logins {
		clients[role] = e.as(login)
	}
	n := 0
	for _, rt := range e.srv.Routes() {
		if !strings.HasPrefix(rt.Pattern, "/api/v1/") || strings.HasPrefix(rt.Pattern, "/api/v1/session") {
			continue
		}
		if !rt.Declared() {
			t.Errorf("%s has no permission decision", rt.Key())
		}
		path := strings.NewReplacer("{id}", "x0", "{uscc}", entA, "{mid}", "m0", "{app}", "a0").Replace(rt.Pattern)
		for role, c := range clients {
			r := c.do(rt.Method, path, map[string]any{})
			p := auth.Principal{UserID: "u", Role: role}
			if role == "" {
				p = auth.Principal{}
			}
			allowed := rt.Allows(p)
			refused := r.status == 401 || r.status == 403 && (r.code() == "unauthorized" || r.code() == "forbidden")
			if !allowed && !refused {
				t.Errorf("%s as %q: %d, want 401/403", rt.Key(), role, r.status)
			}
			if allowed && (r.status == 401 || r.status == 500) {
				t.Errorf("%s as %q: %d %s", rt.Key(), role, r.status, r.body)
			}
			n++
		}
	}
	if n < 200 {
		t.Fatalf("only %d route × role calls", n)
	}
}
