package desk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
	"policydesk/uscc"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var cst = time.FixedZone("CST", 8*3600)

type env struct {
	s     *desk.Service
	led   *ledger.Ledger
	db    *store.DB
	clock *clock
	ctx   context.Context
}

var (
	admin    = desk.Actor{ID: "u-admin", Role: desk.RoleAdmin}
	reviewer = desk.Actor{ID: "u-rev", Role: desk.RoleReviewer, Department: "info_tech"}
	other    = desk.Actor{ID: "u-rev2", Role: desk.RoleReviewer, Department: "econ_dev"}
	finance1 = desk.Actor{ID: "u-fin1", Role: desk.RoleFinance}
	finance2 = desk.Actor{ID: "u-fin2", Role: desk.RoleFinance}
	visitor  = desk.Actor{ID: "public", Role: desk.RolePublic}
)

func expert(n int) desk.Actor {
	return desk.Actor{ID: fmt.Sprintf("u-exp%d", n), Role: desk.RoleExpert}
}

func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	ctx := context.Background()
	led, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	b, err := policy.Load(policies.Default())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2025, 6, 2, 9, 0, 0, 0, cst)} // a Monday
	s, err := desk.New(db, led, b, desk.Options{
		Now: c.Now, Key: []byte("0123456789abcdef"),
		Experts: func(context.Context) ([]string, error) {
			return []string{"u-exp1", "u-exp2", "u-exp3", "u-exp4", "u-exp5"}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{s: s, led: led, db: db, clock: c, ctx: ctx}
}

func code(i int) string { return uscc.Complete(fmt.Sprintf("91110302MA%07d", i)) }

func raw(m map[string]any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// enterprise registers an enterprise with clean facts and a bank account.
func (e *env) enterprise(t *testing.T, i int) desk.Actor {
	t.Helper()
	c := code(i)
	if _, err := e.s.RegisterEnterprise(e.ctx, admin, c, fmt.Sprintf("测试企业%d", i)); err != nil {
		t.Fatal(err)
	}
	ent := desk.Actor{ID: "u-ent-" + c, Role: desk.RoleEnterprise, Enterprise: c}
	facts := raw(map[string]any{"in_etown": true, "serious_dishonesty_listed": false, "penalties": []any{}, "ai_enterprise": true})
	if err := e.s.SetFacts(e.ctx, ent, c, facts, desk.SourceSelf, "2025-01-01"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetBankAccount(e.ctx, ent, c, "中国银行北京亦庄支行", "6217000010001234567"); err != nil {
		t.Fatal(err)
	}
	return ent
}

var pdf = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

// draft creates, uploads every required material and signs.
func (e *env) draft(t *testing.T, ent desk.Actor, item string, facts map[string]any) *desk.Application {
	t.Helper()
	app, err := e.s.CreateApplication(e.ctx, ent, item, raw(facts))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range e.s.Bundle().Item(item).Materials {
		if _, err := e.s.Upload(e.ctx, ent, app.ID, m.ID, m.ID+".pdf", append([]byte(nil), append(pdf, m.ID...)...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.SignCommitment(e.ctx, ent, app.ID); err != nil {
		t.Fatal(err)
	}
	return app
}

// failure carries an error out of must to the test's guard.
type failure struct{ err error }

// must returns v, or stops the test (through guard) when err is set.
func must[T any](v T, err error) T {
	if err != nil {
		panic(failure{err})
	}
	return v
}

// guard turns a must failure into t.Fatal; defer it first in a test body.
func guard(t *testing.T) {
	if r := recover(); r != nil {
		if f, ok := r.(failure); ok {
			t.Fatalf("unexpected error: %v\n%s", f.err, debug.Stack())
		}
		panic(r)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected error %s, got none", code)
	}
	if got := apperr.CodeOf(err); got != code {
		var le *ledger.Error
		if errors.As(err, &le) && le.Code == code {
			return
		}
		t.Fatalf("expected error %s, got %s (%v)", code, got, err)
	}
}

// TestCompute voucherWorkflow walks one compute voucher from draft to
// payment: 补正, expert panel with a recusal, 公示 with an objection that is
// dismissed, four-eyes payment, and the ledger verifies at the end.
func TestComputeVoucherWorkflow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		if err := e.led.FundPool(ctx, "compute_voucher", 2025, 100_000_000_00, "fund/compute_voucher/2025"); err != nil {
			t.Fatal(err)
		}
		must(e.s.OpenRound(ctx, admin, "2025年第一批", []string{"compute_voucher", "model_voucher"}, "2025-05-01", "2025-06-30"))
		ent := e.enterprise(t, 1)
		app := e.draft(t, ent, "compute_voucher", map[string]any{"year": 2025, "compute_fees": "5000000"})

		// Submit twice with one idempotency key: one submission.
		sub := must(e.s.Submit(ctx, ent, app.ID, "key-1"))
		again := must(e.s.Submit(ctx, ent, app.ID, "key-1"))
		if sub.State != desk.StateSubmitted || again.Version != sub.Version {
			t.Fatalf("idempotent submit: %s v%d then v%d", sub.State, sub.Version, again.Version)
		}
		if sub.Allowed != 1_500_000_00 || len(sub.Snapshot) == 0 {
			t.Fatalf("snapshot: allowed %d, snapshot %d bytes", sub.Allowed, len(sub.Snapshot))
		}
		// Other departments and other enterprises do not see it.
		if _, err := e.s.Get(ctx, other, app.ID); apperr.CodeOf(err) != apperr.NotFound {
			t.Fatalf("another department sees the application: %v", err)
		}
		ent2 := e.enterprise(t, 2)
		if _, err := e.s.Get(ctx, ent2, app.ID); apperr.CodeOf(err) != apperr.NotFound {
			t.Fatalf("another enterprise sees the application: %v", err)
		}
		wantCode(t, func() error { _, err := e.s.Accept(ctx, ent, app.ID, ""); return err }(), apperr.Forbidden)

		// 补正 and resubmission with corrected facts.
		must(e.s.Return(ctx, reviewer, app.ID, "请补充2025年算力结算单"))
		must(e.s.UpdateFacts(ctx, ent, app.ID, raw(map[string]any{"year": 2025, "compute_fees": "6000000"})))
		re := must(e.s.Submit(ctx, ent, app.ID, ""))
		if re.Allowed != 1_800_000_00 {
			t.Fatalf("resubmitted allowed %d", re.Allowed)
		}
		must(e.s.Accept(ctx, reviewer, app.ID, "材料齐全"))
		wantCode(t, func() error { _, err := e.s.Opinion(ctx, reviewer, app.ID, ""); return err }(), apperr.Conflict)

		// A panel of three; one recuses and a replacement is drawn.
		must(e.s.AssignPanel(ctx, reviewer, app.ID, []string{"u-exp1", "u-exp2", "u-exp3"}, 0, "u-exp1"))
		if a := must(e.s.Get(ctx, expert(1), app.ID)); len(a.Facts) != 0 {
			t.Fatal("an expert sees the application before declaring")
		}
		if err := e.s.Declare(ctx, expert(3), app.ID, true, "曾为该企业提供咨询"); err != nil {
			t.Fatal(err)
		}
		panel := must(e.s.Panel(ctx, reviewer, app.ID))
		var drawn string
		for _, m := range panel {
			if m.Status == "assigned" && m.ExpertID != "u-exp1" && m.ExpertID != "u-exp2" {
				drawn = m.ExpertID
			}
		}
		if drawn == "" || len(panel) != 4 {
			t.Fatalf("no replacement drawn: %+v", panel)
		}
		for i, ex := range []string{"u-exp1", "u-exp2", drawn} {
			a := desk.Actor{ID: ex, Role: desk.RoleExpert}
			if err := e.s.Declare(ctx, a, app.ID, false, ""); err != nil {
				t.Fatal(err)
			}
			if err := e.s.Score(ctx, a, app.ID, map[string]int{"necessity": 80, "effect": 70}, 1_800_000_01, ""); apperr.CodeOf(err) != apperr.Invalid {
				t.Fatalf("score above the ceiling accepted: %v", err)
			}
			if err := e.s.Score(ctx, a, app.ID, map[string]int{"necessity": 80, "effect": 70}, []int64{1_600_000_00, 1_700_000_00, 1_500_000_00}[i], "ok"); err != nil {
				t.Fatal(err)
			}
		}
		prop := must(e.s.Consolidate(ctx, reviewer, app.ID, "专家组意见"))
		if prop.State != desk.StateProposed || prop.Proposed != 1_600_000_00 {
			t.Fatalf("proposed %s %d", prop.State, prop.Proposed)
		}
		if left, _ := e.led.PoolRemaining(ctx, "compute_voucher", 2025); left != 100_000_000_00-1_600_000_00 {
			t.Fatalf("pool remaining %d after reservation", left)
		}

		// 公示, an objection, dismissed; approval after the window.
		pub := must(e.s.Publish(ctx, reviewer, "2025年算力券拟支持名单", []string{app.ID}))
		if pub.Ends != "2025-06-06" {
			t.Fatalf("5 working days from Monday 2025-06-02 end on %s", pub.Ends)
		}
		obj := must(e.s.Object(ctx, visitor, app.ID, "张三", "13800000000", "该企业的算力结算单可能重复计算,请核查。"))
		if a := must(e.s.Get(ctx, reviewer, app.ID)); a.State != desk.StateObjected {
			t.Fatalf("objection did not hold the application: %s", a.State)
		}
		must(e.s.ResolveObjection(ctx, reviewer, obj.ID, false, "经核查,结算单无重复"))
		e.clock.Set(time.Date(2025, 6, 9, 9, 0, 0, 0, cst))
		if _, err := e.s.Object(ctx, visitor, app.ID, "李四", "13900000000", "公示期后提交的异议应不予受理。"); apperr.CodeOf(err) != apperr.Conflict {
			t.Fatalf("objection after the window: %v", err)
		}
		if n, _, err := e.s.CloseWindows(ctx); err != nil || n != 1 {
			t.Fatalf("close windows: %d %v", n, err)
		}

		// Payment: four eyes, control totals, bank reference.
		batch := must(e.s.CreateBatch(ctx, finance1, []string{app.ID}))
		wantCode(t, func() error { _, err := e.s.ApproveBatch(ctx, finance1, batch.ID, 1, 1_600_000_00); return err }(), apperr.Forbidden)
		wantCode(t, func() error { _, err := e.s.ApproveBatch(ctx, finance2, batch.ID, 1, 1_600_000_01); return err }(), apperr.Conflict)
		must(e.s.ApproveBatch(ctx, finance2, batch.ID, 1, 1_600_000_00))
		paid := must(e.s.RecordPayment(ctx, finance1, batch.ID, app.ID, true, "BOC2025060900001"))
		if paid.State != desk.StatePaid || paid.Paid != 1_600_000_00 {
			t.Fatalf("paid %s %d", paid.State, paid.Paid)
		}
		rep, err := e.led.Verify(ctx)
		if err != nil || !rep.OK() {
			t.Fatalf("ledger verify: %v %+v", err, rep)
		}
		tl := must(e.s.Timeline(ctx, ent, app.ID))
		if len(tl) < 10 || tl[len(tl)-1].To != desk.StatePaid {
			t.Fatalf("timeline: %+v", tl)
		}
		msgs := must(e.s.Inbox(ctx, ent, 50))
		if len(msgs) == 0 {
			t.Fatal("the enterprise's inbox is empty")
		}
	})
}

// TestConcurrentProposals: 50 applications proposed at once against a pool
// with room for 30 — exactly 30 are reserved and 20 waitlisted.
func TestConcurrentProposals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		if err := e.led.FundPool(ctx, "model_voucher", 2025, 30*300_000_00, "fund/model_voucher/2025"); err != nil {
			t.Fatal(err)
		}
		must(e.s.OpenRound(ctx, admin, "模型券", []string{"model_voucher"}, "2025-05-01", "2025-06-30"))
		var ids []string
		for i := range 50 {
			ent := e.enterprise(t, 100+i)
			app := e.draft(t, ent, "model_voucher", map[string]any{"year": 2025, "contract_amount": "600000", "deployment": "api", "scenario": "jiebang"})
			must(e.s.Submit(ctx, ent, app.ID, ""))
			must(e.s.Accept(ctx, reviewer, app.ID, ""))
			ids = append(ids, app.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(ids))
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.s.Opinion(ctx, reviewer, id, "同意"); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		proposed, waitlisted := 0, 0
		for _, id := range ids {
			a := must(e.s.Get(ctx, admin, id))
			switch a.State {
			case desk.StateProposed:
				proposed++
			case desk.StateWaitlisted:
				waitlisted++
			default:
				t.Fatalf("%s in state %s", id, a.State)
			}
		}
		if proposed != 30 || waitlisted != 20 {
			t.Fatalf("proposed %d, waitlisted %d; want 30 and 20", proposed, waitlisted)
		}
		if left, _ := e.led.PoolRemaining(ctx, "model_voucher", 2025); left != 0 {
			t.Fatalf("pool left %d", left)
		}
		if rep, err := e.led.Verify(ctx); err != nil || !rep.OK() {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	})
}

// TestRefusals covers bad input and wrong transitions: nothing half-done.
func TestRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		wantCode(t, func() error { _, err := e.s.RegisterEnterprise(ctx, admin, "91110302MA01AB3C7X", "x"); return err }(), apperr.Invalid)
		must(e.s.FundPools(ctx, admin))
		ent := e.enterprise(t, 7)
		// No open round.
		wantCode(t, func() error {
			_, err := e.s.CreateApplication(ctx, ent, "compute_voucher", raw(map[string]any{"year": 2025}))
			return err
		}(), apperr.Conflict)
		must(e.s.OpenRound(ctx, admin, "r", []string{"compute_voucher", "event"}, "2025-06-01", "2025-06-30"))
		wantCode(t, func() error { _, err := e.s.CreateApplication(ctx, ent, "no_such_item", nil); return err }(), apperr.Invalid)
		wantCode(t, func() error {
			_, err := e.s.CreateApplication(ctx, ent, "compute_voucher", raw(map[string]any{"year": "abc"}))
			return err
		}(), apperr.Invalid)
		wantCode(t, func() error {
			_, err := e.s.CreateApplication(ctx, ent, "event", raw(map[string]any{"scope": "galactic"}))
			return err
		}(), apperr.Invalid)
		app := must(e.s.CreateApplication(ctx, ent, "compute_voucher", raw(map[string]any{"year": 2025})))
		// Disallowed and oversized uploads.
		wantCode(t, func() error {
			_, err := e.s.Upload(ctx, ent, app.ID, "contract", "x.exe", []byte("MZ\x90\x00binary"))
			return err
		}(), apperr.UnsupportedMedia)
		wantCode(t, func() error {
			_, err := e.s.Upload(ctx, ent, app.ID, "contract", "big.pdf", append(pdf, make([]byte, 21<<20)...))
			return err
		}(), apperr.TooLarge)
		wantCode(t, func() error { _, err := e.s.Upload(ctx, ent, app.ID, "nope", "a.pdf", pdf); return err }(), apperr.Invalid)
		// Submit without commitment, without materials, incomplete.
		wantCode(t, func() error { _, err := e.s.Submit(ctx, ent, app.ID, ""); return err }(), apperr.Invalid)
		if err := e.s.SignCommitment(ctx, ent, app.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, func() error { _, err := e.s.Submit(ctx, ent, app.ID, ""); return err }(), apperr.Invalid)
		for _, m := range e.s.Bundle().Item("compute_voucher").Materials {
			must(e.s.Upload(ctx, ent, app.ID, m.ID, m.ID+".pdf", pdf))
		}
		err := func() error { _, err := e.s.Submit(ctx, ent, app.ID, ""); return err }()
		wantCode(t, err, apperr.Invalid) // compute_fees missing
		// A transition from the wrong state.
		wantCode(t, func() error { _, err := e.s.Accept(ctx, reviewer, app.ID, ""); return err }(), apperr.Conflict)
		if a := must(e.s.Get(ctx, ent, app.ID)); a.State != desk.StateDraft {
			t.Fatalf("state changed to %s by refused calls", a.State)
		}
		// An idempotency key reused for another request.
		must(e.s.UpdateFacts(ctx, ent, app.ID, raw(map[string]any{"year": 2025, "compute_fees": "100"})))
		must(e.s.Submit(ctx, ent, app.ID, "k"))
		wantCode(t, func() error { _, err := e.s.Submit(ctx, ent, "app_other", "k"); return err }(), apperr.Conflict)
	})
}

