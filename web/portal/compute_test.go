package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"policydesk/auth"
	"policydesk/compute"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/uscc"
	"policydesk/web/portal"
)

// computeEnv is the portal's env with the compute platform and its pages.
type computeEnv struct {
	*env
	c *compute.Service
}

var prvB = uscc.Complete("91110302MA0000P03")

func newComputeEnv(t *testing.T, db *store.DB) *computeEnv {
	t.Helper()
	e := newEnv(t, db)
	c, err := compute.New(e.svc, compute.Options{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	portal.RegisterCompute(e.srv, e.svc, c, portal.Options{Now: e.clock.Now})
	return &computeEnv{env: e, c: c}
}

func (e *computeEnv) actor(login string) desk.Actor {
	u := e.users[login]
	return desk.Actor{ID: u.ID, Role: string(u.Role), Enterprise: u.Enterprise, Department: u.Department}
}

// computePrefixes are the compute platform's pages.
var computePrefixes = []string{"/provider", "/me/vouchers", "/admin/compute", "/finance/vouchers", "/compute/"}

// TestComputePagesRoleMatrix sends every compute page as a visitor and as
// each role: the route table's decision is what happens, and nothing
// fails with 5xx, even with empty forms and unknown ids.
func TestComputePagesRoleMatrix(t *testing.T) {
	e := newComputeEnv(t, storetest.New(t, store.SQLite))
	logins := map[auth.Role]string{auth.RoleAdmin: "admin", auth.RoleFinance: "fin1", auth.RoleReviewer: "rev", auth.RoleExpert: "exp1",
		auth.RoleEnterprise: "ent", auth.RoleProvider: "provider"}
	clients := map[auth.Role]*client{"": e.as("")}
	for r, l := range logins {
		clients[r] = e.as(l)
	}
	checked, routes := 0, 0
	for _, rt := range e.srv.Routes() {
		mine := false
		for _, p := range computePrefixes {
			mine = mine || strings.HasPrefix(rt.Pattern, p)
		}
		if !mine {
			continue
		}
		routes++
		if !rt.Declared() || rt.Summary == "" {
			t.Errorf("%s: no permission decision or no summary", rt.Key())
		}
		for role, c := range clients {
			path := wildcard.ReplaceAllString(rt.Pattern, "x")
			var r resp
			if rt.Method == "GET" {
				r = c.get(path)
			} else {
				r = c.post(path, url.Values{})
			}
			label := rt.Key() + " as " + string(role)
			if r.status >= 500 {
				t.Errorf("%s: %d %s", label, r.status, r.body)
				continue
			}
			var p auth.Principal
			if role != "" {
				p = e.users[logins[role]].Principal()
			}
			denied := r.status == 403 && strings.Contains(r.body, "您的角色无权进行此操作") ||
				r.status == 401 || r.status == 303 && strings.HasPrefix(r.header.Get("Location"), "/login?next=")
			switch allowed := rt.Allows(p); {
			case allowed && denied:
				t.Errorf("%s: refused by the route table (%d), but the route allows it", label, r.status)
			case !allowed && !denied:
				t.Errorf("%s: reached the handler (%d), but the route does not allow it", label, r.status)
			}
			checked++
		}
	}
	if routes < 30 {
		t.Fatalf("only %d compute pages", routes)
	}
	// The roles' refusals a person meets.
	if r := clients[auth.RoleEnterprise].get("/provider"); r.status != http.StatusForbidden {
		t.Fatalf("an enterprise on the provider's page: %d", r.status)
	}
	if r := clients[auth.RoleProvider].get("/me/vouchers"); r.status != http.StatusForbidden {
		t.Fatalf("a provider on the enterprise's vouchers: %d", r.status)
	}
	if r := clients[auth.RoleEnterprise].get("/admin/compute"); r.status != http.StatusForbidden {
		t.Fatalf("an enterprise on the admin's page: %d", r.status)
	}
	if r := clients[auth.RoleProvider].post("/finance/batches", url.Values{"ids": {"red_x"}}); r.status != http.StatusForbidden {
		t.Fatalf("a provider creating a batch: %d", r.status)
	}
	t.Logf("%d routes, %d route × role calls", routes, checked)
}

var (
	listingRE  = regexp.MustCompile(`/provider/listings/(lst_[0-9a-z]+)/withdraw`)
	redRE      = regexp.MustCompile(`value="(red_[0-9a-z]+)"`)
	batchRE    = regexp.MustCompile(`/finance/batches/(bat_[0-9a-z]+)`)
	recordIDRE = regexp.MustCompile(`name="ids" value="([0-9]+)"`)
)

func first(t *testing.T, re *regexp.Regexp, page, what string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s on the page", what)
	}
	return m[1]
}

// approveClaim takes a voucher claim's application through the workflow
// (materials, 承诺, review, 公示) by the service, as the portal's own
// workflow test does by the pages.
func (e *computeEnv) approveClaim(t *testing.T, ent desk.Actor, appID string) {
	t.Helper()
	ctx := context.Background()
	s := e.svc
	app, err := s.Get(ctx, ent, appID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range s.Bundle().Item(app.Item).Materials {
		if _, err := s.Upload(ctx, ent, appID, m.ID, m.ID+".pdf", pdf(m.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SignCommitment(ctx, ent, appID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(ctx, ent, appID, ""); err != nil {
		t.Fatal(err)
	}
	rev := e.actor("rev")
	if app, err = s.Accept(ctx, rev, appID, "材料齐全"); err != nil {
		t.Fatal(err)
	}
	if app.ReviewRequired {
		exps := []string{e.users["exp1"].ID, e.users["exp2"].ID, e.users["exp3"].ID}
		if _, err := s.AssignPanel(ctx, rev, appID, exps, 0, exps[0]); err != nil {
			t.Fatal(err)
		}
		for _, x := range exps {
			a := desk.Actor{ID: x, Role: desk.RoleExpert}
			if err := s.Declare(ctx, a, appID, false, ""); err != nil {
				t.Fatal(err)
			}
			if err := s.Score(ctx, a, appID, map[string]int{"necessity": 80}, int64(app.Allowed), "同意"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Consolidate(ctx, rev, appID, "专家组意见"); err != nil {
			t.Fatal(err)
		}
	} else if _, err := s.Opinion(ctx, rev, appID, "同意"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, rev, "算力券拟支持名单", []string{appID}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(10 * 24 * time.Hour)
	if _, _, err := s.CloseWindows(ctx); err != nil {
		t.Fatal(err)
	}
	if st := e.state(appID); st != desk.StateApproved {
		t.Fatalf("claim application %s: %s", appID, st)
	}
}

// TestComputePages walks 算力券 through the pages alone, on SQLite and
// PostgreSQL: a provider registers and is whitelisted, lists a domestic
// pool and withdraws another; an enterprise registers a contract (a bad
// amount keeps what was typed), claims; the provider uploads a metering
// file with bad rows and reads the line-level report; the enterprise
// confirms in bulk, disputes one, redeems; finance pays the redemption
// through a four-eyes batch; the enterprise and the provider see it paid;
// rows stay scoped; the ledger verifies.
func TestComputePages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newComputeEnv(t, db)
		ctx := context.Background()
		admin, ent, other, prv := e.as("admin"), e.as("ent"), e.as("ent-b"), e.as("provider")

		// Setup by the workflow's pages: a round, the enterprise and its facts.
		_, msg := admin.act("/admin/rounds", url.Values{"name": {"2026年度算力券"}, "opens": {"2026-03-01"}, "closes": {"2026-12-31"}, "items": {"compute_voucher"}})
		wantFlash(t, "round", msg, "已开启申报批次")
		if _, err := e.svc.RegisterEnterprise(ctx, e.actor("ent"), entA, "北京亦庄智算科技有限公司"); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetBankAccount(ctx, e.actor("ent"), entA, "北京银行亦庄支行", "6222000012345678"); err != nil {
			t.Fatal(err)
		}
		facts := map[string]json.RawMessage{"in_etown": json.RawMessage("true"), "serious_dishonesty_listed": json.RawMessage("false"),
			"penalties": json.RawMessage("[]"), "ai_enterprise": json.RawMessage("true")}
		if err := e.svc.SetFacts(ctx, e.actor("ent"), entA, facts, desk.SourceSelf, "2026-01-01"); err != nil {
			t.Fatal(err)
		}

		// Each role's workbench is where /desk leads.
		for c, want := range map[*client]string{prv: "/provider", ent: "/me/applications", admin: "/dashboard"} {
			if r := c.get("/desk"); r.status != http.StatusSeeOther || r.header.Get("Location") != want {
				t.Errorf("/desk: %d → %q, want %s", r.status, r.header.Get("Location"), want)
			}
		}

		// The provider registers; until whitelisted it cannot list.
		page := prv.page("/provider")
		mustContain(t, "the provider's first page", page, "登记为算力/模型服务商", entB)
		if r := prv.post("/provider/registration", url.Values{"name": {""}, "kinds": {"compute"}, "contact": {"010-1"}}); r.status != http.StatusBadRequest ||
			!strings.Contains(r.body, "名称不能为空") || !strings.Contains(r.body, `value="010-1"`) {
			t.Fatalf("registration without a name: %d", r.status)
		}
		_, msg = prv.act("/provider/registration", url.Values{"name": {"亦庄算力服务有限公司"}, "kinds": {"compute"}, "contact": {"010-12345678"}})
		wantFlash(t, "registration", msg, "待管理员审核")
		r := prv.post("/provider/listings", url.Values{"chip_model": {"MLU370"}, "vendor": {"寒武纪"}, "cards": {"8"}})
		if r.status != http.StatusConflict || !strings.Contains(r.body, "不在白名单内") {
			t.Fatalf("listing before the whitelist: %d\n%.2000s", r.status, r.body)
		}

		// The admin approves it.
		page = admin.page("/admin/compute?state=pending")
		mustContain(t, "the admin's whitelist", page, "亦庄算力服务有限公司", "待审核", "芯片厂商名录", "昇腾")
		pv, err := e.c.GetProvider(ctx, e.actor("admin"), entB)
		if err != nil {
			t.Fatal(err)
		}
		_, msg = admin.act("/admin/compute/providers/"+pv.ID+"/approve", url.Values{"note": {"材料齐全"}})
		wantFlash(t, "approve", msg, "已纳入白名单")
		_, msg = admin.act("/admin/compute/scenarios", url.Values{"code": {"JB-01"}, "name": {"质检大模型"}, "kind": {"jiebang"}, "active": {"yes"}})
		wantFlash(t, "scenario", msg, "已登记应用场景")

		// Listings: one domestic pool stays, another is withdrawn.
		_, msg = prv.act("/provider/listings", url.Values{"chip_model": {"Atlas 800T A2"}, "vendor": {"昇腾"}, "cards": {"512"}, "servers": {"64"},
			"location": {"亦庄智算中心"}, "price": {"12.50"}, "in_zone": {"yes"}})
		wantFlash(t, "listing", msg, "国产芯片")
		page, msg = prv.act("/provider/listings", url.Values{"chip_model": {"H800"}, "vendor": {"英伟达"}, "cards": {"64"}, "price": {"30"}})
		wantFlash(t, "a second listing", msg, "非国产芯片")
		ids := listingRE.FindAllStringSubmatch(page, -1)
		if len(ids) != 2 {
			t.Fatalf("%d listings on the page", len(ids))
		}
		nv, err := e.c.Listings(ctx, e.actor("provider"), compute.ListingFilter{Provider: pv.ID, Vendor: "英伟达"})
		if err != nil || len(nv) != 1 {
			t.Fatalf("the H800 listing: %v %v", nv, err)
		}
		page, msg = prv.act("/provider/listings/"+nv[0].ID+"/withdraw", nil)
		wantFlash(t, "withdraw", msg, "已下架")
		mustContain(t, "the listings", page, "已下架", "在架", "12.50 元")

		// The enterprise registers a contract: a bad amount keeps the form.
		page = ent.page("/me/vouchers")
		mustContain(t, "the enterprise's vouchers", page, "尚未申领券", "亦庄算力服务有限公司", "登记服务合同")
		form := url.Values{"provider": {pv.ID}, "kind": {"compute"}, "number": {"HT-2026-001"}, "title": {"智算服务合同"}, "amount": {"一千万"},
			"signed_on": {"2026-01-20"}, "starts": {"2026-02-01"}, "ends": {"2026-12-31"}}
		r = ent.post("/me/vouchers/contracts", form)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "金额应为元") || !strings.Contains(r.body, `value="HT-2026-001"`) {
			t.Fatalf("a bad amount: %d\n%.3000s", r.status, r.body)
		}
		form.Set("amount", "10000000")
		page, msg = ent.act("/me/vouchers/contracts", form)
		wantFlash(t, "contract", msg, "已登记合同「HT-2026-001」")
		ctrID := first(t, regexp.MustCompile(`/me/vouchers/contracts/(ctr_[0-9a-z]+)/claims`), page, "the claim form")

		// Another enterprise and the provider's page see nothing of it.
		if r := other.get("/me/vouchers/contracts/" + ctrID); r.status != http.StatusNotFound {
			t.Fatalf("another enterprise's contract: %d", r.status)
		}
		mustNotContain(t, "another enterprise's vouchers", other.page("/me/vouchers"), "HT-2026-001")
		mustContain(t, "the provider's customers", prv.page("/provider/customers"), "HT-2026-001", entA, "未申领")

		// The claim goes through the workflow.
		r = ent.post("/me/vouchers/contracts/"+ctrID+"/claims", url.Values{"base": {""}})
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/applications/app_") {
			t.Fatalf("claim: %d %s", r.status, r.header.Get("Location"))
		}
		appID := strings.TrimPrefix(r.header.Get("Location"), "/applications/")
		e.approveClaim(t, e.actor("ent"), appID)
		page = ent.page("/me/vouchers")
		mustContain(t, "the balance", page, "可兑付", "3,000,000.00 元", "HT-2026-001")

		// The provider uploads its metering file: two bad rows reported by line.
		csv := "合同编号,计费开始日期,计费结束日期,卡时,结算金额,发票号码,开票日期\n" +
			"HT-2026-001,2026-02-01,2026-02-07,1000,10000.00,INV-0001,2026-02-08\n" +
			"HT-2026-001,2026-02-08,2026-02-14,2000,20000.00,INV-0002,2026-02-15\n" +
			"HT-2026-001,2026-02-15,2026-02-21,abc,1000.00,INV-0003,2026-02-22\n" +
			"HT-2026-001,2026-02-15,2026-02-21,3000,30000.00,INV-0001,2026-02-22\n" +
			"HT-2026-001,2026-02-22,2026-02-28,500,5000.00,INV-0004,2026-03-01\n"
		r = prv.multipart("/provider/settlements/import", url.Values{}, file{"file", "metering.csv", []byte(csv)})
		if r.status != http.StatusOK {
			t.Fatalf("import: %d\n%.3000s", r.status, r.body)
		}
		mustContain(t, "the import report", r.body, "已导入", "3 行", "有误的行（2 行）", "invalid_number", "duplicate_invoice", "与本文件第 2 行重复", "已保存")
		r = prv.multipart("/provider/settlements/import", url.Values{}, file{"file", "empty.csv", []byte("合同编号\n")})
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "表头缺少必需的列") {
			t.Fatalf("a file without columns: %d\n%.2000s", r.status, r.body)
		}
		mustContain(t, "the provider's records", prv.page("/provider/settlements?contract="+ctrID), "INV-0001", "待企业确认")

		// The enterprise disputes one, confirms the others in bulk, redeems.
		page = ent.page("/me/vouchers/contracts/" + ctrID)
		recs := recordIDRE.FindAllStringSubmatch(page, -1)
		if len(recs) != 3 {
			t.Fatalf("%d records to confirm", len(recs))
		}
		_, msg = ent.act("/me/vouchers/contracts/"+ctrID+"/dispute", url.Values{"ids": {recs[2][1]}})
		wantFlash(t, "dispute without a reason", msg, "error: 理由不能为空")
		_, msg = ent.act("/me/vouchers/contracts/"+ctrID+"/dispute", url.Values{"ids": {recs[2][1]}, "reason": {"卡时不符"}})
		wantFlash(t, "dispute", msg, "已对 1 条结算记录提出异议")
		_, msg = ent.act("/me/vouchers/contracts/"+ctrID+"/confirm", url.Values{})
		wantFlash(t, "confirm nothing", msg, "error: 请勾选结算记录")
		_, msg = ent.act("/me/vouchers/contracts/"+ctrID+"/confirm", url.Values{"ids": {recs[0][1], recs[1][1]}})
		wantFlash(t, "bulk confirm", msg, "已确认 2 条结算记录")
		if r := other.post("/me/vouchers/contracts/"+ctrID+"/confirm", url.Values{"all": {"yes"}}); r.status != http.StatusSeeOther {
			t.Fatalf("another enterprise confirming: %d", r.status)
		}
		if rs, _ := e.c.Records(ctx, e.actor("admin"), compute.RecordFilter{Contract: ctrID, State: compute.RecordConfirmed}); len(rs) != 2 {
			t.Fatalf("%d records confirmed after another enterprise tried", len(rs))
		}
		mustContain(t, "the disputed record", prv.page("/provider/settlements?state=disputed"), "卡时不符", "提交更正")
		_, msg = ent.act("/me/vouchers/contracts/"+ctrID+"/redeem", nil)
		wantFlash(t, "redeem", msg, "已兑付 2 条结算记录：结算金额 30,000.00 元，按 30/100 计 9,000.00 元，实际兑付 9,000.00 元")
		mustContain(t, "the enterprise's history", ent.page("/me/vouchers/redemptions"), "9,000.00 元", "待财政纳入拨付批次")
		mustContain(t, "the provider's redemptions", prv.page("/provider/redemptions"), "9,000.00 元", entA)
		mustContain(t, "the balance after", ent.page("/me/vouchers"), "2,991,000.00 元")

		// Finance pays it through a four-eyes batch.
		fin1, fin2 := e.as("fin1"), e.as("fin2")
		page = fin1.page("/finance/vouchers")
		redID := first(t, redRE, page, "a redemption to pay")
		mustContain(t, "finance's list", page, "9,000.00 元", "HT-2026-001")
		// The payment workbench offers it in the same form as the awards.
		mustContain(t, "the payment workbench", fin1.page("/finance"), `name="ids" value="`+redID+`"`, "算力券/模型券兑付待拨付（1 笔，合计 9,000.00 元）", "用勾选的申请和兑付创建拨付批次")
		if r := e.as("rev").get("/finance"); r.status != http.StatusForbidden {
			t.Fatalf("a reviewer reads the payment workbench: %d", r.status)
		}
		page, msg = fin1.act("/finance/batches", url.Values{"ids": {redID}})
		wantFlash(t, "batch", msg, "已创建拨付批次：1 笔，合计 9,000.00 元")
		mustContain(t, "the batch", page, "券兑付", redID, "6222000012345678")
		batchID := first(t, batchRE, "/finance/batches/"+strings.Split(strings.Split(page, "拨付批次 <code>")[1], "</code>")[0], "the batch id")
		mustNotContain(t, "finance's list after", fin1.page("/finance/vouchers"), redID)
		mustNotContain(t, "the payment workbench after", fin1.page("/finance"), `value="`+redID+`"`)
		_, msg = fin1.act("/finance/batches/"+batchID+"/approval", url.Values{"count": {"1"}, "total": {"9000"}})
		wantFlash(t, "the creator approves", msg, "error: 批次创建人不能审批本批次")
		_, msg = fin2.act("/finance/batches/"+batchID+"/approval", url.Values{"count": {"1"}, "total": {"9000.00"}})
		wantFlash(t, "approve", msg, "批次已审批")
		if r := fin1.get("/api/v1/batches/" + batchID + "/xlsx"); r.status != http.StatusOK {
			t.Fatalf("export: %d", r.status)
		}
		_, msg = fin1.act("/finance/batches/"+batchID+"/payments/"+redID, url.Values{"result": {"paid"}, "bank_ref": {"BJBANK2026031900001"}})
		wantFlash(t, "paid", msg, "已登记拨付")
		mustContain(t, "paid, for the enterprise", ent.page("/me/vouchers/redemptions"), "已拨付", "BJBANK2026031900001")
		mustContain(t, "paid, for the provider", prv.page("/provider/redemptions"), "已拨付")
		red, err := e.c.GetRedemption(ctx, e.actor("ent"), redID)
		if err != nil || red.State != compute.RedemptionPaid || red.BatchID != batchID {
			t.Fatalf("redemption %+v %v", red, err)
		}
		if b, _ := e.led.Balances(ctx, ledger.PayableKey(entA)); b[0].CreditsPosted != 9_000_00 {
			t.Fatalf("payable posted %d, want 9,000.00 once", b[0].CreditsPosted)
		}
		if rep, err := e.led.Verify(ctx); err != nil || !rep.OK() {
			t.Fatalf("ledger verify: %v %+v", err, rep)
		}

		// The statistics, for the provider (its own) and the admin.
		if sp := prv.page("/compute/stats"); !strings.Contains(sp, "昇腾") || !strings.Contains(sp, "100.0%") {
			i := strings.Index(sp, "<h1>")
			t.Fatalf("the provider's stats:\n%s", sp[i:])
		}
		mustContain(t, "the admin's stats", admin.page("/compute/stats?from=2026-01-01&to=2026-12-31"), "亦庄算力服务有限公司")
		if r := admin.get("/compute/stats?from=2026-12-31&to=2026-01-01"); r.status != http.StatusBadRequest || !strings.Contains(r.body, "结束日期早于开始日期") {
			t.Fatalf("stats with the dates reversed: %d", r.status)
		}
	})
}
