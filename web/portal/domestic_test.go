package portal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"policydesk/compute"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/store"
	"policydesk/store/storetest"
)

// domesticSetup makes entB (the provider "provider", whose enterprise user
// is "ent-b") a whitelisted cloud company with 30 domestic servers listed
// in the zone since 2025-10-01 and serving entA, and opens a round for
// 第二条.
func domesticSetup(t *testing.T, e *computeEnv) {
	t.Helper()
	ctx := context.Background()
	_, msg := e.as("admin").act("/admin/rounds", url.Values{"name": {"2026年度国产算力服务器"}, "opens": {"2026-03-01"}, "closes": {"2026-12-31"},
		"items": {compute.ItemDomestic}})
	wantFlash(t, "round", msg, "已开启申报批次")
	for login, code := range map[string]string{"ent": entA, "ent-b": entB} {
		a := e.actor(login)
		if _, err := e.svc.RegisterEnterprise(ctx, a, code, e.users[login].Name); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SetBankAccount(ctx, a, code, "北京银行亦庄支行", "6222000012345678"); err != nil {
			t.Fatal(err)
		}
		facts := map[string]json.RawMessage{"in_etown": json.RawMessage("true"), "serious_dishonesty_listed": json.RawMessage("false"),
			"penalties": json.RawMessage("[]"), "ai_enterprise": json.RawMessage("true"), "cloud_service_provider": json.RawMessage("true")}
		if err := e.svc.SetFacts(ctx, a, code, facts, desk.SourceSelf, "2026-01-01"); err != nil {
			t.Fatal(err)
		}
	}
	admin, prv := e.actor("admin"), e.actor("provider")
	pv, err := e.c.RegisterProvider(ctx, prv, compute.ProviderInput{USCC: entB, Name: "亦庄算力服务有限公司", Kinds: []string{compute.KindCompute}, Contact: "010-12345678"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ApproveProvider(ctx, admin, pv.ID, "材料齐全"); err != nil {
		t.Fatal(err)
	}
	l, err := e.c.CreateListing(ctx, admin, pv.ID, compute.ListingInput{ChipModel: "910B", Vendor: "昇腾", Cards: 240, Servers: 30, InZone: true,
		Location: "亦庄智算中心", Price: money.Amount(9_90), ListedOn: "2025-10-01"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.c.CreateContract(ctx, e.actor("ent"), compute.ContractInput{Provider: pv.ID, Kind: compute.KindCompute, Number: "C-1", Amount: money.Amount(100_000_00),
		Starts: "2026-01-01", Ends: "2026-12-31", SignedOn: "2025-12-20", ListingID: l.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.SubmitRecords(ctx, prv, []compute.RecordInput{{Contract: c.ID, PeriodStart: "2026-01-01", PeriodEnd: "2026-01-31", CardHours: "1000",
		Amount: money.Amount(9_900_00), InvoiceNo: "S-C-1", InvoiceDate: "2026-02-01"}}, compute.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.ConfirmRecords(ctx, e.actor("ent"), c.ID, nil); err != nil {
		t.Fatal(err)
	}
}

// purchaseForm is a purchase of 20 listed domestic servers, 5 foreign ones
// and one of a vendor not on the list.
func purchaseForm() url.Values {
	return url.Values{"project": {"亦庄智算中心一期"}, "contract_no": {"CG-2026-01"}, "seller": {"某服务器厂商"}, "signed_on": {"2025-09-15"}, "total": {"3000万"},
		"l0_vendor": {"昇腾"}, "l0_chip": {"910B"}, "l0_servers": {"20"}, "l0_cards": {"160"}, "l0_amount": {"20,000,000"},
		"l1_vendor": {"英伟达"}, "l1_chip": {"H20"}, "l1_servers": {"5"}, "l1_amount": {"5000000.50"},
		"l2_vendor": {"某芯片<厂商>"}, "l2_chip": {"X1"}, "l2_servers": {"1"}, "l2_amount": {"1"}}
}

// TestDomesticPages: 第二条 by the pages — who may verify and apply, a
// verification's table, bad input answered 400 with the form kept, and an
// application created by the enterprise.
func TestDomesticPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newComputeEnv(t, db)
		domesticSetup(t, e)
		ent, rev, exp, prv, anon := e.as("ent-b"), e.as("rev"), e.as("exp1"), e.as("provider"), e.as("")

		// Refusals: the route table's, as on every page.
		refused := func(what string, r resp) {
			t.Helper()
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "您的角色无权进行此操作") {
				t.Fatalf("%s: %d, want the role's refusal", what, r.status)
			}
		}
		refused("an expert's /domestic", exp.get("/domestic"))
		refused("an expert's verify", exp.post("/domestic/verify", purchaseForm()))
		refused("an expert's application", exp.post("/domestic/applications", purchaseForm()))
		refused("a reviewer's application", rev.post("/domestic/applications", purchaseForm()))
		refused("a provider's application", prv.post("/domestic/applications", purchaseForm()))
		for _, path := range []string{"/domestic"} {
			if r := anon.get(path); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login?next=") {
				t.Fatalf("a visitor's %s: %d %s", path, r.status, r.header.Get("Location"))
			}
		}
		if r := anon.post("/domestic/verify", purchaseForm()); r.status < 300 || r.status >= 500 || r.status == http.StatusOK {
			t.Fatalf("a visitor's verify: %d", r.status)
		}
		mustNotContain(t, "the expert's navigation", e.as("exp1").page("/expert"), `href="/domestic"`)

		// The enterprise's page: the navigation, the form, both buttons.
		page := ent.page("/domestic")
		mustContain(t, "the enterprise's page", page, `href="/domestic"`, "国产算力服务器（第二条）", `name="l9_amount"`, "昇腾（国产）", "核验", `formaction="/domestic/applications"`)
		mustNotContain(t, "the enterprise's page", page, `name="provider"`, "核验结果")

		// A verification: the table, the amounts, the reasons in Chinese.
		r := ent.post("/domestic/verify", purchaseForm())
		if r.status != http.StatusOK {
			t.Fatalf("verify: %d\n%.3000s", r.status, r.body)
		}
		mustContain(t, "the verification", r.body, "核验结果", "全部计入", "非国产智算芯片", "non_domestic", "20,000,000.00 元", "5,000,000.50 元",
			`<span class="state st-ok">是</span>`, `value="CG-2026-01"`, `value="3000万"`, `value="5000000.50"`, `<option value="英伟达" selected>`,
			"芯片厂商不在厂商名录中", `<option value="某芯片&lt;厂商&gt;" selected>`)
		if strings.Count(r.body, "20,000,000.00 元") < 3 { // line amount, line verified, domestic, verified
			t.Fatalf("the amounts:\n%s", r.body[strings.Index(r.body, "<h1>"):])
		}

		// The zone's staff verify a provider's purchase by its credit code.
		mustContain(t, "the reviewer's page", rev.page("/domestic"), `name="provider"`, `href="/domestic"`)
		f := purchaseForm()
		f.Set("provider", entB)
		r = rev.post("/domestic/verify", f)
		if r.status != http.StatusOK || !strings.Contains(r.body, "核验结果") {
			t.Fatalf("the reviewer's verify: %d\n%.3000s", r.status, r.body)
		}
		mustNotContain(t, "the reviewer's verification", r.body, `formaction="/domestic/applications"`)

		// Bad input: 400, the message in Chinese, the form as typed.
		f = purchaseForm()
		f.Set("project", " ")
		r = ent.post("/domestic/verify", f)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "不能为空") || !strings.Contains(r.body, `value="CG-2026-01"`) {
			t.Fatalf("an empty project: %d\n%.3000s", r.status, r.body)
		}
		mustNotContain(t, "an empty project", r.body, "核验结果")
		f = purchaseForm()
		f.Set("total", "三千万")
		r = ent.post("/domestic/verify", f)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "金额应为元") || !strings.Contains(r.body, `value="三千万"`) || !strings.Contains(r.body, `value="亦庄智算中心一期"`) {
			t.Fatalf("a malformed total: %d\n%.3000s", r.status, r.body)
		}
		f = purchaseForm()
		f.Set("l1_amount", "5,000,000.123")
		r = ent.post("/domestic/applications", f)
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "第 2 项金额应为元") || !strings.Contains(r.body, `value="5,000,000.123"`) {
			t.Fatalf("a malformed line amount: %d\n%.3000s", r.status, r.body)
		}
		f = purchaseForm()
		f.Set("l0_servers", "-3")
		if r = ent.post("/domestic/verify", f); r.status != http.StatusBadRequest || !strings.Contains(r.body, "第 1 项服务器台数应为非负整数") {
			t.Fatalf("negative servers: %d\n%.3000s", r.status, r.body)
		}

		// A purchase with nothing listed is refused with its verification.
		f = purchaseForm()
		for _, k := range []string{"l0_vendor", "l0_chip", "l0_servers", "l0_cards", "l0_amount"} {
			f.Del(k)
		}
		r = ent.post("/domestic/applications", f)
		if r.status != http.StatusConflict || !strings.Contains(r.body, "未通过算力调度平台上架核验") || !strings.Contains(r.body, "核验结果") {
			t.Fatalf("nothing listed: %d\n%.3000s", r.status, r.body)
		}

		// The enterprise applies: a draft application for 第二条.
		r = ent.post("/domestic/applications", purchaseForm())
		loc := r.header.Get("Location")
		if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/applications/app_") {
			t.Fatalf("apply: %d %s\n%.3000s", r.status, loc, r.body)
		}
		page = ent.page(loc)
		mustContain(t, "the application", page, "已创建第二条申请", "20,000,000.00 元")
		app, err := e.svc.Get(context.Background(), e.actor("ent-b"), strings.TrimPrefix(loc, "/applications/"))
		if err != nil || app.Item != compute.ItemDomestic || app.USCC != entB {
			t.Fatalf("application %+v %v", app, err)
		}
		// The same contract again is refused (its servers are counted now),
		// with the form kept.
		r = ent.post("/domestic/applications", purchaseForm())
		if r.status != http.StatusConflict || !strings.Contains(r.body, `class="flash error"`) || !strings.Contains(r.body, `value="CG-2026-01"`) {
			t.Fatalf("the same contract again: %d\n%.3000s", r.status, r.body)
		}
	})
}
