package computeapi_test

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
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/audit"
	"policydesk/auth"
	"policydesk/compute"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/uscc"
	"policydesk/web"
	"policydesk/web/computeapi"
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

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var cst = time.FixedZone("CST", 8*3600)

func day(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", s, cst)
	if err != nil {
		panic(err)
	}
	return t.Add(9 * time.Hour)
}

var (
	entA   = uscc.Complete("91110302MA0000A01")
	entB   = uscc.Complete("91110302MA0000B02")
	prvA   = uscc.Complete("91110302MA0000P01")
	prvB   = uscc.Complete("91110302MA0000P02")
	budget = int64(0)
)

type env struct {
	t      *testing.T
	ts     *httptest.Server
	srv    *web.Server
	desk   *desk.Service
	c      *compute.Service
	led    *ledger.Ledger
	bundle *policy.Bundle
	clock  *clock
	users  map[string]auth.User // by login
}

// newEnv boots the server with the workflow's and the platform's routes
// and their users: admin, finance, a reviewer of 资讯技术产业局, three
// experts, two enterprises and two providers.
func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: day("2025-03-03")} // a Monday
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
	e := &env{t: t, led: led, bundle: b, clock: clk, users: map[string]auth.User{}}
	admin := auth.NewContext(ctx, auth.Principal{UserID: "setup", Role: auth.RoleAdmin})
	add := func(login string, role auth.Role, ent, dept string) {
		u, err := as.AddUser(admin, nil, auth.User{Login: login, Name: login, Role: role, Enterprise: ent, Department: dept}, password)
		if err != nil {
			t.Fatal(err)
		}
		e.users[login] = u
	}
	add("admin", auth.RoleAdmin, "", "")
	add("fin", auth.RoleFinance, "", "")
	add("fin2", auth.RoleFinance, "", "")
	add("rev", auth.RoleReviewer, "", "info_tech")
	for i := 1; i <= 3; i++ {
		add(fmt.Sprintf("exp%d", i), auth.RoleExpert, "", "")
	}
	add("ent", auth.RoleEnterprise, entA, "")
	add("ent-b", auth.RoleEnterprise, entB, "")
	add("prv", auth.RoleProvider, prvA, "")
	add("prv-b", auth.RoleProvider, prvB, "")
	d, err := desk.New(db, led, b, desk.Options{Now: clk.Now, Key: []byte("0123456789abcdef"),
		Experts: func(context.Context) ([]string, error) {
			return []string{e.users["exp1"].ID, e.users["exp2"].ID, e.users["exp3"].ID}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := compute.New(d, compute.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := web.New(web.Config{Now: clk.Now, Version: "test"}, web.Deps{DB: db, Bundle: b, Auth: as, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	deskapi.Register(srv, d)
	computeapi.Register(srv, c)
	e.srv, e.desk, e.c = srv, d, c
	e.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

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
		t.Fatalf("not JSON (%d): %v: %s", r.status, err, short(r.body))
	}
}

// short cuts a body for a failure message.
func short(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

func (r resp) code() string {
	var e struct{ Error struct{ Code string } }
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (c *client) send(req *http.Request) resp {
	c.e.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: data}
}

func (c *client) do(method, path string, body any) resp {
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
	return c.send(req)
}

// upload posts a multipart form: the fields in pairs, then the file.
func (c *client) upload(path, field, filename string, data []byte, fields ...string) resp {
	c.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	fw, _ := mw.CreateFormFile(field, filename)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", c.e.ts.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req)
}

func (c *client) ok(method, path string, body any, v any) {
	c.e.t.Helper()
	r := c.do(method, path, body)
	if r.status/100 != 2 {
		c.e.t.Fatalf("%s %s: %d %s", method, path, r.status, short(r.body))
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

func yuan(s string) money.Amount {
	f, err := money.Parse(s)
	if err != nil {
		panic(err)
	}
	return money.Amount(f)
}

var pdf = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

const api = "/api/v1/compute"

// TestComputeVoucherOverHTTP is issue 5's proof through the API on each
// database: a provider registers, is whitelisted by the admin and lists
// domestic cards; an enterprise claims a compute voucher, which is
// reviewed and approved through the workflow's routes and reserved in the
// ledger; the provider uploads a 10,000-row metering CSV with 5 bad rows
// and 2 duplicate invoices and gets the line-level report; the enterprise
// confirms; the redemption pays exactly 30%, within the quota; finance
// records the transfer; the rest is released at the contract's end; the
// ledger and the audit chain verify.
func TestComputeVoucherOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db)
		admin, rev, fin, public := e.as("admin"), e.as("rev"), e.as("fin"), e.as("")
		ent, entb, prv, prvb := e.as("ent"), e.as("ent-b"), e.as("prv"), e.as("prv-b")
		admin.ok("POST", "/api/v1/pools/fund", nil, nil)
		admin.ok("POST", "/api/v1/rounds", deskapi.RoundRequest{Name: "2025年申报", Items: []string{"compute_voucher", "model_voucher"}, Opens: "2025-01-01", Closes: "2025-12-31"}, nil)
		before, err := e.led.PoolRemaining(ctx, "compute_voucher", 2025)
		if err != nil || before <= 0 {
			t.Fatalf("pool: %d %v", before, err)
		}

		// Providers register; only the admin whitelists; until then no listing.
		var p, pb compute.Provider
		want(t, prv.do("POST", api+"/providers", compute.ProviderInput{USCC: prvB, Name: "冒名", Kinds: []string{"compute"}}), 403, "forbidden")
		prv.ok("POST", api+"/providers", compute.ProviderInput{USCC: prvA, Name: "亦庄智算服务有限公司", Kinds: []string{compute.KindCompute}, Contact: "010-12345678"}, &p)
		prvb.ok("POST", api+"/providers", compute.ProviderInput{USCC: prvB, Name: "待审服务商", Kinds: []string{compute.KindCompute}}, &pb)
		want(t, prv.do("POST", api+"/listings", computeapi.ListingRequest{ListingInput: compute.ListingInput{ChipModel: "MLU370", Vendor: "寒武纪", Cards: 8, Servers: 1, InZone: true}}), 409, "conflict")
		want(t, prv.do("POST", api+"/providers/"+p.ID+"/approve", computeapi.NoteRequest{}), 403, "forbidden")
		var wl []compute.Provider
		public.ok("GET", api+"/providers", nil, &wl)
		if len(wl) != 0 {
			t.Fatalf("whitelist before approval: %+v", wl)
		}
		admin.ok("POST", api+"/providers/"+p.ID+"/approve", computeapi.NoteRequest{Note: "材料齐全"}, &p)
		if p.State != compute.ProviderApproved {
			t.Fatalf("provider %+v", p)
		}
		public.ok("GET", api+"/providers", nil, &wl)
		if len(wl) != 1 || wl[0].ID != p.ID || wl[0].Contact != "" {
			t.Fatalf("public whitelist %+v", wl)
		}
		var vendors []compute.Vendor
		public.ok("GET", api+"/vendors", nil, &vendors)
		if !slices.ContainsFunc(vendors, func(v compute.Vendor) bool { return v.Name == "昇腾" && v.Domestic }) {
			t.Fatalf("vendor list %+v", vendors)
		}

		var l compute.Listing
		prv.ok("POST", api+"/listings", computeapi.ListingRequest{ListingInput: compute.ListingInput{ChipModel: "Atlas 800T A2", Vendor: "Huawei Ascend", Cards: 512, Servers: 64, InZone: true,
			Location: "亦庄新城 智算中心A", Price: yuan("12.50")}}, &l)
		if !l.Domestic || l.Vendor != "昇腾" || l.State != compute.Listed || len(l.Periods) != 1 || l.Periods[0].Listed != "2025-03-03" {
			t.Fatalf("listing %+v", l)
		}
		want(t, prvb.do("POST", api+"/listings/"+l.ID+"/withdraw", nil), 404, "not_found")
		var cat []compute.Listing
		public.ok("GET", api+"/listings?domestic=true", nil, &cat)
		if len(cat) != 1 || cat[0].ID != l.ID || cat[0].Cards != 512 {
			t.Fatalf("public catalogue %+v", cat)
		}

		// The enterprise registers, signs a contract and claims a voucher.
		ent.ok("POST", "/api/v1/enterprises", deskapi.EnterpriseRequest{USCC: entA, Name: "北京亦庄智算应用科技有限公司"}, nil)
		ent.ok("PUT", "/api/v1/enterprises/"+entA+"/bank-account", deskapi.BankAccountRequest{BankName: "中国银行北京亦庄支行", BankAccount: "6217000010001234567"}, nil)
		ent.ok("POST", "/api/v1/enterprises/"+entA+"/facts", map[string]any{"source": "self_declared", "as_of": "2024-12-01",
			"facts": map[string]any{"in_etown": true, "serious_dishonesty_listed": false, "penalties": []any{}, "ai_enterprise": true}}, nil)
		var c compute.Contract
		ent.ok("POST", api+"/contracts", compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-2025-001", Title: "智算服务合同",
			Amount: yuan("10000000"), Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2024-12-20", ListingID: l.ID}, &c)
		want(t, prv.do("POST", api+"/contracts/"+c.ID+"/claims", computeapi.ClaimRequest{}), 403, "forbidden")
		want(t, entb.do("GET", api+"/contracts/"+c.ID, nil), 404, "not_found")
		var cl compute.Claim
		ent.ok("POST", api+"/contracts/"+c.ID+"/claims", computeapi.ClaimRequest{}, &cl)
		if cl.Base != yuan("10000000") || cl.Item != "compute_voucher" || cl.State != compute.ClaimApplied || cl.ExpiresOn != "2025-06-30" {
			t.Fatalf("claim %+v", cl)
		}

		// The claim's application goes through the workflow's routes.
		base := "/api/v1/applications/" + cl.ApplicationID
		for _, m := range e.bundle.Item("compute_voucher").Materials {
			if r := ent.upload(base+"/materials", "file", m.ID+".pdf", append(append([]byte(nil), pdf...), m.ID...), "kind", m.ID); r.status != 201 {
				t.Fatalf("upload %s: %d %s", m.ID, r.status, r.body)
			}
		}
		ent.ok("POST", base+"/commitment", nil, nil)
		var app desk.Application
		ent.ok("POST", base+"/submit", nil, &app)
		if app.Allowed != yuan("3000000") {
			t.Fatalf("the engine allows %s, want 3000000.00 (30%% of the contract)", money.Format(int64(app.Allowed)))
		}
		rev.ok("POST", base+"/accept", deskapi.MessageRequest{Message: "材料齐全"}, &app)
		if app.ReviewRequired {
			exp := func(i int) string { return e.users[fmt.Sprintf("exp%d", i)].ID }
			rev.ok("POST", base+"/panel", deskapi.PanelRequest{Experts: []string{exp(1), exp(2), exp(3)}, Chair: exp(1)}, nil)
			for i := 1; i <= 3; i++ {
				x := e.as(fmt.Sprintf("exp%d", i))
				x.ok("POST", base+"/declaration", deskapi.DeclarationRequest{}, nil)
				x.ok("POST", base+"/score", deskapi.ScoreRequest{Scores: map[string]int{"necessity": 80}, Amount: app.Allowed, Comment: "同意"}, nil)
			}
			rev.ok("POST", base+"/consolidate", deskapi.MessageRequest{Message: "专家组意见"}, &app)
		} else {
			rev.ok("POST", base+"/opinion", deskapi.MessageRequest{Message: "同意"}, &app)
		}
		if app.State != desk.StateProposed {
			t.Fatalf("application %s (%s), not proposed", app.State, app.Note)
		}
		rev.ok("POST", "/api/v1/publicity", deskapi.PublishRequest{Title: "算力券拟支持名单", IDs: []string{app.ID}}, nil)
		e.clock.Set(day("2025-03-13"))
		if _, _, err := e.desk.CloseWindows(ctx); err != nil {
			t.Fatal(err)
		}
		// Ten days later the sessions have expired: sign in again.
		admin, rev, fin, ent, entb, prv = e.as("admin"), e.as("rev"), e.as("fin"), e.as("ent"), e.as("ent-b"), e.as("prv")
		ent.ok("GET", base, nil, &app)
		if app.State != desk.StateApproved {
			t.Fatalf("application %s after 公示", app.State)
		}
		var vs []compute.Voucher
		ent.ok("GET", api+"/vouchers?contract="+c.ID, nil, &vs)
		if len(vs) != 1 || vs[0].State != compute.ClaimActive || vs[0].Quota != yuan("3000000") || vs[0].Remaining != yuan("3000000") || vs[0].ExpiresOn != "2025-06-30" {
			t.Fatalf("voucher %+v", vs)
		}
		if left, _ := e.led.PoolRemaining(ctx, "compute_voucher", 2025); left != before-3_000_000_00 {
			t.Fatalf("pool remaining %d after the reservation, want %d", left, before-3_000_000_00)
		}
		entb.ok("GET", api+"/vouchers", nil, &vs)
		if len(vs) != 0 {
			t.Fatalf("another enterprise sees vouchers %+v", vs)
		}

		// The metering export: 10,000 rows, 5 bad, 2 duplicate invoices.
		var file bytes.Buffer
		gen, err := compute.GenerateSettlements(&file, compute.GenOptions{Rows: 10_000, Contracts: []string{c.ID}, From: "2025-01-01", To: "2025-02-28",
			Seed: 7, Bad: 5, Duplicates: 2, MaxAmount: yuan("100.00")})
		if err != nil || gen.Good != 9_993 {
			t.Fatalf("generator: %+v %v", gen, err)
		}
		want(t, ent.upload(api+"/settlements/import", "file", "m.csv", file.Bytes()), 403, "forbidden")
		want(t, prv.do("POST", api+"/settlements/import", map[string]any{}), 415, "unsupported_media")
		r := prv.upload(api+"/settlements/import", "file", "metering-2025q1.csv", file.Bytes())
		want(t, r, 201, "")
		var res compute.ImportResult
		r.decode(t, &res)
		if !res.Committed || res.Rows != 10_000 || res.Imported != 9_993 || res.Refused != 7 || res.Amount != gen.GoodAmount || res.Encoding != "utf-8" {
			t.Fatalf("import %+v", res)
		}
		var lines []int
		codes := map[string]int{}
		for _, re := range res.Errors {
			lines = append(lines, re.Line)
			codes[re.Code]++
			if re.Message == "" || re.Code == "" {
				t.Fatalf("row error without reason: %+v", re)
			}
			if re.Code == compute.CodeDuplicate && !strings.Contains(re.Message, "本文件第") {
				t.Fatalf("a duplicate does not name its first use: %s", re.Message)
			}
		}
		wantLines := slices.Sorted(slices.Values(append(slices.Clone(gen.BadLines), gen.DupLines...)))
		if !slices.Equal(lines, wantLines) || codes[compute.CodeDuplicate] != 2 {
			t.Fatalf("refused lines %v (codes %v), want %v", lines, codes, wantLines)
		}
		// The same file again replays the first import.
		r = prv.upload(api+"/settlements/import", "file", "copy.csv", file.Bytes())
		want(t, r, 200, "")
		var again compute.ImportResult
		r.decode(t, &again)
		if !again.Replayed || again.ID != res.ID || again.Imported != res.Imported || len(again.Errors) != 7 {
			t.Fatalf("re-import %+v", again)
		}
		// compute.Record's card_hours is written as a decimal string, which
		// CardHours does not read back: decode the fields the test needs.
		var recs []struct {
			ID       int64  `json:"id"`
			State    string `json:"state"`
			ImportID string `json:"import_id"`
		}
		prv.ok("GET", api+"/settlements?contract="+c.ID+"&limit=1000", nil, &recs)
		if len(recs) != 1000 || recs[0].State != compute.RecordSubmitted || recs[0].ImportID != res.ID {
			t.Fatalf("records %d", len(recs))
		}
		var sum []compute.RecordSummary
		ent.ok("GET", api+"/contracts/"+c.ID+"/settlements/summary", nil, &sum)
		if len(sum) != 1 || sum[0].Count != 9_993 || sum[0].Amount != gen.GoodAmount {
			t.Fatalf("summary %+v", sum)
		}

		// Bilateral confirmation; another enterprise cannot, nor the provider.
		want(t, entb.do("POST", api+"/contracts/"+c.ID+"/settlements/confirm", nil), 404, "not_found")
		want(t, prv.do("POST", api+"/contracts/"+c.ID+"/settlements/confirm", nil), 403, "forbidden")
		want(t, ent.do("POST", api+"/contracts/"+c.ID+"/redemptions", nil), 409, "conflict") // nothing confirmed yet
		var n computeapi.CountResponse
		ent.ok("POST", api+"/contracts/"+c.ID+"/settlements/confirm", computeapi.ConfirmRequest{}, &n)
		if n.Count != 9_993 {
			t.Fatalf("confirmed %d", n.Count)
		}

		// Redemption: exactly 30%, rounded down once, within the quota.
		var red compute.Redemption
		ent.ok("POST", api+"/contracts/"+c.ID+"/redemptions", nil, &red)
		due := int64(gen.GoodAmount) * 30 / 100
		if red.State != compute.RedemptionPayable || red.Records != 9_993 || red.Base != gen.GoodAmount || int64(red.Due) != due || int64(red.Amount) != due || red.Rate != "30/100" {
			t.Fatalf("redemption %+v (want due %d)", red, due)
		}
		ent.ok("GET", api+"/vouchers?contract="+c.ID, nil, &vs)
		if vs[0].Used != red.Amount || vs[0].Remaining != yuan("3000000")-red.Amount {
			t.Fatalf("voucher after redemption %+v", vs[0])
		}
		want(t, ent.do("POST", api+"/contracts/"+c.ID+"/redemptions", nil), 409, "conflict") // nothing left confirmed
		var reds []compute.Redemption
		prv.ok("GET", api+"/redemptions?contract="+c.ID, nil, &reds)
		if len(reds) != 1 || reds[0].ID != red.ID {
			t.Fatalf("the provider's redemptions %+v", reds)
		}

		// Finance pays it through a four-eyes payment batch of the
		// workflow, beside awards; nobody else may.
		want(t, ent.do("POST", "/api/v1/batches", deskapi.BatchRequest{IDs: []string{red.ID}}), 403, "forbidden")
		fin2 := e.as("fin2")
		var batch desk.Batch
		fin.ok("POST", "/api/v1/batches", deskapi.BatchRequest{IDs: []string{red.ID}}, &batch)
		if batch.Count != 1 || batch.Total != red.Amount || len(batch.Payments) != 1 || batch.Payments[0].Kind != compute.KindRedemption {
			t.Fatalf("batch %+v", batch)
		}
		want(t, fin.do("POST", "/api/v1/batches/"+batch.ID+"/approval", deskapi.ApprovalRequest{Count: 1, Total: red.Amount}), 403, "forbidden")
		fin2.ok("POST", "/api/v1/batches/"+batch.ID+"/approval", deskapi.ApprovalRequest{Count: 1, Total: red.Amount}, nil)
		fin.ok("POST", "/api/v1/batches/"+batch.ID+"/payments/"+red.ID, deskapi.PaymentRequest{Paid: true, BankRef: "BOC2025031300001"}, nil)
		ent.ok("GET", api+"/redemptions?contract="+c.ID, nil, &reds)
		if paid := reds[0]; paid.State != compute.RedemptionPaid || paid.PaidAt == nil || paid.BatchID != batch.ID {
			t.Fatalf("paid %+v", paid)
		}

		// Before the contract ends nothing is released; after, the rest is.
		var closed computeapi.CloseResponse
		admin.ok("POST", api+"/vouchers/close", nil, &closed)
		if closed.Closed != 0 {
			t.Fatalf("closed before the end: %+v", closed)
		}
		e.clock.Set(day("2025-07-01"))
		admin, ent = e.as("admin"), e.as("ent")
		admin.ok("POST", api+"/vouchers/close", nil, &closed)
		if closed.Closed != 1 || closed.Released != yuan("3000000")-red.Amount {
			t.Fatalf("close: %+v", closed)
		}
		ent.ok("GET", api+"/vouchers?contract="+c.ID, nil, &vs)
		if vs[0].State != compute.ClaimClosed || vs[0].Remaining != 0 || vs[0].Released != yuan("3000000")-red.Amount {
			t.Fatalf("voucher after close %+v", vs[0])
		}
		if left, _ := e.led.PoolRemaining(ctx, "compute_voucher", 2025); left != before-due {
			t.Fatalf("pool remaining %d, want the budget less the redemption (%d)", left, before-due)
		}
		if rep, err := e.led.Verify(ctx); err != nil || !rep.OK() {
			t.Fatalf("ledger verify: %v %+v", err, rep)
		}
		var av audit.Report
		admin.ok("GET", "/api/v1/audit/verify", nil, &av)
		if !av.OK() {
			t.Fatalf("audit verify: %+v", av)
		}

		// The statistics see it all; an enterprise may not.
		var st struct {
			Cards         int                     `json:"cards"`
			DomesticShare string                  `json:"domestic_share"`
			Spend         []compute.ProviderSpend `json:"spend"`
		}
		admin.ok("GET", api+"/stats?from=2025-01-01&to=2025-06-30", nil, &st)
		if st.Cards != 512 || st.DomesticShare != "100.0%" || len(st.Spend) != 1 || st.Spend[0].Redeemed != red.Amount || st.Spend[0].Settled != gen.GoodAmount {
			t.Fatalf("stats %+v", st)
		}
		want(t, ent.do("GET", api+"/stats", nil), 403, "forbidden")
	})
}

// TestRouteRoleMatrix calls every platform route as every role (and as a
// visitor): a role the route does not declare gets 401/403 before any
// handler runs; a declared role never does, nor a 500.
func TestRouteRoleMatrix(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	e := newEnv(t, db)
	logins := map[auth.Role]string{auth.RoleAdmin: "admin", auth.RoleFinance: "fin", auth.RoleReviewer: "rev", auth.RoleExpert: "exp1",
		auth.RoleEnterprise: "ent", auth.RoleProvider: "prv"}
	clients := map[auth.Role]*client{"": e.as("")}
	for role, login := range logins {
		clients[role] = e.as(login)
	}
	n := 0
	for _, rt := range e.srv.Routes() {
		if !strings.HasPrefix(rt.Pattern, api+"/") {
			continue
		}
		if !rt.Declared() {
			t.Errorf("%s has no permission decision", rt.Key())
		}
		if rt.Request == nil && rt.Method != "GET" && !strings.HasSuffix(rt.Pattern, "/import") && rt.Response == nil {
			t.Errorf("%s documents neither request nor response", rt.Key())
		}
		path := strings.NewReplacer("{id}", "x0", "{name}", url.PathEscape("无此厂商"), "{code}", "c0").Replace(rt.Pattern)
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

// TestOpenAPI checks that every platform route is in the published
// OpenAPI document with its request schema, embedded inputs flattened.
func TestOpenAPI(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.as("").ok("GET", "/api/v1/openapi.json", nil, &doc)
	n := 0
	for _, rt := range e.srv.Routes() {
		if !strings.HasPrefix(rt.Pattern, api+"/") {
			continue
		}
		n++
		if doc.Paths[rt.Pattern][strings.ToLower(rt.Method)] == nil {
			t.Errorf("%s is not in the OpenAPI document", rt.Key())
		}
	}
	if n < 35 {
		t.Fatalf("only %d platform routes", n)
	}
	for schema, props := range map[string][]string{
		"computeapi.ListingRequest": {"provider_id", "chip_model", "vendor", "cards", "price_per_card_hour"},
		"computeapi.VerifyRequest":  {"provider", "project", "lines"},
		"compute.ImportResult":      {"rows", "imported", "refused", "errors"},
	} {
		for _, p := range props {
			if doc.Components.Schemas[schema].Properties[p] == nil {
				t.Errorf("schema %s lacks %s", schema, p)
			}
		}
	}
}

// TestSettlementCorrections submits records as JSON (a bad one reported
// by its position), and walks a dispute: the enterprise disputes a
// record, the provider corrects it and withdraws another, the enterprise
// confirms the correction; other parties are refused.
func TestSettlementCorrections(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	admin, ent, entb, prv, prvb := e.as("admin"), e.as("ent"), e.as("ent-b"), e.as("prv"), e.as("prv-b")
	var p compute.Provider
	prv.ok("POST", api+"/providers", compute.ProviderInput{USCC: prvA, Name: "亦庄智算服务有限公司", Kinds: []string{compute.KindCompute}}, &p)
	admin.ok("POST", api+"/providers/"+p.ID+"/approve", nil, nil)
	prv.ok("PUT", api+"/providers/"+p.ID+"/related-parties", computeapi.RelatedPartiesRequest{RelatedParties: []compute.RelatedParty{{USCC: entB, Name: "关联企业", Relation: "同一控制"}}}, &p)
	if len(p.Related) != 1 {
		t.Fatalf("related parties %+v", p.Related)
	}
	want(t, entb.do("POST", api+"/contracts", compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-REL", Amount: yuan("1000"), Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2024-12-20"}), 409, "")
	ent.ok("POST", "/api/v1/enterprises", deskapi.EnterpriseRequest{USCC: entA, Name: "北京亦庄智算应用科技有限公司"}, nil)
	var c compute.Contract
	ent.ok("POST", api+"/contracts", compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-2025-002", Amount: yuan("100000"),
		Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2024-12-20"}, &c)
	rec := func(inv, amount string) compute.RecordInput {
		return compute.RecordInput{Contract: c.Number, PeriodStart: "2025-01-01", PeriodEnd: "2025-01-31", CardHours: "100.000", Amount: yuan(amount), InvoiceNo: inv, InvoiceDate: "2025-02-01"}
	}
	bad := rec("INV-3", "10.00")
	bad.PeriodEnd = "2025-09-30" // after the contract
	r := prv.do("POST", api+"/settlements", computeapi.SubmitRecordsRequest{Records: []compute.RecordInput{rec("INV-1", "100.00"), rec("INV-2", "200.00"), bad}})
	want(t, r, 201, "")
	var res compute.ImportResult
	r.decode(t, &res)
	if !res.Committed || res.Imported != 2 || res.Refused != 1 || len(res.Errors) != 1 || res.Errors[0].Line != 3 {
		t.Fatalf("submit %+v", res)
	}
	want(t, prvb.do("POST", api+"/settlements", computeapi.SubmitRecordsRequest{Records: []compute.RecordInput{rec("INV-9", "1.00")}}), 409, "conflict") // not registered
	var recs []struct {
		ID        int64  `json:"id"`
		InvoiceNo string `json:"invoice_no"`
		State     string `json:"state"`
	}
	ent.ok("GET", api+"/settlements?contract="+c.ID, nil, &recs)
	if len(recs) != 2 {
		t.Fatalf("records %+v", recs)
	}
	id := map[string]int64{}
	for _, x := range recs {
		id[x.InvoiceNo] = x.ID
	}
	var n computeapi.CountResponse
	ent.ok("POST", api+"/contracts/"+c.ID+"/settlements/dispute", computeapi.DisputeRequest{IDs: []int64{id["INV-1"]}, Reason: "卡时与实际不符"}, &n)
	if n.Count != 1 {
		t.Fatalf("disputed %d", n.Count)
	}
	fix := rec("INV-1", "80.00")
	want(t, prvb.do("PUT", api+"/settlements/"+strconv.FormatInt(id["INV-1"], 10), fix), 409, "")
	want(t, ent.do("PUT", api+"/settlements/"+strconv.FormatInt(id["INV-1"], 10), fix), 403, "forbidden")
	var fixed struct {
		State  string       `json:"state"`
		Amount money.Amount `json:"amount"`
	}
	prv.ok("PUT", api+"/settlements/"+strconv.FormatInt(id["INV-1"], 10), fix, &fixed)
	if fixed.State != compute.RecordSubmitted || fixed.Amount != yuan("80.00") {
		t.Fatalf("corrected %+v", fixed)
	}
	prv.ok("POST", api+"/settlements/"+strconv.FormatInt(id["INV-2"], 10)+"/withdraw", computeapi.ReasonRequest{Reason: "重复开具"}, nil)
	ent.ok("POST", api+"/contracts/"+c.ID+"/settlements/confirm", nil, &n)
	if n.Count != 1 {
		t.Fatalf("confirmed %d", n.Count)
	}
	var sum []compute.RecordSummary
	prv.ok("GET", api+"/contracts/"+c.ID+"/settlements/summary", nil, &sum)
	got := map[string]money.Amount{}
	for _, s := range sum {
		got[s.State] = s.Amount
	}
	if len(sum) != 2 || got[compute.RecordConfirmed] != yuan("80.00") || got[compute.RecordWithdrawn] != yuan("200.00") {
		t.Fatalf("summary %+v", sum)
	}
	// The enterprise ends the contract early; the listing is withdrawn and relisted.
	var ended compute.Contract
	ent.ok("POST", api+"/contracts/"+c.ID+"/end", computeapi.ReasonRequest{Reason: "项目终止"}, &ended)
	if ended.State == c.State {
		t.Fatalf("contract still %s", ended.State)
	}
	var l compute.Listing
	prv.ok("POST", api+"/listings", computeapi.ListingRequest{ListingInput: compute.ListingInput{ChipModel: "MLU370", Vendor: "寒武纪", Cards: 8, Servers: 1, InZone: true}}, &l)
	prv.ok("POST", api+"/listings/"+l.ID+"/withdraw", nil, &l)
	want(t, prv.do("POST", api+"/listings/"+l.ID+"/withdraw", nil), 409, "conflict")
	prv.ok("POST", api+"/listings/"+l.ID+"/relist", nil, &l)
	if l.State != compute.Listed || len(l.Periods) != 2 {
		t.Fatalf("relisted %+v", l)
	}
}
