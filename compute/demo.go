package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/uscc"
)

// DemoReport counts what SeedDemo made.
type DemoReport struct {
	Providers   int `json:"providers"`
	Listings    int `json:"listings"`
	Contracts   int `json:"contracts"`
	Claims      int `json:"claims"`
	Records     int `json:"records"`
	Redemptions int `json:"redemptions"`
}

type demoListing struct {
	chip, vendor string
	cards, srv   int
	price        string // yuan per card-hour
	listedAgo    int    // days before now
}

// demoProviders are the demo's providers; the first is the demo provider
// user's when one is given.
var demoProviders = []struct {
	name     string
	kinds    []string
	listings []demoListing
}{
	{"亦庄算力服务有限公司", []string{KindCompute}, []demoListing{{"Atlas 800T A2", "昇腾", 512, 64, "12.50", 200}, {"H800", "英伟达", 128, 16, "28.00", 150}}},
	{"北京智算云科技有限公司", []string{KindCompute}, []demoListing{{"思元 590", "寒武纪", 256, 32, "11.00", 180}}},
	{"亦庄国产算力中心有限公司", []string{KindCompute}, []demoListing{{"深算二号 DCU", "海光", 384, 48, "9.80", 240}}},
	{"北京昆仑智算科技有限公司", []string{KindCompute}, []demoListing{{"昆仑芯 R300", "昆仑芯", 160, 20, "10.50", 120}}},
	{"北京燧原智能计算有限公司", []string{KindCompute}, []demoListing{{"云燧 T21", "燧原", 128, 16, "9.00", 95}}},
	{"北京摩尔算力科技有限公司", []string{KindCompute}, []demoListing{{"MTT S4000", "摩尔线程", 96, 12, "8.50", 60}}},
	{"北京亦庄模型服务有限公司", []string{KindCompute, KindModel}, []demoListing{{"A800", "英伟达", 64, 8, "22.00", 300}}},
	{"北京沐曦智算有限公司", []string{KindCompute}, []demoListing{{"曦思 N260", "沐曦", 64, 8, "8.80", 45}}},
	{"北京天数云算科技有限公司", []string{KindCompute}, []demoListing{{"天垓 150", "天数智芯", 80, 10, "8.20", 130}}},
	{"北京星云大模型科技有限公司", []string{KindModel, KindCompute}, []demoListing{{"Gaudi 2", "英特尔", 32, 4, "15.00", 90}}},
}

type demoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *demoClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *demoClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// SeedDemo adds the compute platform's demo data to a database the
// workflow's demo (desk.SeedDemo) has seeded: ten providers on the
// whitelist with listings (most on domestic chips) and one awaiting
// review; scenarios for model vouchers; contracts of the demo enterprises
// (actors.Enterprises) and of four more, with voucher claims taken through
// the workflow (review, 公示, the ledger's reservation); settlement records
// submitted, confirmed and disputed; a redemption paid through a four-eyes
// payment batch and one waiting for finance. providers are the credit
// codes of demo provider users (the first is made the first provider).
// The data are the same at every run, dated over the weeks before now.
func (s *Service) SeedDemo(ctx context.Context, key []byte, actors desk.DemoActors, providers []string, now time.Time) (DemoReport, error) {
	var rep DemoReport
	base := now.AddDate(0, 0, -45)
	if base.In(beijing).Year() != now.In(beijing).Year() {
		base = time.Date(now.In(beijing).Year(), 1, 2, 9, 0, 0, 0, beijing)
	}
	clk := &demoClock{t: base}
	d, err := desk.New(s.db, s.led, s.bundle, desk.Options{Now: clk.now, Key: key, Experts: func(context.Context) ([]string, error) { return actors.Experts, nil }})
	if err != nil {
		return rep, err
	}
	c, err := New(d, Options{Now: clk.now, Logger: s.opt.Logger})
	if err != nil {
		return rep, err
	}
	admin := desk.Actor{ID: actors.Admin, Role: desk.RoleAdmin}
	day := func(t time.Time, offset int) string { return today(t.AddDate(0, 0, offset)).String() }

	// Providers, the whitelist and listings.
	var prov []*Provider
	var pactors []desk.Actor
	for i, dp := range demoProviders {
		code := uscc.Complete(fmt.Sprintf("91110302MA%07X", 0x3C0000+i))
		if i < len(providers) {
			code = providers[i]
		}
		a := desk.Actor{ID: "demo-provider-" + code, Role: desk.RoleProvider, Enterprise: code}
		p, err := c.RegisterProvider(ctx, a, ProviderInput{USCC: code, Name: dp.name, Kinds: dp.kinds, Contact: fmt.Sprintf("010-6785%04d", 1000+i*17)})
		if err != nil {
			return rep, fmt.Errorf("demo provider %s: %w", dp.name, err)
		}
		if p, err = c.ApproveProvider(ctx, admin, p.ID, "资质材料齐全，纳入白名单"); err != nil {
			return rep, err
		}
		for _, l := range dp.listings {
			price, err := money.Parse(l.price)
			if err != nil {
				return rep, err
			}
			in := ListingInput{ChipModel: l.chip, Vendor: l.vendor, Cards: l.cards, Servers: l.srv, InZone: true, Location: fmt.Sprintf("北京经济技术开发区 %d 号智算机房", i+1),
				Price: money.Amount(price), ListedOn: day(now, -l.listedAgo)}
			if _, err := c.CreateListing(ctx, admin, p.ID, in); err != nil {
				return rep, fmt.Errorf("demo listing %s: %w", l.chip, err)
			}
			rep.Listings++
		}
		prov, pactors = append(prov, p), append(pactors, a)
		rep.Providers++
	}
	pendingCode := uscc.Complete(fmt.Sprintf("91110302MA%07X", 0x3C0000+len(demoProviders)))
	if _, err := c.RegisterProvider(ctx, admin, ProviderInput{USCC: pendingCode, Name: "北京新算科技有限公司", Kinds: []string{KindCompute}, Contact: "010-67859999"}); err != nil {
		return rep, err
	}
	if scs, err := c.Scenarios(ctx); err != nil {
		return rep, err
	} else if len(scs) == 0 {
		for _, sc := range []Scenario{{Code: "JB-2026-01", Name: "智能制造质检大模型（揭榜挂帅）", Kind: ScenarioJiebang, Active: true},
			{Code: "BG-2026-01", Name: "医疗影像辅助诊断标杆场景", Kind: ScenarioBenchmark, Active: true}} {
			if err := c.PutScenario(ctx, admin, sc); err != nil {
				return rep, err
			}
		}
	}

	// The customers: the demo enterprise users and four more, with clean
	// facts and bank accounts.
	codes := append([]string(nil), actors.Enterprises...)
	names := []string{"北京亦庄灵犀智能科技有限公司", "北京亦庄数元信息技术有限公司", "北京亦庄视界机器人有限公司", "北京亦庄启元软件有限公司"}
	for i, name := range names {
		code := uscc.Complete(fmt.Sprintf("91110302MA%07X", 0x3D0000+i))
		if _, err := d.RegisterEnterprise(ctx, admin, code, name); err != nil {
			return rep, err
		}
		if err := d.SetBankAccount(ctx, desk.Actor{ID: "demo-ent-" + code, Role: desk.RoleEnterprise, Enterprise: code}, code, "北京银行经济技术开发区支行", fmt.Sprintf("2000%014d", 9_100_000+i*41)); err != nil {
			return rep, err
		}
		codes = append(codes, code)
	}
	clean := map[string]json.RawMessage{"in_etown": json.RawMessage("true"), "serious_dishonesty_listed": json.RawMessage("false"), "penalties": json.RawMessage("[]"),
		"ai_enterprise": json.RawMessage("true")}
	ents := make([]desk.Actor, len(codes))
	for i, code := range codes {
		ents[i] = desk.Actor{ID: "demo-ent-" + code, Role: desk.RoleEnterprise, Enterprise: code}
		if err := d.SetFacts(ctx, ents[i], code, clean, desk.SourceSelf, day(base, -1)); err != nil {
			return rep, err
		}
	}

	// Contracts: customer, provider, kind, amount in yuan, what happens.
	const (
		none      = iota // a contract only
		review           // a claim under review
		pending          // approved; records awaiting confirmation, one disputed
		confirmed        // approved; records confirmed, not yet redeemed
		payable          // redeemed, for finance to pay
		paid             // redeemed and paid through a batch
	)
	plan := []struct {
		ent, prov int
		kind      string
		amount    int64
		fate      int
	}{
		{0, 0, KindCompute, 8_000_000, payable},
		{1, 6, KindModel, 2_000_000, paid},
		{2, 1, KindCompute, 3_000_000, pending},
		{3, 2, KindCompute, 5_000_000, review},
		{4, 3, KindCompute, 1_500_000, none},
		{5, 4, KindCompute, 2_000_000, confirmed},
		{1, 2, KindCompute, 1_200_000, pending},
	}
	type made struct {
		c     *Contract
		claim *Claim
		fate  int
		prov  int
	}
	var all []made
	var toPublish []string
	starts := day(base, -30)
	ends := day(base, 300)
	for i, pl := range plan {
		if pl.ent >= len(ents) {
			continue
		}
		in := ContractInput{Provider: prov[pl.prov].ID, Kind: pl.kind, Number: fmt.Sprintf("HT-%d-%03d", base.Year(), i+1), Title: "智算服务合同",
			Amount: money.Amount(pl.amount * 100), Starts: starts, Ends: ends, SignedOn: day(base, -35)}
		if pl.kind == KindModel {
			in.Title, in.Deployment, in.Scenario = "大模型服务合同", "private", "JB-2026-01"
			if scs, _ := c.Scenarios(ctx); len(scs) > 0 {
				in.Scenario = scs[0].Code
			}
		}
		ct, err := c.CreateContract(ctx, ents[pl.ent], in)
		if err != nil {
			return rep, fmt.Errorf("demo contract %d: %w", i+1, err)
		}
		rep.Contracts++
		m := made{c: ct, fate: pl.fate, prov: pl.prov}
		if pl.fate != none {
			if m.claim, err = c.ClaimVoucher(ctx, ents[pl.ent], ct.ID, 0); err != nil {
				return rep, fmt.Errorf("demo claim %d: %w", i+1, err)
			}
			rep.Claims++
			app, err := d.Get(ctx, ents[pl.ent], m.claim.ApplicationID)
			if err != nil {
				return rep, err
			}
			for _, mat := range s.bundle.Item(app.Item).Materials {
				doc := []byte(fmt.Sprintf("%%PDF-1.4\n%% %s %s\n%%%%EOF\n", mat.ID, ct.Number))
				if _, err := d.Upload(ctx, ents[pl.ent], app.ID, mat.ID, mat.ID+".pdf", doc); err != nil {
					return rep, err
				}
			}
			if err := d.SignCommitment(ctx, ents[pl.ent], app.ID); err != nil {
				return rep, err
			}
			if _, err := d.Submit(ctx, ents[pl.ent], app.ID, ""); err != nil {
				return rep, err
			}
			if pl.fate != review {
				if err := demoPropose(ctx, d, actors, app.ID); err != nil {
					return rep, fmt.Errorf("demo claim %d: %w", i+1, err)
				}
				toPublish = append(toPublish, app.ID)
			}
		}
		all = append(all, m)
	}
	rev := demoReviewer(actors)
	if len(toPublish) > 0 {
		if _, err := d.Publish(ctx, rev, "算力券/模型券拟支持名单", toPublish); err != nil {
			return rep, err
		}
		clk.set(base.AddDate(0, 0, 10))
		if _, _, err := d.CloseWindows(ctx); err != nil {
			return rep, err
		}
	}

	// Settlement records, monthly, from the contract's start to now.
	clk.set(base.AddDate(0, 0, 12))
	if _, err := c.Vouchers(ctx, admin, VoucherFilter{}); err != nil { // activate the approved claims
		return rep, err
	}
	cStart, _ := policy.ParseDate(starts)
	for _, m := range all {
		if m.fate == none || m.fate == review {
			continue
		}
		var recs []RecordInput
		for k := range 3 {
			from := cStart + policy.Date(k*14)
			to := from + 13
			hours := int64(m.c.Amount) / 100 / 40 / int64(1+k%2) // a share of the contract each fortnight
			amount := money.Amount(hours * 1000)                 // 10 yuan per card-hour
			r := RecordInput{Contract: m.c.ID, PeriodStart: from.String(), PeriodEnd: to.String(), Amount: amount,
				InvoiceNo: fmt.Sprintf("%s-%02d", m.c.Number, k+1), InvoiceDate: (to + 1).String(), DeliveryRef: fmt.Sprintf("JF-%s-%02d", m.c.Number, k+1)}
			if m.c.Kind == KindModel {
				r.APICalls = hours * 120
			} else {
				r.CardHours = strconv.FormatInt(hours, 10)
			}
			recs = append(recs, r)
		}
		res, err := c.SubmitRecords(ctx, pactors[m.prov], recs, ImportOptions{})
		if err != nil {
			return rep, fmt.Errorf("demo records of %s: %w", m.c.Number, err)
		}
		if !res.Committed || res.Refused > 0 {
			return rep, fmt.Errorf("demo records of %s: %d refused (%+v)", m.c.Number, res.Refused, res.Errors)
		}
		rep.Records += res.Imported
	}
	clk.set(base.AddDate(0, 0, 20))
	fin1 := desk.Actor{ID: actors.Finance[0], Role: desk.RoleFinance}
	fin2 := desk.Actor{ID: actors.Finance[1], Role: desk.RoleFinance}
	for _, m := range all {
		ent := desk.Actor{ID: "demo-ent-" + m.c.USCC, Role: desk.RoleEnterprise, Enterprise: m.c.USCC}
		switch m.fate {
		case pending:
			rs, err := c.Records(ctx, ent, RecordFilter{Contract: m.c.ID, Limit: 1})
			if err != nil {
				return rep, err
			}
			if _, err := c.DisputeRecords(ctx, ent, m.c.ID, []int64{rs[0].ID}, "卡时与平台调度记录不一致，请核对"); err != nil {
				return rep, err
			}
		case confirmed, payable, paid:
			if _, err := c.ConfirmRecords(ctx, ent, m.c.ID, nil); err != nil {
				return rep, err
			}
			if m.fate == confirmed {
				continue
			}
			red, err := c.Redeem(ctx, ent, m.c.ID)
			if err != nil {
				return rep, fmt.Errorf("demo redemption of %s: %w", m.c.Number, err)
			}
			rep.Redemptions++
			if m.fate == paid && red.State == RedemptionPayable {
				b, err := d.CreateBatch(ctx, fin1, []string{red.ID})
				if err != nil {
					return rep, err
				}
				if _, err := d.ApproveBatch(ctx, fin2, b.ID, b.Count, int64(b.Total)); err != nil {
					return rep, err
				}
				if _, err := d.RecordPayment(ctx, fin1, b.ID, red.ID, true, "BJBANK"+day(base, 22)+"90001"); err != nil {
					return rep, err
				}
			}
		}
	}
	return rep, nil
}

