package compute_test

import (
	"context"
	"testing"
	"time"

	"policydesk/compute"
	"policydesk/desk"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestSeedDemo seeds the workflow's demo and then the platform's, on each
// database: providers with listings (domestic among them), contracts,
// claims through the workflow, records in several states, a redemption
// paid through a batch and one payable; fast, and the ledger verifies.
func TestSeedDemo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := context.Background()
		now := time.Date(2026, 11, 28, 9, 0, 0, 0, cst)
		actors := desk.DemoActors{Admin: "u-admin", Reviewers: map[string]string{"info_tech": "u-rev"}, Experts: []string{"u-exp1", "u-exp2", "u-exp3"},
			Finance: [2]string{"u-fin", "u-fin2"}, Enterprises: []string{code(1), code(2)}}
		if _, err := desk.SeedDemo(ctx, db, e.led, e.desk.Bundle(), []byte("0123456789abcdef"), actors, 12, now); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		rep := must(e.c.SeedDemo(ctx, []byte("0123456789abcdef"), actors, []string{code(900)}, now))
		took := time.Since(started)
		t.Logf("%+v in %s", rep, took)
		if rep.Providers != 10 || rep.Listings < 10 || rep.Contracts != 7 || rep.Claims != 6 || rep.Records != 15 || rep.Redemptions != 2 {
			t.Fatalf("report %+v", rep)
		}
		if took > 5*time.Second { // well under 1 s on a developer machine; CI machines are shared
			t.Fatalf("the compute demo took %s", took)
		}
		ps := must(e.c.Providers(ctx, admin, ""))
		approved := 0
		for _, p := range ps {
			if p.State == compute.ProviderApproved {
				approved++
			}
		}
		if approved != 10 || len(ps) != 11 {
			t.Fatalf("providers %d, approved %d", len(ps), approved)
		}
		prv := desk.Actor{ID: "u-prv", Role: desk.RoleProvider, Enterprise: code(900)}
		if ls := must(e.c.Listings(ctx, prv, compute.ListingFilter{Provider: code(900)})); len(ls) != 2 || !ls[0].Domestic && !ls[1].Domestic {
			t.Fatalf("the demo provider's listings %+v", ls)
		}
		byState := map[string]int{}
		for _, r := range must(e.c.Records(ctx, admin, compute.RecordFilter{Limit: 1000})) {
			byState[r.State]++
		}
		if byState[compute.RecordSubmitted] == 0 || byState[compute.RecordDisputed] == 0 || byState[compute.RecordConfirmed] == 0 || byState[compute.RecordRedeemed] == 0 {
			t.Fatalf("records by state %v", byState)
		}
		reds := must(e.c.Redemptions(ctx, admin, compute.RedemptionFilter{}))
		states := map[string]int{}
		for _, r := range reds {
			states[r.State]++
		}
		if states[compute.RedemptionPaid] != 1 || states[compute.RedemptionPayable] != 1 {
			t.Fatalf("redemptions %v", states)
		}
		ent := desk.Actor{ID: "u-ent1", Role: desk.RoleEnterprise, Enterprise: code(1)}
		if vs := must(e.c.Vouchers(ctx, ent, compute.VoucherFilter{})); len(vs) != 1 || vs[0].State != compute.ClaimActive || vs[0].Used == 0 {
			t.Fatalf("the demo enterprise's vouchers %+v", vs)
		}
		e.verify()
	})
}
