package ledger

import (
	"context"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

func TestLinkedSetAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		fixture(t, l)
		before := snap(t, l)
		// Two chains and a lone transfer in one request: each on its own.
		res, err := l.CreateTransfers(ctx, []Transfer{
			{ID: "a1", DebitAccount: "box", CreditAccount: "sink", Amount: 400, Flags: Linked},
			{ID: "a2", DebitAccount: "cap", CreditAccount: "sink", Amount: 400, Flags: Pending | Linked},
			{ID: "a3", DebitAccount: "box", CreditAccount: "sink", Amount: 600}, // 100 held + 400 + 600 > 1000
			{ID: "b1", DebitAccount: "box", CreditAccount: "sink", Amount: 300, Flags: Linked},
			{ID: "b2", DebitAccount: "cap", CreditAccount: "sink", Amount: 300, Flags: Pending},
			{ID: "c1", DebitAccount: "src", CreditAccount: "sink", Amount: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		codes := []string{CodeLinkedEventFailed, CodeLinkedEventFailed, CodeInsufficientFunds, "", "", ""}
		for i, r := range res {
			wantCode(t, r.Err, codes[i])
		}
		after := snap(t, l)
		if after.transfers != before.transfers+3 {
			t.Errorf("%d transfers written, want 3 (chain b and c1)", after.transfers-before.transfers)
		}
		if b := balance(t, l, "box"); b.DebitsPosted != 300 {
			t.Errorf("box debited %d: the failed chain left a trace", b.DebitsPosted)
		}
		if c := balance(t, l, "cap"); c.DebitsPending != 300 {
			t.Errorf("cap holds %d pending, want 300", c.DebitsPending)
		}
		mustVerify(t, db)
	})
}

// A grant whose cap is full reserves nothing in the pool either.
func TestReserveAtomicAcrossPoolAndCaps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		if err := l.FundPool(ctx, "p", 2025, 1_000_000, "f"); err != nil {
			t.Fatal(err)
		}
		caps := []Cap{
			{Key: ItemCapKey("E", "i", 2025), Limit: 1000},
			{Key: ProjectCapKey("E", "proj"), Limit: 600},
			{Key: EnterpriseCapKey("E"), Limit: 5000},
		}
		if _, err := l.Reserve(ctx, Grant{ID: "g1", Enterprise: "E", Item: "i", Year: 2025, Project: "proj", Pool: "p", Amount: 500, Caps: caps}); err != nil {
			t.Fatal(err)
		}
		_, err := l.Reserve(ctx, Grant{ID: "g2", Enterprise: "E", Item: "i", Year: 2025, Project: "proj", Pool: "p", Amount: 200, Caps: caps})
		wantCode(t, err, CodeExceedsCap)
		var le *Error
		if !errorsAs(err, &le) || le.Subject != ProjectCapKey("E", "proj") {
			t.Errorf("refusal names %q, want the project cap", le.Subject)
		}
		for key, want := range map[string]int64{
			PoolKey("p", 2025):         1_000_000 - 500,
			ItemCapKey("E", "i", 2025): 500,
			ProjectCapKey("E", "proj"): 100,
			EnterpriseCapKey("E"):      4500,
			PayableKey("E"):            0,
		} {
			b := balance(t, l, key)
			if key == PayableKey("E") {
				if b.CreditsPending != 500 {
					t.Errorf("payable holds %d pending, want 500", b.CreditsPending)
				}
				continue
			}
			if b.Available != want {
				t.Errorf("%s available %d, want %d", key, b.Available, want)
			}
		}
		mustVerify(t, db)
	})
}