// demoReviewer is the reviewer of the vouchers' department (信息技术产业
// 局), or the admin.
func demoReviewer(actors desk.DemoActors) desk.Actor {
	for dept, id := range actors.Reviewers {
		if dept == "info_tech" {
			return desk.Actor{ID: id, Role: desk.RoleReviewer, Department: dept}
		}
	}
	return desk.Actor{ID: actors.Admin, Role: desk.RoleAdmin}
}

// demoPropose takes a submitted claim through review to a proposal: 形式
// 审查, the expert panel when the item needs one, and the ledger's
// reservation of what the rules allow.
func demoPropose(ctx context.Context, d *desk.Service, actors desk.DemoActors, id string) error {
	rev := demoReviewer(actors)
	app, err := d.Accept(ctx, rev, id, "材料齐全，形式审查通过")
	if err != nil {
		return err
	}
	if !app.ReviewRequired {
		_, err = d.Opinion(ctx, rev, id, "同意按合同金额的支持比例支持")
		return err
	}
	if len(actors.Experts) < 3 {
		return fmt.Errorf("demo: the panel needs three experts")
	}
	panel := actors.Experts[:3]
	if _, err := d.AssignPanel(ctx, rev, id, panel, 0, panel[0]); err != nil {
		return err
	}
	for _, ex := range panel {
		a := desk.Actor{ID: ex, Role: desk.RoleExpert}
		if err := d.Declare(ctx, a, id, false, ""); err != nil {
			return err
		}
		if err := d.Score(ctx, a, id, map[string]int{"necessity": 85}, int64(app.Allowed), "合同真实，算力用途明确，同意支持"); err != nil {
			return err
		}
	}
	_, err = d.Consolidate(ctx, rev, id, "专家组一致同意")
	return err
}
