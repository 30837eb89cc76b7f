package desk_test

import (
	"slices"
	"testing"

	"policydesk/apperr"
	"policydesk/audit"
	"policydesk/desk"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestListSummaries: the list read returns the same rows as List, in the
// same order, for every role and filter, with the applicant's name; an
// expert sees the applicant only after declaring; the claim's facts only
// when asked. Get names the applicant for a cleared expert.
func TestListSummaries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		must(e.s.FundPools(ctx, admin))
		must(e.s.OpenRound(ctx, admin, "r", []string{"compute_voucher", "industry_model"}, "2025-05-01", "2025-06-30"))
		ent1, ent2 := e.enterprise(t, 61), e.enterprise(t, 62)
		a1 := e.draft(t, ent1, "compute_voucher", map[string]any{"year": 2025, "compute_fees": "1000000"})
		must(e.s.Submit(ctx, ent1, a1.ID, ""))
		e.draft(t, ent2, "compute_voucher", map[string]any{"year": 2025, "compute_fees": "2000000"})
		a3 := e.draft(t, ent2, "industry_model", map[string]any{"project": "亦庄大模型", "self_developed": true, "publicly_released": true})
		must(e.s.Submit(ctx, ent2, a3.ID, ""))
		must(e.s.Accept(ctx, reviewer, a3.ID, ""))
		must(e.s.AssignPanel(ctx, reviewer, a3.ID, []string{"u-exp1", "u-exp2", "u-exp3"}, 0, ""))

		filters := []desk.Filter{{}, {State: desk.StateSubmitted}, {Item: "compute_voucher"}, {USCC: code(62)}, {Limit: 1}, {Limit: 1, Offset: 1}}
		for _, a := range []desk.Actor{ent1, ent2, reviewer, other, expert(1), finance1, admin} {
			for _, f := range filters {
				apps := must(e.s.List(ctx, a, f))
				sums := must(e.s.ListSummaries(ctx, a, f))
				var want, got []string
				for _, x := range apps {
					want = append(want, x.ID+"/"+x.State+"/"+x.Item)
				}
				for _, x := range sums {
					got = append(got, x.ID+"/"+x.State+"/"+x.Item)
					if x.ItemName == "" || x.StateName == "" || x.Article == 0 || x.Facts != nil {
						t.Errorf("%s %+v: incomplete summary %+v", a.ID, f, x)
					}
				}
				if !slices.Equal(want, got) {
					t.Errorf("%s %+v: ListSummaries %v, List %v", a.ID, f, got, want)
				}
			}
		}
		for _, a := range []desk.Actor{visitor, {ID: "p", Role: desk.RoleProvider}} {
			if _, err := e.s.ListSummaries(ctx, a, desk.Filter{}); apperr.CodeOf(err) != apperr.Forbidden {
				t.Errorf("%s lists: %v", a.Role, err)
			}
		}

		// Names, amounts and facts on request.
		sums := must(e.s.ListSummaries(ctx, admin, desk.Filter{USCC: code(61), WithFacts: true}))
		if len(sums) != 1 || sums[0].EnterpriseName != "测试企业61" || sums[0].Allowed != 300_000_00 || sums[0].Amount() != 300_000_00 ||
			string(sums[0].Facts["compute_fees"]) != `"1000000"` || sums[0].SubmittedAt == nil || !slices.Equal(sums[0].Departments, a1.Departments) {
			t.Fatalf("summary %+v", sums)
		}

		// An expert: the applicant hidden before the declaration, shown after.
		ex := expert(1)
		sums = must(e.s.ListSummaries(ctx, ex, desk.Filter{WithFacts: true}))
		if len(sums) != 1 || sums[0].ID != a3.ID || sums[0].USCC != "" || sums[0].EnterpriseName != "" || sums[0].Facts != nil {
			t.Fatalf("expert before declaring: %+v", sums)
		}
		if a := must(e.s.Get(ctx, ex, a3.ID)); a.USCC != "" || a.EnterpriseName != "" {
			t.Fatalf("expert Get before declaring: %q %q", a.USCC, a.EnterpriseName)
		}
		if err := e.s.Declare(ctx, ex, a3.ID, false, ""); err != nil {
			t.Fatal(err)
		}
		sums = must(e.s.ListSummaries(ctx, ex, desk.Filter{}))
		if len(sums) != 1 || sums[0].USCC != code(62) || sums[0].EnterpriseName != "测试企业62" {
			t.Fatalf("expert after declaring: %+v", sums)
		}
		if a := must(e.s.Get(ctx, ex, a3.ID)); a.USCC != code(62) || a.EnterpriseName != "测试企业62" {
			t.Fatalf("expert Get after declaring: %q %q", a.USCC, a.EnterpriseName)
		}
		// Another expert, not on the panel, sees nothing.
		if sums := must(e.s.ListSummaries(ctx, expert(5), desk.Filter{})); len(sums) != 0 {
			t.Fatalf("an expert off the panel lists %+v", sums)
		}
	})
}

