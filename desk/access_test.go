package desk_test

import (
	"testing"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestAccessMatrix checks every service method against every role, on the
// owner's and on another enterprise's rows: who is refused is refused with
// forbidden or not_found whatever the state; who is allowed is never.
func TestAccessMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		must(e.s.FundPools(ctx, admin))
		must(e.s.OpenRound(ctx, admin, "r", []string{"compute_voucher"}, "2025-05-01", "2025-06-30"))
		owner := e.enterprise(t, 51)
		stranger := e.enterprise(t, 52)
		app := e.draft(t, owner, "compute_voucher", map[string]any{"year": 2025, "compute_fees": "1000000"})
		must(e.s.Submit(ctx, owner, app.ID, ""))
		id, c := app.ID, code(51)
		actors := map[string]desk.Actor{
			"owner": owner, "stranger": stranger, "reviewer": reviewer, "other_dept": other,
			"expert": expert(1), "finance": finance1, "admin": admin, "public": visitor,
		}
		calls := []struct {
			name    string
			allowed []string
			call    func(a desk.Actor) error
		}{
			{"Get", []string{"owner", "reviewer", "finance", "admin"}, func(a desk.Actor) error { _, err := e.s.Get(ctx, a, id); return err }},
			{"Timeline", []string{"owner", "reviewer", "finance", "admin"}, func(a desk.Actor) error { _, err := e.s.Timeline(ctx, a, id); return err }},
			{"Materials", []string{"owner", "reviewer", "finance", "admin"}, func(a desk.Actor) error { _, err := e.s.Materials(ctx, a, id); return err }},
			{"UpdateFacts", []string{"owner"}, func(a desk.Actor) error { _, err := e.s.UpdateFacts(ctx, a, id, nil); return err }},
			{"Upload", []string{"owner"}, func(a desk.Actor) error { _, err := e.s.Upload(ctx, a, id, "contract", "c.pdf", pdf); return err }},
			{"SignCommitment", []string{"owner"}, func(a desk.Actor) error { return e.s.SignCommitment(ctx, a, id) }},
			{"Withdraw(state-checked)", []string{"owner"}, func(a desk.Actor) error { _, err := e.s.Withdraw(ctx, a, "app_none", ""); return err }},
			{"Return", []string{"reviewer", "admin"}, func(a desk.Actor) error { _, err := e.s.Return(ctx, a, id, ""); return err }},
			{"AssignPanel", []string{"reviewer", "admin"}, func(a desk.Actor) error {
				_, err := e.s.AssignPanel(ctx, a, id, []string{"x", "x"}, 0, "")
				return err
			}},
			{"Panel", []string{"reviewer", "admin"}, func(a desk.Actor) error { _, err := e.s.Panel(ctx, a, id); return err }},
			{"Declare(not on the panel)", nil, func(a desk.Actor) error { return e.s.Declare(ctx, a, id, false, "") }},
			{"GetEnterprise", []string{"owner", "reviewer", "other_dept", "finance", "admin"}, func(a desk.Actor) error { _, err := e.s.GetEnterprise(ctx, a, c); return err }},
			{"Facts", []string{"owner", "reviewer", "other_dept", "finance", "admin"}, func(a desk.Actor) error { _, err := e.s.Facts(ctx, a, c, 20250602); return err }},
			{"SetBankAccount", []string{"owner", "admin"}, func(a desk.Actor) error { return e.s.SetBankAccount(ctx, a, c, "", "") }},
			{"SetFacts(self)", []string{"owner"}, func(a desk.Actor) error { return e.s.SetFacts(ctx, a, c, nil, desk.SourceSelf, "") }},
			{"OpenRound", []string{"admin"}, func(a desk.Actor) error { _, err := e.s.OpenRound(ctx, a, "", nil, "", ""); return err }},
			{"FundPools", []string{"admin"}, func(a desk.Actor) error { _, err := e.s.FundPools(ctx, a); return err }},
			{"ImportOffers", []string{"admin"}, func(a desk.Actor) error { _, err := e.s.ImportOffers(ctx, a, "high_tech", "", nil); return err }},
			{"ProRata", []string{"admin"}, func(a desk.Actor) error { _, err := e.s.ProRata(ctx, a, "r", "nope", 2025, false); return err }},
			{"Publish", []string{"reviewer", "other_dept", "admin"}, func(a desk.Actor) error { _, err := e.s.Publish(ctx, a, "", nil); return err }},
			{"CreateBatch", []string{"finance"}, func(a desk.Actor) error { _, err := e.s.CreateBatch(ctx, a, nil); return err }},
			{"GetBatch", []string{"finance", "admin"}, func(a desk.Actor) error { _, err := e.s.GetBatch(ctx, a, "bat_none"); return err }},
			{"Claw", []string{"finance", "admin"}, func(a desk.Actor) error { _, err := e.s.Claw(ctx, a, id, 1, ""); return err }},
			{"Offers", []string{"owner", "stranger", "admin"}, func(a desk.Actor) error { _, err := e.s.Offers(ctx, a, ""); return err }},
			{"List", []string{"owner", "stranger", "reviewer", "other_dept", "expert", "finance", "admin"}, func(a desk.Actor) error { _, err := e.s.List(ctx, a, desk.Filter{}); return err }},
		}
		for _, cl := range calls {
			for name, a := range actors {
				err := cl.call(a)
				code := apperr.CodeOf(err)
				refused := err != nil && (code == apperr.Forbidden || code == apperr.NotFound && cl.name != "Withdraw(state-checked)" && cl.name != "GetBatch")
				want := false
				for _, ok := range cl.allowed {
					if ok == name {
						want = true
					}
				}
				if want && refused {
					t.Errorf("%s by %s: refused (%v)", cl.name, name, err)
				}
				if !want && !refused && !(err != nil && code == apperr.NotFound) {
					t.Errorf("%s by %s: not refused (%v)", cl.name, name, err)
				}
			}
		}
		// Reads by others saw nothing: lists are scoped.
		if l := must(e.s.List(ctx, stranger, desk.Filter{})); len(l) != 0 {
			t.Errorf("a stranger lists %d applications", len(l))
		}
		if l := must(e.s.List(ctx, other, desk.Filter{})); len(l) != 0 {
			t.Errorf("another department lists %d applications", len(l))
		}
		if l := must(e.s.List(ctx, reviewer, desk.Filter{})); len(l) != 1 {
			t.Errorf("the department lists %d applications", len(l))
		}
	})
}
