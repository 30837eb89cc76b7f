package compute_test

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
	"policydesk/compute"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/uscc"
)

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
	admin    = desk.Actor{ID: "u-admin", Role: desk.RoleAdmin}
	reviewer = desk.Actor{ID: "u-rev", Role: desk.RoleReviewer, Department: "info_tech"}
	finance  = desk.Actor{ID: "u-fin", Role: desk.RoleFinance}
	finance2 = desk.Actor{ID: "u-fin2", Role: desk.RoleFinance}
	visitor  = desk.Actor{ID: "public", Role: desk.RolePublic}
)

type env struct {
	t     testing.TB
	ctx   context.Context
	db    *store.DB
	led   *ledger.Ledger
	desk  *desk.Service
	c     *compute.Service
	clock *clock
}

func newEnv(t testing.TB, db *store.DB, opt compute.Options) *env {
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
	c := &clock{t: day("2025-03-03")} // a Monday
	d, err := desk.New(db, led, b, desk.Options{
		Now: c.Now, Key: []byte("0123456789abcdef"),
		Experts: func(context.Context) ([]string, error) { return []string{"u-exp1", "u-exp2", "u-exp3"}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	opt.Now = c.Now
	s, err := compute.New(d, opt)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, db: db, led: led, desk: d, c: s, clock: c}
	if _, err := d.FundPools(ctx, admin); err != nil {
		t.Fatal(err)
	}
	return e
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
func (e *env) enterprise(i int, extra map[string]any) desk.Actor {
	e.t.Helper()
	c := code(i)
	if _, err := e.desk.RegisterEnterprise(e.ctx, admin, c, fmt.Sprintf("测试企业%d", i)); err != nil {
		e.t.Fatal(err)
	}
	ent := desk.Actor{ID: "u-ent-" + c, Role: desk.RoleEnterprise, Enterprise: c}
	facts := map[string]any{"in_etown": true, "serious_dishonesty_listed": false, "penalties": []any{}, "ai_enterprise": true}
	for k, v := range extra {
		facts[k] = v
	}
	if err := e.desk.SetFacts(e.ctx, ent, c, raw(facts), desk.SourceSelf, "2024-12-01"); err != nil {
		e.t.Fatal(err)
	}
	if err := e.desk.SetBankAccount(e.ctx, ent, c, "中国银行北京亦庄支行", "6217000010001234567"); err != nil {
		e.t.Fatal(err)
	}
	return ent
}

// provider registers and whitelists a provider; it returns its actor.
func (e *env) provider(i int, kinds ...string) (desk.Actor, *compute.Provider) {
	e.t.Helper()
	c := code(i)
	a := desk.Actor{ID: "u-prv-" + c, Role: desk.RoleProvider, Enterprise: c}
	if len(kinds) == 0 {
		kinds = []string{compute.KindCompute}
	}
	p := must(e.c.RegisterProvider(e.ctx, a, compute.ProviderInput{USCC: c, Name: fmt.Sprintf("算力服务商%d", i), Kinds: kinds, Contact: "010-12345678"}))
	p = must(e.c.ApproveProvider(e.ctx, admin, p.ID, "材料齐全"))
	return a, p
}

var pdf = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

// submit uploads the item's materials, signs and submits an application.
func (e *env) submit(ent desk.Actor, appID string) *desk.Application {
	e.t.Helper()
	app := must(e.desk.Get(e.ctx, ent, appID))
	for _, m := range e.desk.Bundle().Item(app.Item).Materials {
		must(e.desk.Upload(e.ctx, ent, appID, m.ID, m.ID+".pdf", append(append([]byte(nil), pdf...), m.ID...)))
	}
	if err := e.desk.SignCommitment(e.ctx, ent, appID); err != nil {
		e.t.Fatal(err)
	}
	return must(e.desk.Submit(e.ctx, ent, appID, ""))
}

// approve takes a submitted application through review (a panel when the
// item needs one), the ledger's reservation, 公示 and approval. amount 0
// proposes what the rules allow.
func (e *env) approve(appID string, amount int64) *desk.Application {
	e.t.Helper()
	app := must(e.desk.Accept(e.ctx, reviewer, appID, "材料齐全"))
	if amount == 0 {
		amount = int64(app.Allowed)
	}
	if app.ReviewRequired {
		must(e.desk.AssignPanel(e.ctx, reviewer, appID, []string{"u-exp1", "u-exp2", "u-exp3"}, 0, "u-exp1"))
		for _, ex := range []string{"u-exp1", "u-exp2", "u-exp3"} {
			a := desk.Actor{ID: ex, Role: desk.RoleExpert}
			if err := e.desk.Declare(e.ctx, a, appID, false, ""); err != nil {
				e.t.Fatal(err)
			}
			if err := e.desk.Score(e.ctx, a, appID, map[string]int{"necessity": 80}, amount, "同意"); err != nil {
				e.t.Fatal(err)
			}
		}
		app = must(e.desk.Consolidate(e.ctx, reviewer, appID, "专家组意见"))
	} else {
		app = must(e.desk.Opinion(e.ctx, reviewer, appID, "同意"))
	}
	if app.State != desk.StateProposed {
		e.t.Fatalf("application %s is %s (%s), not proposed", appID, app.State, app.Note)
	}
	must(e.desk.Publish(e.ctx, reviewer, "拟支持名单", []string{appID}))
	now := e.clock.Now()
	e.clock.Set(now.AddDate(0, 0, 10))
	if _, _, err := e.desk.CloseWindows(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Set(now)
	app = must(e.desk.Get(e.ctx, reviewer, appID))
	if app.State != desk.StateApproved {
		e.t.Fatalf("application %s is %s after 公示", appID, app.State)
	}
	return app
}

func (e *env) openRound(items ...string) {
	e.t.Helper()
	must(e.desk.OpenRound(e.ctx, admin, "2025年申报", items, "2025-01-01", "2025-12-31"))
}

func (e *env) verify() {
	e.t.Helper()
	r, err := e.led.Verify(e.ctx)
	if err != nil || !r.OK() {
		e.t.Fatalf("ledger verify: %v %+v", err, r)
	}
}

// failure carries an error out of must to the test's guard.
type failure struct{ err error }

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
		var ae *apperr.Error
		msg := ""
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		t.Fatalf("expected error %s, got %s (%v) %s", code, got, err, msg)
	}
}

func yuan(s string) money.Amount {
	f, err := money.Parse(s)
	if err != nil {
		panic(err)
	}
	return money.Amount(f)
}