// TestReconcile: a reservation left by a crash between the ledger and the
// desk transaction is released; consistent state is left alone.
func TestReconcile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		must(e.s.FundPools(ctx, admin))
		must(e.s.OpenRound(ctx, admin, "r", []string{"model_voucher"}, "2025-05-01", "2025-06-30"))
		ent := e.enterprise(t, 41)
		ok := e.draft(t, ent, "model_voucher", map[string]any{"year": 2025, "contract_amount": "600000", "deployment": "api", "scenario": "jiebang"})
		must(e.s.Submit(ctx, ent, ok.ID, ""))
		must(e.s.Accept(ctx, reviewer, ok.ID, ""))
		must(e.s.Opinion(ctx, reviewer, ok.ID, ""))
		crashed := e.draft(t, ent, "model_voucher", map[string]any{"year": 2025, "contract_amount": "200000", "deployment": "api", "scenario": "jiebang"})
		must(e.s.Submit(ctx, ent, crashed.ID, ""))
		// The ledger step of a proposal landed; the desk step did not.
		must(e.led.Reserve(ctx, ledger.Grant{ID: crashed.ID, Enterprise: code(41), Item: "model_voucher", Year: 2025, Pool: "model_voucher", Amount: 100_000_00}))
		before := must(e.led.PoolRemaining(ctx, "model_voucher", 2025))
		rep := must(e.s.Reconcile(ctx))
		if len(rep.Released) != 1 || rep.Released[0] != crashed.ID || len(rep.Missing) != 0 {
			t.Fatalf("reconcile: %+v", rep)
		}
		if after := must(e.led.PoolRemaining(ctx, "model_voucher", 2025)); after != before+100_000_00 {
			t.Fatalf("pool %d → %d", before, after)
		}
		again := must(e.s.Reconcile(ctx))
		if len(again.Released) != 0 {
			t.Fatalf("second run released %v", again.Released)
		}

		// The same crash with the reservation the workflow itself made:
		// the proposal reserved, the desk step "did not land" (the row is
		// put back to accepted), the restart released the orphan. Proposing
		// again must reserve anew under a fresh grant id, not take the
		// ledger's replay of the released grant for a reservation.
		again2 := e.draft(t, ent, "model_voucher", map[string]any{"year": 2025, "contract_amount": "100000", "deployment": "api", "scenario": "jiebang"})
		must(e.s.Submit(ctx, ent, again2.ID, ""))
		must(e.s.Accept(ctx, reviewer, again2.ID, ""))
		first := must(e.s.Opinion(ctx, reviewer, again2.ID, ""))
		if _, err := db.Exec(ctx, `UPDATE desk_applications SET state = 'accepted', grant_id = '', proposed = 0 WHERE id = ?`, again2.ID); err != nil {
			t.Fatal(err)
		}
		if rep := must(e.s.Reconcile(ctx)); len(rep.Released) != 1 || rep.Released[0] != first.GrantID && rep.Released[0] != again2.ID {
			t.Fatalf("reconcile: %+v (grant %q)", rep, first.GrantID)
		}
		poolBefore := must(e.led.PoolRemaining(ctx, "model_voucher", 2025))
		re := must(e.s.Opinion(ctx, reviewer, again2.ID, ""))
		if re.State != desk.StateProposed || re.GrantID == "" || re.GrantID == again2.ID {
			t.Fatalf("re-proposal: state %s, grant %q", re.State, re.GrantID)
		}
		live := false
		for _, g := range must(e.led.History(ctx, code(41))) {
			if g.GrantID == re.GrantID && g.State == ledger.StateReserved && g.Reserved == int64(re.Proposed) {
				live = true
			}
		}
		if !live {
			t.Fatalf("the re-proposal %s holds no reservation", re.GrantID)
		}
		if after := must(e.led.PoolRemaining(ctx, "model_voucher", 2025)); after != poolBefore-int64(re.Proposed) {
			t.Fatalf("pool %d → %d after reserving %d", poolBefore, after, re.Proposed)
		}
		if rep := must(e.s.Reconcile(ctx)); len(rep.Released) != 0 || len(rep.Missing) != 0 {
			t.Fatalf("after re-proposal reconcile finds %+v", rep)
		}
	})
}

