package ledger

import (
	"context"
	"sync"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

func TestTransferReplayReturnsFirstResult(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		fixture(t, l)
		tr := Transfer{ID: "pay-1", DebitAccount: "box", CreditAccount: "sink", Amount: 10, Code: TransferUserFirst, UserData: "x"}
		first := mustTransfer(t, l, tr)
		before := snap(t, l)
		again := mustTransfer(t, l, tr)
		if !again.Replayed || again.Seq != first.Seq || !again.CreatedAt.Equal(first.CreatedAt) || first.Replayed {
			t.Errorf("first %+v, replay %+v: want the first result, flagged as a replay", first, again)
		}
		if after := snap(t, l); !sameSnap(before, after) {
			t.Error("a replay changed the ledger")
		}
		// Same id twice in one request: the second is a replay of the first.
		res, err := l.CreateTransfers(ctx, []Transfer{
			{ID: "dup", DebitAccount: "src", CreditAccount: "sink", Amount: 3},
			{ID: "dup", DebitAccount: "src", CreditAccount: "sink", Amount: 3},
			{ID: "dup", DebitAccount: "src", CreditAccount: "sink", Amount: 4},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[1].Err != nil || !res[1].Replayed || res[1].Seq != res[0].Seq {
			t.Errorf("same id in one request: %+v", res[:2])
		}
		wantCode(t, res[2].Err, CodeConflict)
		if b := balance(t, l, "sink"); b.CreditsPosted != 13 {
			t.Errorf("sink credited %d, want 13 (10 + 3 once)", b.CreditsPosted)
		}
		mustVerify(t, db)
	})
}

// Many callers sending the same id at once: exactly one applies it.
func TestConcurrentReplays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := open(t, db, Options{})
		fixture(t, l)
		var wg sync.WaitGroup
		results := make([]Result, 32)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := l.CreateTransfers(context.Background(), []Transfer{{ID: "once", DebitAccount: "box", CreditAccount: "sink", Amount: 7}})
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = res[0]
			}()
		}
		wg.Wait()
		fresh := 0
		for _, r := range results {
			if r.Err != nil || r.Seq != results[0].Seq {
				t.Fatalf("result %+v differs from %+v", r, results[0])
			}
			if !r.Replayed {
				fresh++
			}
		}
		if fresh != 1 {
			t.Errorf("%d callers applied the transfer, want 1", fresh)
		}
		if b := balance(t, l, "sink"); b.CreditsPosted != 7 {
			t.Errorf("sink credited %d, want 7", b.CreditsPosted)
		}
	})
}

// A refusal stores nothing, so the same id may succeed later, as in
// TigerBeetle: only successes are remembered.
func TestRefusalIsNotRemembered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := open(t, db, Options{})
		fixture(t, l)
		tr := Transfer{ID: "later", DebitAccount: "box", CreditAccount: "sink", Amount: 1500}
		res, _ := l.CreateTransfers(context.Background(), []Transfer{tr})
		wantCode(t, res[0].Err, CodeInsufficientFunds)
		mustTransfer(t, l, Transfer{ID: "topup", DebitAccount: "src", CreditAccount: "box", Amount: 1000})
		if r := mustTransfer(t, l, tr); r.Replayed {
			t.Error("the retried transfer was reported as a replay of a refusal")
		}
	})
}

func TestPolicyHelpersIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		if err := l.FundPool(ctx, "p", 2025, 10_000, "f"); err != nil {
			t.Fatal(err)
		}
		if err := l.FundPool(ctx, "p", 2025, 10_000, "f"); err != nil {
			t.Fatalf("FundPool replay: %v", err)
		}
		wantCode(t, l.FundPool(ctx, "p", 2025, 20_000, "f"), CodeConflict)
		if rem, _ := l.PoolRemaining(ctx, "p", 2025); rem != 10_000 {
			t.Fatalf("pool %d after a funding and its replay, want 10000", rem)
		}
		capKey := ItemCapKey("E1", "item", 2025)
		g := Grant{ID: "g1", Enterprise: "E1", Item: "item", Year: 2025, Pool: "p", Amount: 3000, Caps: []Cap{{Key: capKey, Limit: 5000}}}
		r1, err := l.Reserve(ctx, g)
		if err != nil || r1.Replayed {
			t.Fatalf("Reserve: %+v %v", r1, err)
		}
		r2, err := l.Reserve(ctx, g)
		if err != nil || !r2.Replayed || !r2.CreatedAt.Equal(r1.CreatedAt) {
			t.Fatalf("Reserve replay: %+v %v", r2, err)
		}
		// The same grant id with other terms is a conflict.
		for _, other := range []Grant{
			func() Grant { o := g; o.Amount = 3001; return o }(),
			func() Grant { o := g; o.Project = "other"; return o }(),
			func() Grant { o := g; o.Caps = nil; return o }(),
		} {
			_, err := l.Reserve(ctx, other)
			wantCode(t, err, CodeConflict)
		}
		// A cap named again with another limit is a conflict, whether the
		// ledger remembers the cap or reads it back (a fresh instance).
		g2 := Grant{ID: "g2", Enterprise: "E1", Item: "item", Year: 2025, Pool: "p", Amount: 1, Caps: []Cap{{Key: capKey, Limit: 6000}}}
		_, err = l.Reserve(ctx, g2)
		wantCode(t, err, CodeConflict)
		l2 := open(t, db, Options{})
		_, err = l2.Reserve(ctx, g2)
		wantCode(t, err, CodeConflict)
		if rem, _ := l.PoolRemaining(ctx, "p", 2025); rem != 7000 {
			t.Fatalf("pool %d, want 7000: a replay or a conflict reserved money", rem)
		}
		if err := l.Pay(ctx, "g1", 2000); err != nil {
			t.Fatal(err)
		}
		if err := l.Pay(ctx, "g1", 2000); err != nil {
			t.Fatalf("Pay replay: %v", err)
		}
		wantCode(t, l.Pay(ctx, "g1", 2500), CodeConflict)
		if err := l.Claw(ctx, "g1", 500, "c1"); err != nil {
			t.Fatal(err)
		}
		if err := l.Claw(ctx, "g1", 500, "c1"); err != nil {
			t.Fatalf("Claw replay: %v", err)
		}
		if rem, _ := l.PoolRemaining(ctx, "p", 2025); rem != 10_000-2000+500 {
			t.Fatalf("pool %d after pay 2000 and claw 500 (each sent twice)", rem)
		}
		mustVerify(t, db)
	})
}
