package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"policydesk/auth"
	"policydesk/desk"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/web/portal"
)

// portalPrefixes are the paths this package serves.
var portalPrefixes = []string{"/desk", "/inbox", "/me/", "/offers/", "/enterprises", "/applications/", "/objections/", "/review",
	"/expert", "/finance", "/admin", "/publicity", "/dashboard", "/api/v1/dashboard"}

func isPortal(pattern string) bool {
	for _, p := range portalPrefixes {
		if strings.HasPrefix(pattern, p) {
			return true
		}
	}
	return false
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// TestPortalRoleMatrix sends every page of the portal as a visitor and as
// each role: the route table's decision is what happens (a visitor is sent
// to sign in, another role gets 403), and no combination fails with 5xx,
// even with an empty form and unknown ids.
func TestPortalRoleMatrix(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	logins := map[auth.Role]string{auth.RoleAdmin: "admin", auth.RoleFinance: "fin1", auth.RoleReviewer: "rev", auth.RoleExpert: "exp1",
		auth.RoleEnterprise: "ent", auth.RoleProvider: "provider"}
	clients := map[auth.Role]*client{"": e.as("")}
	for r, l := range logins {
		clients[r] = e.as(l)
	}
	checked := 0
	for _, rt := range e.srv.Routes() {
		if !isPortal(rt.Pattern) {
			continue
		}
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
			denied := r.status == 403 && (strings.Contains(r.body, "您的角色无权进行此操作")) ||
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
	if checked < 50*7 {
		t.Fatalf("checked only %d combinations", checked)
	}
}

var (
	appIDRE = regexp.MustCompile(`/applications/(app_[0-9a-z]+)`)
	objRE   = regexp.MustCompile(`/objections/(obj_[0-9a-z]+)/resolution`)
)

func mustContain(t *testing.T, what, page string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(page, w) {
			t.Fatalf("%s lacks %q", what, w)
		}
	}
}

func mustNotContain(t *testing.T, what, page string, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if strings.Contains(page, w) {
			t.Fatalf("%s shows %q", what, w)
		}
	}
}

func wantFlash(t *testing.T, step, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: message %q, want %q", step, got, want)
	}
}