// TestPaidElsewhere: applications redeemed elsewhere (voucher claims) are
// kept out of payment batches.
func TestPaidElsewhere(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	defer guard(t)
	e := newEnv(t, db)
	ctx := e.ctx
	s2, err := desk.New(db, e.led, e.s.Bundle(), desk.Options{Now: e.clock.Now, Key: []byte("0123456789abcdef"),
		PaidElsewhere: func(ctx context.Context, tx *store.Tx, id string) (string, error) { return "按结算兑付", nil }})
	if err != nil {
		t.Fatal(err)
	}
	must(e.s.FundPools(ctx, admin))
	must(e.s.OpenRound(ctx, admin, "r", []string{"genai_filing"}, "2025-05-01", "2025-06-30"))
	ent := e.enterprise(t, 61)
	app := e.draft(t, ent, "genai_filing", map[string]any{"filing_date": "2025-03-01"})
	must(e.s.Submit(ctx, ent, app.ID, ""))
	must(e.s.Accept(ctx, reviewer, app.ID, ""))
	must(e.s.Opinion(ctx, reviewer, app.ID, ""))
	must(e.s.Publish(ctx, reviewer, "公示", []string{app.ID}))
	e.clock.Set(time.Date(2025, 6, 10, 9, 0, 0, 0, cst))
	if _, _, err := e.s.CloseWindows(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.CreateBatch(ctx, finance1, []string{app.ID}); apperr.CodeOf(err) != apperr.Conflict {
		t.Fatalf("batched an application paid elsewhere: %v", err)
	}
	if a := must(e.s.Get(ctx, admin, app.ID)); a.State != desk.StateApproved {
		t.Fatalf("state %s after a refused batch", a.State)
	}
	must(e.s.CreateBatch(ctx, finance1, []string{app.ID}))
}
