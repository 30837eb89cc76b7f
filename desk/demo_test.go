package desk_test

import (
	"context"
	"testing"
	"time"

	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestSeedDemo: the demo data set has applications in every state, across
// the items, and the ledger verifies.
func TestSeedDemo(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 60
	}
	db := storetest.New(t, store.SQLite)
	ctx := context.Background()
	led, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	b, _ := policy.Load(policies.Default())
	actors := desk.DemoActors{Admin: "admin", Reviewers: map[string]string{"info_tech": "rev-it", "econ_dev": "rev-ed", "sci_tech": "rev-st", "business_env": "rev-be", "commerce_finance": "rev-cf", "org_personnel": "rev-op"},
		Experts: []string{"exp1", "exp2", "exp3", "exp4", "exp5"}, Finance: [2]string{"fin1", "fin2"}}
	start := time.Now()
	rep, err := desk.SeedDemo(ctx, db, led, b, []byte("0123456789abcdef"), actors, n, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %+v in %v", rep, time.Since(start))
	if rep.Enterprises != n {
		t.Fatalf("enterprises %d", rep.Enterprises)
	}
	for _, st := range []string{desk.StateDraft, desk.StateSubmitted, desk.StateReturned, desk.StateAccepted, desk.StateExpertReview, desk.StatePublicized,
		desk.StateObjected, desk.StateApproved, desk.StateBatched, desk.StatePaid, desk.StateRejected, desk.StateWithdrawn, desk.StateClawedBack} {
		if rep.ByState[st] == 0 {
			t.Errorf("no application in state %s: %+v", st, rep.ByState)
		}
	}
	if rep, err := led.Verify(ctx); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