// TestStatsAccess: the workbench and dashboard reads refuse whoever may not
// make them.
func TestStatsAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		must(e.s.FundPools(ctx, admin))
		must(e.s.OpenRound(ctx, admin, "r", []string{"compute_voucher"}, "2025-05-01", "2025-06-30"))
		owner := e.enterprise(t, 71)
		e.enterprise(t, 72)
		app := e.draft(t, owner, "compute_voucher", map[string]any{"year": 2025, "compute_fees": "1000000"})
		actors := map[string]desk.Actor{"owner": owner, "reviewer": reviewer, "expert": expert(1), "finance": finance1, "admin": admin, "public": visitor}
		calls := []struct {
			name    string
			allowed []string
			call    func(a desk.Actor) error
		}{
			{"RecentBatches", []string{"finance", "admin"}, func(a desk.Actor) error { _, err := e.s.RecentBatches(ctx, a, 10); return err }},
			{"FirstReached", []string{"finance", "admin"}, func(a desk.Actor) error { _, err := e.s.FirstReached(ctx, a); return err }},
			{"AIEnterprises", []string{"finance", "admin"}, func(a desk.Actor) error { _, _, err := e.s.AIEnterprises(ctx, a, "2025-06-02"); return err }},
			{"AuditLog", []string{"admin"}, func(a desk.Actor) error { _, err := e.s.AuditLog(ctx, a, audit.Filter{Limit: 5}); return err }},
			{"VerifyAudit", []string{"admin"}, func(a desk.Actor) error { _, err := e.s.VerifyAudit(ctx, a); return err }},
			{"ScoredAt", []string{"expert"}, func(a desk.Actor) error { _, _, err := e.s.ScoredAt(ctx, a, app.ID); return err }},
			{"GrantHistory", []string{"owner", "reviewer", "finance", "admin"}, func(a desk.Actor) error { _, err := e.s.GrantHistory(ctx, a, code(71)); return err }},
		}
		for _, cl := range calls {
			for name, a := range actors {
				err := cl.call(a)
				refused := apperr.CodeOf(err) == apperr.Forbidden || apperr.CodeOf(err) == apperr.NotFound
				if want := slices.Contains(cl.allowed, name); want == refused || want && err != nil {
					t.Errorf("%s by %s: %v", cl.name, name, err)
				}
			}
		}
		if _, err := e.s.GrantHistory(ctx, owner, code(72)); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("another enterprise's history: %v", err)
		}
		yes, known := must2(e.s.AIEnterprises(ctx, admin, "2025-06-02"))
		if yes != 2 || known != 2 {
			t.Errorf("AIEnterprises = %d of %d", yes, known)
		}
		must(e.s.Submit(ctx, owner, app.ID, ""))
		reached := must(e.s.FirstReached(ctx, admin))
		if _, ok := reached[app.ID][desk.StateSubmitted]; !ok {
			t.Errorf("first reached: %v", reached)
		}
	})
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(failure{err})
	}
	return a, b
}