func (e *env) state(id string) string {
	e.t.Helper()
	app, err := e.svc.Get(context.Background(), desk.Actor{ID: "t", Role: desk.RoleAdmin}, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return app.State
}

// TestPortalWorkflow walks one application from the enterprise's form to
// the payment receipt through the pages alone, with the refusals a person
// meets on the way, on SQLite and PostgreSQL.
func TestPortalWorkflow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		admin, ent, rev := e.as("admin"), e.as("ent"), e.as("rev")

		// Admin opens a round for every item.
		vals := url.Values{"name": {"2026年度第一批"}, "opens": {"2026-03-01"}, "closes": {"2026-06-30"}}
		for _, it := range e.svc.Bundle().Items {
			vals.Add("items", it.ID)
		}
		_, msg := admin.act("/admin/rounds", vals)
		wantFlash(t, "open round", msg, "已开启申报批次")

		// The enterprise registers, with a bank account.
		mustContain(t, "profile before registering", ent.page("/me/profile"), "登记单位信息")
		_, msg = ent.act("/enterprises", url.Values{"name": {"北京亦庄智算科技有限公司"}})
		wantFlash(t, "register", msg, "企业信息已登记")
		_, msg = ent.act("/enterprises/"+entA+"/bank-account", url.Values{"bank_name": {"北京银行亦庄支行"}, "bank_account": {"6222 0000 1234 5678"}})
		wantFlash(t, "bank", msg, "银行账户已保存")
		mustContain(t, "profile", ent.page("/me/profile"), "****", "北京银行亦庄支行")

		// What it can get, before declaring facts: the calculator names them.
		benefits := ent.page("/me/benefits")
		mustContain(t, "benefits", benefits, "算力券", "信息不全")

		// The form of 算力券 asks for the enterprise facts not on record and
		// the item's own, and names each material.
		form := ent.page("/me/applications/new?item=compute_voucher")
		mustContain(t, "form", form, `name="ent.in_etown"`, `name="f.compute_fees"`, `name="f.year"`, "算力服务合同", "算力结算单及发票", "付款凭证", "信用承诺")

		// Submitted with one material missing: the draft is kept and the
		// refusal says which.
		fields := url.Values{"item": {"compute_voucher"}, "key": {"k1"}, "action": {"submit"}, "commitment": {"signed"},
			"shown":        {"ent.in_etown", "ent.serious_dishonesty_listed", "ent.penalties", "ent.ai_enterprise", "f.year", "f.compute_fees"},
			"ent.in_etown": {"true"}, "ent.serious_dishonesty_listed": {"false"}, "ent.ai_enterprise": {"true"}, "f.year": {"2026"}, "f.compute_fees": {"600万"}}
		page, msg := ent.act("/me/applications", fields, file{"mat.contract", "合同.pdf", pdf("contract")}, file{"mat.settlement", "结算单.pdf", pdf("settlement")})
		wantFlash(t, "submit without proof of payment", msg, "error: 缺少申报材料:付款凭证")
		id := appIDRE.FindStringSubmatch(page)[1]
		if st := e.state(id); st != desk.StateDraft {
			t.Fatalf("after a refused submit: %s", st)
		}
		mustContain(t, "draft", page, "合同.pdf", "（必需，未上传）", "可获", "1,800,000.00")
		_, msg = ent.act("/applications/"+id+"/materials", nil, file{"mat.payment_proof", "付款凭证.pdf", pdf("proof")})
		wantFlash(t, "upload", msg, "材料已上传")
		_, msg = ent.act("/applications/"+id+"/submit", url.Values{"key": {"k2"}})
		wantFlash(t, "submit", msg, "申请已提交")
		// A second click on the same form is the same submission.
		_, msg = ent.act("/applications/"+id+"/submit", url.Values{"key": {"k2"}})
		wantFlash(t, "submit again", msg, "申请已提交")

		// Another enterprise and another department see nothing of it.
		if r := e.as("ent-b").get("/applications/" + id); r.status != http.StatusNotFound {
			t.Fatalf("another enterprise: %d", r.status)
		}
		revED := e.as("rev-ed")
		if r := revED.get("/applications/" + id); r.status != http.StatusNotFound {
			t.Fatalf("another department: %d", r.status)
		}
		mustNotContain(t, "another department's queue", revED.page("/review"), id)
		revED.post("/applications/"+id+"/accept", url.Values{})
		if st := e.state(id); st != desk.StateSubmitted {
			t.Fatalf("another department accepted: %s", st)
		}

		// The reviewer returns it for 补正 from the queue.
		queue := rev.page("/review")
		mustContain(t, "queue", queue, id, "形式审查通过", "退回补正")
		_, msg = rev.act("/review/bulk", url.Values{"ids": {id}, "action": {"return"}, "back": {"/review?state=submitted"}})
		wantFlash(t, "return without message", msg, "error: 请写明需要补正的内容")
		_, msg = rev.act("/review/bulk", url.Values{"ids": {id}, "action": {"return"}, "message": {"请补充加盖公章的合同扫描件"}, "back": {"/review?state=submitted"}})
		wantFlash(t, "return", msg, "已退回补正：已处理 1 件")

		// The enterprise sees 补正 in its inbox and on the application,
		// answers with a material and submits again.
		mustContain(t, "inbox", ent.page("/inbox"), "申请被退回补正", "请补充加盖公章的合同扫描件")
		mustContain(t, "returned", ent.page("/applications/"+id), "需要补正", "请补充加盖公章的合同扫描件", "重新提交")
		ent.act("/applications/"+id+"/materials", nil, file{"mat.other", "补正说明.pdf", pdf("reply")})
		_, msg = ent.act("/applications/"+id+"/submit", url.Values{"key": {"k3"}})
		wantFlash(t, "resubmit", msg, "申请已提交")

		// Accepted; a panel of one expert.
		_, msg = rev.act("/applications/"+id+"/accept", url.Values{"message": {"材料齐全"}})
		wantFlash(t, "accept", msg, "形式审查通过")
		mustContain(t, "panel form", rev.page("/applications/"+id), "组建专家组", "评审专家1")
		_, msg = rev.act("/applications/"+id+"/panel", url.Values{"experts": {e.users["exp1"].ID}})
		wantFlash(t, "panel", msg, "专家组已组建")

		// The expert sees nothing of the applicant before declaring.
		exp := e.as("exp1")
		tasks := exp.page("/expert")
		mustContain(t, "tasks", tasks, id, "待声明")
		mustNotContain(t, "tasks before declaring", tasks, entA, "北京亦庄智算科技有限公司")
		before := exp.page("/applications/" + id)
		mustContain(t, "before declaring", before, "利益冲突声明")
		mustNotContain(t, "before declaring", before, entA, "北京亦庄智算科技有限公司", "合同.pdf")
		_, msg = exp.act("/applications/"+id+"/score", url.Values{"score0": {"80"}, "score1": {"80"}, "score2": {"80"}, "amount": {"100"}})
		wantFlash(t, "score before declaring", msg, "error:")
		_, msg = exp.act("/applications/"+id+"/declaration", url.Values{"conflict": {"no"}})
		wantFlash(t, "declare", msg, "已声明无利益冲突")
		after := exp.page("/applications/" + id)
		// …and after declaring, the applicant by name too (an expert may not
		// read the enterprise's own page).
		mustContain(t, "after declaring", after, entA, "北京亦庄智算科技有限公司", "合同.pdf", "计算过程", "第一条")
		mustContain(t, "tasks after declaring", exp.page("/expert"), id, "北京亦庄智算科技有限公司", "已声明无冲突")
		if r := e.as("exp2").get("/applications/" + id); r.status != http.StatusNotFound {
			t.Fatalf("an expert off the panel: %d", r.status)
		}
		_, msg = exp.act("/applications/"+id+"/score", url.Values{"score0": {"80"}, "score1": {"85"}, "score2": {"90"}, "amount": {"2000000"}})
		wantFlash(t, "score above the rules' limit", msg, "error: 建议金额不得超过规则上限")
		_, msg = exp.act("/applications/"+id+"/score", url.Values{"score0": {"80"}, "score1": {"85"}, "score2": {"90"}, "amount": {"150万"}, "comment": {"同意"}})
		wantFlash(t, "score", msg, "评分已提交")

		// The department consolidates; the admin publishes the 公示.
		_, msg = rev.act("/applications/"+id+"/consolidate", url.Values{})
		wantFlash(t, "consolidate", msg, "拟予支持")
		mustContain(t, "proposed queue", admin.page("/review?state=proposed"), id, "发布公示")
		page, msg = admin.act("/review/bulk", url.Values{"ids": {id}, "action": {"publish"}, "title": {"2026年第一批拟支持名单"}, "back": {"/review?state=proposed"}})
		wantFlash(t, "publish", msg, "已发布公示")
		mustContain(t, "公示", page, "北京亦庄智算科技有限公司", "1,500,000.00", "导出 .xlsx")
		pubID := regexp.MustCompile(`/api/v1/publicity/(pub_[0-9a-z]+)/xlsx`).FindStringSubmatch(page)[1]

		// A visitor objects, by name.
		anon := e.as("")
		mustContain(t, "公示 list", anon.page("/publicity"), "2026年第一批拟支持名单", "正在公示")
		_, msg = anon.act("/publicity/"+pubID+"/objections", url.Values{"application_id": {id}, "name": {"王先生"}, "contact": {"13800138000"}, "text": {"太短"}})
		wantFlash(t, "short objection", msg, "error: 异议内容应为10–5000字")
		_, msg = anon.act("/publicity/"+pubID+"/objections", url.Values{"application_id": {id}, "name": {"王先生"}, "contact": {"13800138000"}, "text": {"该项目疑似与另一政策支持的项目重复，请核实。"}})
		wantFlash(t, "objection", msg, "异议已受理")
		if st := e.state(id); st != desk.StateObjected {
			t.Fatalf("after the objection: %s", st)
		}
		mustNotContain(t, "public 公示 page", anon.page("/publicity/"+pubID), "13800138000")

		// The department dismisses it; after the window the award is approved.
		page = rev.page("/applications/" + id)
		mustContain(t, "objection for the department", page, "王先生", "13800138000")
		objID := objRE.FindStringSubmatch(page)[1]
		_, msg = rev.act("/objections/"+objID+"/resolution", url.Values{"upheld": {"no"}, "resolution": {"经核实不重复"}, "back": {"/applications/" + id}})
		wantFlash(t, "resolve", msg, "异议不成立")
		e.clock.Add(10 * 24 * time.Hour)
		if n, _, err := e.svc.CloseWindows(context.Background()); err != nil || n != 1 {
			t.Fatalf("close windows: %d %v", n, err)
		}

		// Finance: a batch, four eyes, the payment.
		fin1, fin2 := e.as("fin1"), e.as("fin2")
		mustContain(t, "finance", fin1.page("/finance"), id)
		page, msg = fin1.act("/finance/batches", url.Values{"ids": {id}})
		wantFlash(t, "batch", msg, "已创建拨付批次：1 笔")
		batchPath := "/finance/batches/" + regexp.MustCompile(`/api/v1/batches/(bat_[0-9a-z]+)/xlsx`).FindStringSubmatch(page)[1]
		mustContain(t, "batch for its creator", page, "须由另一位财政人员审批", "6222000012345678")
		_, msg = fin1.act(batchPath+"/approval", url.Values{"count": {"1"}, "total": {"1500000"}})
		wantFlash(t, "creator approves", msg, "error: 批次创建人不能审批")
		_, msg = fin2.act(batchPath+"/approval", url.Values{"count": {"1"}, "total": {"1500000.01"}})
		wantFlash(t, "wrong control total", msg, "error: 控制总数不符")
		_, msg = fin2.act(batchPath+"/approval", url.Values{"count": {"1"}, "total": {"150万"}})
		wantFlash(t, "approve", msg, "批次已审批")
		_, msg = fin1.act(batchPath+"/payments/"+id, url.Values{"result": {"paid"}, "bank_ref": {"BJ20260316001"}})
		wantFlash(t, "pay", msg, "已登记拨付")
		if st := e.state(id); st != desk.StatePaid {
			t.Fatalf("after payment: %s", st)
		}

		// The enterprise's receipt, and the timeline of the whole path.
		mustContain(t, "payments", ent.page("/me/payments"), "1,500,000.00", "BJ20260316001")
		mustContain(t, "receipt", ent.page("/applications/"+id+"/letter"), "政策兑现资金拨付回执", "BJ20260316001", "计算依据")
		mustContain(t, "timeline", ent.page("/applications/"+id), "退回补正", "专家评审中", "公示中", "公示异议处理中", "已批准", "已拨付")

		// The dashboard agrees with the API.
		var d portal.Dashboard
		getJSON(t, admin, "/api/v1/dashboard", &d)
		var apps []desk.Application
		getJSON(t, admin, "/api/v1/applications?state=paid", &apps)
		funnel := map[string]int{}
		for _, s := range d.Funnel {
			funnel[s.State] = s.Count
		}
		if funnel["submitted"] != 1 || funnel["paid"] != len(apps) || len(apps) != 1 || d.Totals.PaidFen != 150000000 || d.Cycle.Count != 1 {
			t.Fatalf("dashboard: funnel %v, paid %d, cycle %+v (API: %d paid)", funnel, d.Totals.PaidFen, d.Cycle, len(apps))
		}
		var pool portal.PoolYear
		for _, p := range d.Pools {
			for _, y := range p.Years {
				if p.Pool == "compute_voucher" && y.Year == 2026 {
					pool = y
				}
			}
		}
		if pool.PaidFen != 150000000 || pool.RemainingFen != 10_000_000_000-150000000 || !pool.LedgerMatches || len(pool.BurnDown) != 1 {
			t.Fatalf("compute pool 2026: %+v", pool)
		}
		if got := d.ByArticle; len(got) != 1 || got[0].Name != "第一条" || got[0].PaidFen != 150000000 {
			t.Fatalf("by article: %+v", got)
		}
		mustContain(t, "dashboard page", admin.page("/dashboard"), `data-dashboard="`, "平台未测量", "echarts.min.js", "dashboard.js")
		if r := ent.get("/api/v1/dashboard"); r.status != http.StatusForbidden {
			t.Fatalf("enterprise reads the dashboard: %d", r.status)
		}
		r := admin.get("/api/v1/dashboard/xlsx?chart=funnel")
		x, err := excelize.OpenReader(bytes.NewReader([]byte(r.body)))
		if r.status != 200 || err != nil {
			t.Fatalf("xlsx: %d %v", r.status, err)
		}
		rows, _ := x.GetRows("申请漏斗")
		if len(rows) != 7 || rows[6][0] != "拨付" || rows[6][1] != "1" {
			t.Fatalf("funnel sheet: %v", rows)
		}
	})
}

