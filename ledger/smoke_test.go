package ledger

import (
	"context"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

func TestSmoke(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		if err := l.FundPool(ctx, "compute_voucher", 2025, 1000, "f1"); err != nil {
			t.Fatal(err)
		}
		g := Grant{ID: "app-1", Enterprise: "E1", Item: "compute_voucher", Year: 2025, Pool: "compute_voucher", Amount: 300,
			Caps: []Cap{{Key: ItemCapKey("E1", "compute_voucher", 2025), Limit: 500}}}
		if _, err := l.Reserve(ctx, g); err != nil {
			t.Fatal(err)
		}
		rem, err := l.PoolRemaining(ctx, "compute_voucher", 2025)
		if err != nil || rem != 700 {
			t.Fatalf("remaining %d %v", rem, err)
		}
		if err := l.Pay(ctx, "app-1", 200); err != nil {
			t.Fatal(err)
		}
		rem, _ = l.PoolRemaining(ctx, "compute_voucher", 2025)
		if rem != 800 {
			t.Fatalf("remaining after pay %d", rem)
		}
		if err := l.Claw(ctx, "app-1", 50, "c1"); err != nil {
			t.Fatal(err)
		}
		h, err := l.History(ctx, "E1")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%+v", h)
		mustVerify(t, db)
	})
}
