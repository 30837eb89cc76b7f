package desk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"policydesk/ledger"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/uscc"
)

// DemoActors are the user ids the demo data is made by; the web layer
// creates users with these ids and prints their logins.
type DemoActors struct {
	Admin       string
	Reviewers   map[string]string // department id → user id
	Experts     []string
	Finance     [2]string
	Enterprises []string // USCCs that demo enterprise users sign in as (included in the data)
}

// DemoReport counts what the seeder made.
type DemoReport struct {
	Enterprises  int            `json:"enterprises"`
	Applications int            `json:"applications"`
	ByState      map[string]int `json:"by_state"`
}

type demoClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *demoClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *demoClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var demoNames = []string{"智算", "云脑", "星河", "天枢", "灵犀", "数元", "芯途", "言川", "视界", "深度", "启元", "智谷", "亦芯", "百川", "极光", "海纳"}
var demoKinds = []string{"科技", "智能", "数据", "信息技术", "机器人", "医疗科技", "汽车科技", "软件"}

// SeedDemo fills an empty database with a realistic, deterministic data
// set: n enterprises with facts and bank accounts, a round for every item,
// and applications in every state across all items — drafts, 补正, expert
// review, waitlisted, an open 公示 with an objection, approved, a paid batch,
// a clawback — dated over the weeks before now.
func SeedDemo(ctx context.Context, db *store.DB, led *ledger.Ledger, bundle *policy.Bundle, key []byte, actors DemoActors, n int, now time.Time) (DemoReport, error) {
	return SeedDemoProgress(ctx, db, led, bundle, key, actors, n, now, nil)
}