func getJSON(t *testing.T, c *client, path string, v any) {
	t.Helper()
	r := c.get(path)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestPortalOffersAndConflicts: an admin imports a 免申即享 list from the
// admin page; the enterprise sees the offer under 我能获得什么 and takes
// it without a form. An expert who declares a conflict is replaced.
func TestPortalOffersAndConflicts(t *testing.T) {
	e := newEnv(t, storetest.New(t, store.SQLite))
	ctx := context.Background()
	adminActor := desk.Actor{ID: e.users["admin"].ID, Role: desk.RoleAdmin}
	entActor := desk.Actor{ID: e.users["ent"].ID, Role: desk.RoleEnterprise, Enterprise: entA}
	if _, err := e.svc.RegisterEnterprise(ctx, adminActor, entA, "北京亦庄智算科技有限公司"); err != nil {
		t.Fatal(err)
	}
	facts := map[string]json.RawMessage{"in_etown": json.RawMessage("true"), "serious_dishonesty_listed": json.RawMessage("false"),
		"penalties": json.RawMessage("[]"), "ai_enterprise": json.RawMessage("true")}
	if err := e.svc.SetFacts(ctx, entActor, entA, facts, desk.SourceSelf, "2026-01-05"); err != nil {
		t.Fatal(err)
	}
	admin, ent := e.as("admin"), e.as("ent")
	csv := "uscc,name,date\n" + entA + ",北京亦庄智算科技有限公司,2026-01-15\n"
	r := admin.multipart("/admin/offers/import", url.Values{"item": {"high_tech"}, "source": {"2026年度高新技术企业认定名单"}}, file{"file", "名单.csv", []byte(csv)})
	if r.status != http.StatusOK || !strings.Contains(r.body, "生成 1 个免申即享事项") {
		t.Fatalf("import: %d %s", r.status, flashOf(r.body))
	}
	benefits := ent.page("/me/benefits")
	mustContain(t, "benefits", benefits, "免申即享", "国家高新技术企业", "300,000.00", "确认并申领")
	offerID := regexp.MustCompile(`/offers/(ofr_[0-9a-z]+)/accept`).FindStringSubmatch(benefits)[1]
	_, msg := ent.act("/offers/"+offerID+"/accept", nil)
	wantFlash(t, "accept without a bank account", msg, "error: 请先登记银行账户")
	ent.act("/enterprises/"+entA+"/bank-account", url.Values{"bank_name": {"北京银行"}, "bank_account": {"20000000012345678"}})
	page, msg := ent.act("/offers/"+offerID+"/accept", nil)
	wantFlash(t, "accept", msg, "已确认免申即享")
	id := appIDRE.FindStringSubmatch(page)[1]
	if st := e.state(id); st != desk.StateSubmitted {
		t.Fatalf("offer accepted: %s", st)
	}
	var d portal.Dashboard
	getJSON(t, admin, "/api/v1/dashboard", &d)
	if d.Offers.FromOffers != 1 || d.Offers.Applications != 1 || d.Offers.Share != "100.0%" {
		t.Fatalf("免申即享 share: %+v", d.Offers)
	}

	// A panel of two; the first expert declares a conflict and is replaced.
	rev := e.as("rev")
	vals := url.Values{"name": {"2026年度第一批"}, "opens": {"2026-03-01"}, "closes": {"2026-06-30"}, "items": {"compute_voucher"}}
	admin.act("/admin/rounds", vals)
	app, err := e.svc.CreateApplication(ctx, entActor, "compute_voucher", map[string]json.RawMessage{"year": json.RawMessage("2026"), "compute_fees": json.RawMessage(`"1000000"`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"contract", "settlement", "payment_proof"} {
		if _, err := e.svc.Upload(ctx, entActor, app.ID, m, m+".pdf", pdf(m)); err != nil {
			t.Fatal(err)
		}
	}
	ent.act("/applications/"+app.ID+"/commitment", nil)
	ent.act("/applications/"+app.ID+"/submit", url.Values{"key": {"x"}})
	rev.act("/applications/"+app.ID+"/accept", nil)
	_, msg = rev.act("/applications/"+app.ID+"/panel", url.Values{"experts": {e.users["exp1"].ID, e.users["exp2"].ID}})
	wantFlash(t, "panel", msg, "专家组已组建")
	_, msg = e.as("exp1").act("/applications/"+app.ID+"/declaration", url.Values{"conflict": {"yes"}, "note": {"曾任该企业顾问"}})
	wantFlash(t, "conflict", msg, "已声明利益冲突并回避")
	mustContain(t, "panel after a conflict", rev.page("/applications/"+app.ID), "回避", "评审专家3")
	mustNotContain(t, "owner's timeline", ent.page("/applications/"+app.ID), e.users["exp1"].ID, "评审专家1")
}
