package ledger

import (
	"context"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

func TestGrantLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		const e = "91110302MA01ABCD2X"
		if err := l.FundPool(ctx, "compute_voucher", 2025, 1_000_000, "f2025"); err != nil {
			t.Fatal(err)
		}
		caps := func() []Cap {
			return []Cap{{Key: ItemCapKey(e, "compute_voucher", 2025), Limit: 400_000}, {Key: EnterpriseCapKey(e), Limit: 500_000}}
		}
		grant := func(id string, amount int64) Grant {
			return Grant{ID: id, Enterprise: e, Item: "compute_voucher", Year: 2025, Project: "llm", Pool: "compute_voucher", Amount: amount, Caps: caps()}
		}
		for _, g := range []Grant{grant("paid", 300_000), grant("released", 50_000), grant("open", 40_000)} {
			if _, err := l.Reserve(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
		// The item cap holds 390,000 of 400,000: 20,000 more is over it.
		_, err := l.Reserve(ctx, grant("over", 20_000))
		wantCode(t, err, CodeExceedsCap)

		if err := l.Pay(ctx, "paid", 250_000); err != nil { // partial: 50,000 released
			t.Fatal(err)
		}
		if err := l.Release(ctx, "released"); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctx, "released"); err != nil {
			t.Fatalf("Release replay: %v", err)
		}
		wantCode(t, l.Pay(ctx, "released", 1), CodeAlreadyResolved)
		wantCode(t, l.Release(ctx, "paid"), CodeAlreadyResolved)
		wantCode(t, l.Pay(ctx, "open", 40_001), CodeInvalid)
		wantCode(t, l.Pay(ctx, "open", 0), CodeInvalid)
		wantCode(t, l.Pay(ctx, "nope", 1), CodeNotFound)

		if err := l.Claw(ctx, "paid", 100_000, "claw-1"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, l.Claw(ctx, "paid", 150_001, "claw-2"), CodeInsufficientFunds) // only 150,000 left to claw
		if err := l.Claw(ctx, "paid", 150_000, "claw-2"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, l.Claw(ctx, "open", 1, "claw-3"), CodeInsufficientFunds) // nothing paid
		wantCode(t, l.Claw(ctx, "paid", 0, "claw-4"), CodeInvalid)

		// Pool: 1,000,000 − 40,000 open; everything paid was clawed back.
		if rem, err := l.PoolRemaining(ctx, "compute_voucher", 2025); err != nil || rem != 960_000 {
			t.Errorf("pool remaining %d %v, want 960000", rem, err)
		}
		bs, err := l.Balances(ctx, ItemCapKey(e, "compute_voucher", 2025), EnterpriseCapKey(e), PayableKey(e), PaidKey("paid"))
		if err != nil {
			t.Fatal(err)
		}
		if bs[0].Available != 360_000 || bs[1].Available != 460_000 {
			t.Errorf("caps available %d, %d; want 360000, 460000", bs[0].Available, bs[1].Available)
		}
		if bs[2].CreditsPosted != 250_000 || bs[2].DebitsPosted != 250_000 || bs[2].CreditsPending != 40_000 {
			t.Errorf("payable %+v", bs[2])
		}
		if bs[3].Available != 0 {
			t.Errorf("paid/%s still claws %d", "paid", bs[3].Available)
		}
		_, err = l.Balances(ctx, "no/such/account")
		wantCode(t, err, CodeNotFound)
		_, err = l.PoolRemaining(ctx, "never_funded", 2025)
		wantCode(t, err, CodeNotFound)

		h, err := l.History(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]Granted{
			"paid":     {State: StatePaid, Reserved: 300_000, Posted: 250_000, Clawed: 250_000},
			"released": {State: StateReleased, Reserved: 50_000},
			"open":     {State: StateReserved, Reserved: 40_000},
		}
		if len(h) != len(want) {
			t.Fatalf("history has %d grants, want %d: %+v", len(h), len(want), h)
		}
		for _, g := range h {
			w := want[g.GrantID]
			if g.State != w.State || g.Reserved != w.Reserved || g.Posted != w.Posted || g.Clawed != w.Clawed ||
				g.Item != "compute_voucher" || g.Year != 2025 || g.Project != "llm" || g.Pool != "compute_voucher" {
				t.Errorf("history %s = %+v, want %+v", g.GrantID, g, w)
			}
		}
		if h, err := l.History(ctx, "91000000000000000X"); err != nil || h == nil || len(h) != 0 {
			t.Errorf("history of a stranger: %v %v, want an empty list", h, err)
		}
		mustVerify(t, db)
	})
}

func TestGrantWithoutPool(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		g := Grant{ID: "award", Enterprise: "E", Item: "talent_award", Year: 2025, Amount: 1_000_000, Caps: []Cap{{Key: EnterpriseCapKey("E"), Limit: 1_000_000}}}
		if _, err := l.Reserve(ctx, g); err != nil {
			t.Fatal(err)
		}
		if err := l.Pay(ctx, "award", 1_000_000); err != nil {
			t.Fatal(err)
		}
		if b := balance(t, l, UnpooledKey); b.DebitsPosted != 1_000_000 {
			t.Errorf("unpooled budget debited %d", b.DebitsPosted)
		}
		mustVerify(t, db)
	})
}

func TestGrantValidation(t *testing.T) {
	ok := Grant{ID: "g", Enterprise: "E", Item: "i", Year: 2025, Pool: "p", Amount: 1}
	tests := []struct {
		name string
		edit func(*Grant)
	}{
		{"no id", func(g *Grant) { g.ID = "" }},
		{"no enterprise", func(g *Grant) { g.Enterprise = "" }},
		{"no item", func(g *Grant) { g.Item = "" }},
		{"year 0", func(g *Grant) { g.Year = 0 }},
		{"zero amount", func(g *Grant) { g.Amount = 0 }},
		{"negative amount", func(g *Grant) { g.Amount = -1 }},
		{"cap without key", func(g *Grant) { g.Caps = []Cap{{Limit: 5}} }},
		{"cap without limit", func(g *Grant) { g.Caps = []Cap{{Key: "cap/x"}} }},
		{"cap twice", func(g *Grant) { g.Caps = []Cap{{Key: "cap/x", Limit: 5}, {Key: "cap/x", Limit: 5}} }},
		{"cap is the pool", func(g *Grant) { g.Caps = []Cap{{Key: PoolKey("p", 2025), Limit: 5}} }},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := open(t, db, Options{})
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g := ok
				tt.edit(&g)
				_, err := l.Reserve(context.Background(), g)
				wantCode(t, err, CodeInvalid)
			})
		}
		if n := countRows(t, db, "ledger_transfers"); n != 0 {
			t.Errorf("%d transfers written by invalid grants", n)
		}
	})
}