// SeedDemoProgress is SeedDemo telling progress (when not nil) how far it
// is, as done steps of total, after each step.
func SeedDemoProgress(ctx context.Context, db *store.DB, led *ledger.Ledger, bundle *policy.Bundle, key []byte, actors DemoActors, n int, now time.Time,
	progress func(done, total int)) (DemoReport, error) {
	rep := DemoReport{ByState: map[string]int{}}
	total := 2*n + 1 // each enterprise, each application's advance (scaled to n), the 公示 and payments
	step := func(done int) {
		if progress != nil {
			progress(min(done, total), total)
		}
	}
	clk := &demoClock{t: now.AddDate(0, 0, -70)}
	s, err := New(db, led, bundle, Options{Now: clk.now, Key: key, Experts: func(context.Context) ([]string, error) { return actors.Experts, nil }})
	if err != nil {
		return rep, err
	}
	admin := Actor{ID: actors.Admin, Role: RoleAdmin}
	fin1 := Actor{ID: actors.Finance[0], Role: RoleFinance}
	fin2 := Actor{ID: actors.Finance[1], Role: RoleFinance}
	reviewerFor := func(app *Application) Actor {
		for _, d := range app.Departments {
			if id, ok := actors.Reviewers[d]; ok {
				return Actor{ID: id, Role: RoleReviewer, Department: d}
			}
		}
		return admin
	}
	if _, err := s.FundPools(ctx, System); err != nil {
		return rep, err
	}
	var items []string
	for _, it := range bundle.Items {
		items = append(items, it.ID)
	}
	day := func(offset int) string { return policy.DateOf(now.AddDate(0, 0, offset).In(beijing)).String() }
	if _, err := s.OpenRound(ctx, admin, fmt.Sprintf("%d年度第一批申报", now.Year()), items, day(-75), day(40)); err != nil {
		return rep, err
	}
	r := rand.New(rand.NewPCG(2024, 29))
	codes := append([]string(nil), actors.Enterprises...)
	for i := len(codes); i < n; i++ {
		codes = append(codes, uscc.Complete(fmt.Sprintf("91110302MA%07X", 0x1A0000+i)))
	}
	type planned struct {
		app    *Application
		target string
	}
	var plan []planned
	targets := []string{StateDraft, StateSubmitted, StateReturned, StateAccepted, StateExpertReview, StateProposed, StatePublicized,
		StateObjected, StateApproved, StateBatched, StatePaid, StatePaid, StatePaid, StateRejected, StateWithdrawn, StateClawedBack}
	for i, code := range codes {
		name := "北京亦庄" + demoNames[i%len(demoNames)] + demoKinds[(i/len(demoNames))%len(demoKinds)] + fmt.Sprintf("有限公司(%03d)", i+1)
		if _, err := s.RegisterEnterprise(ctx, admin, code, name); err != nil {
			return rep, err
		}
		ent := Actor{ID: "demo-ent-" + code, Role: RoleEnterprise, Enterprise: code}
		facts := map[string]any{"in_etown": r.IntN(100) < 94, "serious_dishonesty_listed": r.IntN(100) < 1, "penalties": []any{},
			"ai_enterprise": r.IntN(100) < 75, "cloud_service_provider": i%23 == 0}
		if err := s.SetFacts(ctx, ent, code, rawJSON(facts), SourceSelf, day(-80)); err != nil {
			return rep, err
		}
		if err := s.SetBankAccount(ctx, ent, code, "北京银行经济技术开发区支行", fmt.Sprintf("2000%014d", 7_000_000+i*37)); err != nil {
			return rep, err
		}
		rep.Enterprises++
		if i%5 == 4 {
			continue // not every enterprise applies
		}
		item := items[i%len(items)]
		if bundle.Item(item).External != "" {
			item = "compute_voucher"
		}
		clk.set(now.AddDate(0, 0, -65+i%20))
		app, err := s.CreateApplication(ctx, ent, item, rawJSON(demoFacts(item, i, r, now.Year())))
		if err != nil {
			return rep, fmt.Errorf("demo %s: %w", item, err)
		}
		for _, m := range bundle.Item(item).Materials {
			doc := []byte(fmt.Sprintf("%%PDF-1.4\n%% %s %s\n%%%%EOF\n", m.Name, code))
			if _, err := s.Upload(ctx, ent, app.ID, m.ID, m.ID+".pdf", doc); err != nil {
				return rep, err
			}
		}
		if err := s.SignCommitment(ctx, ent, app.ID); err != nil {
			return rep, err
		}
		plan = append(plan, planned{app: app, target: targets[i%len(targets)]})
		step(i + 1)
	}
	step(n)
	advance := func(p planned) (*Application, error) {
		ent := Actor{ID: "demo-ent-" + p.app.USCC, Role: RoleEnterprise, Enterprise: p.app.USCC}
		app := p.app
		if p.target == StateDraft {
			return app, nil
		}
		app, err := s.Submit(ctx, ent, app.ID, "")
		if err != nil {
			return nil, nil // ineligible or incomplete demo facts stay drafts
		}
		rev := reviewerFor(app)
		switch p.target {
		case StateSubmitted:
			return app, nil
		case StateReturned:
			return s.Return(ctx, rev, app.ID, "请补充加盖公章的合同扫描件,并核对发票金额。")
		case StateWithdrawn:
			return s.Withdraw(ctx, ent, app.ID, "项目调整,暂不申报")
		}
		if app, err = s.Accept(ctx, rev, app.ID, "形式审查通过"); err != nil {
			return nil, err
		}
		if p.target == StateAccepted {
			return app, nil
		}
		if p.target == StateRejected {
			return s.Reject(ctx, rev, app.ID, "经审核,项目不属于本政策支持范围。")
		}
		if app.ReviewRequired {
			if app, err = s.AssignPanel(ctx, rev, app.ID, nil, 3, ""); err != nil {
				return nil, err
			}
			if p.target == StateExpertReview {
				return app, nil
			}
			panel, err := s.Panel(ctx, admin, app.ID)
			if err != nil {
				return nil, err
			}
			for j, m := range panel {
				ex := Actor{ID: m.ExpertID, Role: RoleExpert}
				if err := s.Declare(ctx, ex, app.ID, false, ""); err != nil {
					return nil, err
				}
				amount := int64(app.Allowed) * int64(8+j) / 10
				if amount > int64(app.Allowed) {
					amount = int64(app.Allowed)
				}
				if err := s.Score(ctx, ex, app.ID, map[string]int{"必要性": 70 + j*5, "创新性": 75, "实施效果": 80 - j*3}, amount, "同意支持"); err != nil {
					return nil, err
				}
			}
			app, err = s.Consolidate(ctx, rev, app.ID, "专家组评审通过")
		} else {
			app, err = s.Opinion(ctx, rev, app.ID, "部门审核同意")
		}
		return app, err
	}
	// Older applications are publicized and paid first; the last ones stay
	// on an open 公示.
	var early, late []*Application
	for j, p := range plan {
		app, err := advance(p)
		if err != nil {
			return rep, err
		}
		step(n + (j+1)*n/len(plan))
		if app == nil {
			continue
		}
		switch p.target {
		case StateApproved, StateBatched, StatePaid, StateClawedBack:
			if app.State == StateProposed {
				early = append(early, app)
			}
		case StatePublicized, StateObjected:
			if app.State == StateProposed {
				late = append(late, app)
			}
		}
	}
	want := map[string]string{}
	for _, p := range plan {
		want[p.app.ID] = p.target
	}
	if len(early) > 0 {
		clk.set(now.AddDate(0, 0, -40))
		var ids []string
		for _, a := range early {
			ids = append(ids, a.ID)
		}
		if _, err := s.Publish(ctx, admin, "政策兑现拟支持名单(第一批)", ids); err != nil {
			return rep, err
		}
		clk.set(now.AddDate(0, 0, -30))
		if _, _, err := s.CloseWindows(ctx); err != nil {
			return rep, err
		}
		var batch []string
		for _, a := range early {
			if want[a.ID] != StateApproved {
				batch = append(batch, a.ID)
			}
		}
		if len(batch) > 0 {
			clk.set(now.AddDate(0, 0, -25))
			b, err := s.CreateBatch(ctx, fin1, batch)
			if err != nil {
				return rep, err
			}
			if _, err := s.ApproveBatch(ctx, fin2, b.ID, b.Count, int64(b.Total)); err != nil {
				return rep, err
			}
			clk.set(now.AddDate(0, 0, -20))
			for k, id := range batch {
				if want[id] == StateBatched {
					continue
				}
				if _, err := s.RecordPayment(ctx, fin1, b.ID, id, true, fmt.Sprintf("BJBANK%s%05d", policy.DateOf(clk.now()).String(), k+1)); err != nil {
					return rep, err
				}
				if want[id] == StateClawedBack {
					a, _ := s.Get(ctx, admin, id)
					if _, err := s.Claw(ctx, admin, id, int64(a.Paid), "经核查存在重复申报,依信用承诺追回"); err != nil {
						return rep, err
					}
				}
			}
		}
	}
	if len(late) > 0 {
		clk.set(now.AddDate(0, 0, -1))
		var ids []string
		for _, a := range late {
			ids = append(ids, a.ID)
		}
		if _, err := s.Publish(ctx, admin, "政策兑现拟支持名单(第二批)", ids); err != nil {
			return rep, err
		}
		for _, a := range late {
			if want[a.ID] == StateObjected {
				if _, err := s.Object(ctx, Actor{ID: "public", Role: RolePublic}, a.ID, "王先生", "13800138000", "该项目与另一政策支持的项目疑似重复,请核实。"); err != nil {
					return rep, err
				}
				break
			}
		}
	}
	step(total)
	rows, err := db.Query(ctx, `SELECT state, COUNT(*) FROM desk_applications GROUP BY state`)
	if err != nil {
		return rep, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var c int
		if err := rows.Scan(&st, &c); err != nil {
			return rep, err
		}
		rep.ByState[st] = c
		rep.Applications += c
	}
	return rep, rows.Err()
}

func rawJSON(m map[string]any) map[string]jsonRaw {
	out := map[string]jsonRaw{}
	for k, v := range m {
		b, _ := jsonMarshal(v)
		out[k] = b
	}
	return out
}

// demoFacts gives plausible claim facts for an item.
func demoFacts(item string, i int, r *rand.Rand, year int) map[string]any {
	y := year
	amt := func(lo, hi int) string { return fmt.Sprintf("%d.%02d", lo+r.IntN(hi-lo), r.IntN(100)) }
	date := fmt.Sprintf("%d-%02d-%02d", y, 1+r.IntN(9), 1+r.IntN(28))
	proj := fmt.Sprintf("YZ-%d-%04d", y, i+1)
	switch item {
	case "compute_voucher":
		return map[string]any{"year": y, "compute_fees": amt(500_000, 30_000_000)}
	case "domestic_compute_servers":
		return map[string]any{"project": proj, "domestic_server_amount": amt(5_000_000, 80_000_000), "listed_on_platform": true}
	case "genai_filing":
		return map[string]any{"filing_date": date}
	case "industry_model":
		return map[string]any{"project": "亦庄" + demoNames[i%len(demoNames)] + "行业大模型", "self_developed": true, "publicly_released": true}
	case "dataset":
		return map[string]any{"project": "高质量" + demoKinds[i%len(demoKinds)] + "数据集-" + fmt.Sprint(i+1)}
	case "data_firsts":
		return map[string]any{"events": []any{map[string]any{"kind": "first_listing", "beijing_award": amt(50_000, 400_000)}, map[string]any{"kind": "first_transaction", "national_award": amt(50_000, 300_000)}}}
	case "model_voucher":
		return map[string]any{"year": y, "contract_amount": amt(200_000, 8_000_000), "deployment": []string{"private", "cloud", "api", "appliance_software"}[i%4], "scenario": []string{"jiebang", "benchmark"}[i%2]}
	case "smart_transformation":
		return map[string]any{"project": proj, "equipment_investment": amt(1_000_000, 40_000_000), "software_integration_investment": amt(200_000, 10_000_000)}
	case "major_project_matching":
		return map[string]any{"project": proj, "year": y, "superior_funding": amt(2_000_000, 25_000_000)}
	case "scale_up":
		return map[string]any{"date": date}
	case "specialized":
		return map[string]any{"tier": []string{"beijing_specialized_sme", "national_little_giant"}[i%2], "date": date}
	case "high_tech":
		return map[string]any{"date": date}
	case "standard":
		return map[string]any{"project": fmt.Sprintf("T/BJYZ %03d-%d", i+1, y), "level": []string{"international", "national", "industry", "local", "group"}[i%5], "lead_drafter": true, "published": true}
	case "talent_base":
		return map[string]any{"year": y, "recognized": true}
	case "public_platform":
		return map[string]any{"project": "人工智能公共服务平台-" + fmt.Sprint(i+1), "year": y}
	case "event":
		return map[string]any{"project": fmt.Sprintf("%d亦庄AI创新大会-%d", y, i+1), "scope": []string{"international", "domestic"}[i%2], "cost": amt(300_000, 3_000_000), "organizer": true}
	}
	return map[string]any{}
}
