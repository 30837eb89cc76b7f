package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

// TestRedeemChain redeems one reservation three times: each step posts
// its part and keeps the rest reserved under the next grant, the pool and
// the cap never move in between, History sums to the chain, a replay
// changes nothing, and the rest is released at the end.
func TestRedeemChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		if err := l.FundPool(ctx, "compute_voucher", 2025, 10_000, "f"); err != nil {
			t.Fatal(err)
		}
		capKey := ItemCapKey("E1", "compute_voucher", 2025)
		g := Grant{ID: "v1", Enterprise: "E1", Item: "compute_voucher", Year: 2025, Pool: "compute_voucher", Amount: 3_000,
			Caps: []Cap{{Key: capKey, Limit: 5_000}}}
		if _, err := l.Reserve(ctx, g); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			grant, next string
			amount      int64
			rest        int64
		}{
			{"v1", "v1/1", 1_000, 2_000},
			{"v1/1", "v1/2", 499, 1_501},
			{"v1/2", "v1/3", 1, 1_500},
		}
		for _, s := range steps {
			r, err := l.Redeem(ctx, s.grant, s.amount, s.next)
			if err != nil {
				t.Fatalf("redeem %s: %v", s.grant, err)
			}
			if r.Posted != s.amount || r.Remaining != s.rest || r.Next != s.next || r.Replayed {
				t.Fatalf("redeem %s: %+v", s.grant, r)
			}
			if rem, _ := l.PoolRemaining(ctx, "compute_voucher", 2025); rem != 7_000 {
				t.Fatalf("pool remaining %d after redeeming %s, want 7000 (nothing freed)", rem, s.grant)
			}
			if c := balance(t, l, capKey); c.Available != 2_000 {
				t.Fatalf("cap available %d, want 2000", c.Available)
			}
		}
		// A replay is a no-op; another amount or successor is refused.
		r, err := l.Redeem(ctx, "v1/1", 499, "v1/2")
		if err != nil || !r.Replayed {
			t.Fatalf("replay: %+v %v", r, err)
		}
		_, err = l.Redeem(ctx, "v1/1", 500, "v1/2")
		if c := ErrorCode(err); c != CodeConflict && c != CodeAlreadyResolved {
			t.Fatalf("another amount: %v", err)
		}
		_, err = l.Redeem(ctx, "v1/3", 1_501, "v1/4")
		wantCode(t, err, CodeInvalid)
		_, err = l.Redeem(ctx, "v1/3", 10, "")
		wantCode(t, err, CodeInvalid)
		_, err = l.Redeem(ctx, "nope", 10, "x")
		wantCode(t, err, CodeNotFound)
		// Pay after a redemption is already resolved.
		wantCode(t, l.Pay(ctx, "v1", 1_000), CodeAlreadyResolved)

		payable := balance(t, l, PayableKey("E1"))
		if payable.CreditsPosted != 1_500 || payable.CreditsPending != 1_500 {
			t.Fatalf("payable posted %d pending %d", payable.CreditsPosted, payable.CreditsPending)
		}
		h, err := l.History(ctx, "E1")
		if err != nil {
			t.Fatal(err)
		}
		var held int64
		for _, x := range h {
			held += x.Held()
		}
		if len(h) != 4 || held != 3_000 || h[3].State != StateReserved || h[0].State != StatePaid || h[0].Posted != 1_000 {
			t.Fatalf("history %+v (held %d)", h, held)
		}
		// Clawback of a redeemed grant of the chain.
		if err := l.Claw(ctx, "v1/1", 99, "claw-1"); err != nil {
			t.Fatal(err)
		}
		// The end of the contract: the rest is released.
		if err := l.Release(ctx, "v1/3"); err != nil {
			t.Fatal(err)
		}
		if rem, _ := l.PoolRemaining(ctx, "compute_voucher", 2025); rem != 10_000-1_500+99 {
			t.Fatalf("pool remaining %d after release and clawback", rem)
		}
		if c := balance(t, l, capKey); c.Available != 5_000-1_500+99 {
			t.Fatalf("cap available %d after release and clawback", c.Available)
		}
		mustVerify(t, db)
	})
}

// TestRedeemAll redeems a whole reservation: no successor.
func TestRedeemAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		if err := l.FundPool(ctx, "p", 2025, 1_000, "f"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Reserve(ctx, Grant{ID: "g", Enterprise: "E", Item: "i", Year: 2025, Pool: "p", Amount: 600}); err != nil {
			t.Fatal(err)
		}
		r, err := l.Redeem(ctx, "g", 600, "")
		if err != nil || r.Next != "" || r.Remaining != 0 {
			t.Fatalf("%+v %v", r, err)
		}
		if rem, _ := l.PoolRemaining(ctx, "p", 2025); rem != 400 {
			t.Fatalf("remaining %d", rem)
		}
		wantCode(t, l.Release(ctx, "g"), CodeAlreadyResolved)
		mustVerify(t, db)
	})
}

// TestRedeemConcurrent: many chains redeemed concurrently with other
// reservations racing for the same pool never overspend it.
func TestRedeemConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		const chains, steps = 20, 10
		if err := l.FundPool(ctx, "p", 2025, chains*1_000+500, "f"); err != nil {
			t.Fatal(err)
		}
		for i := range chains {
			if _, err := l.Reserve(ctx, Grant{ID: fmt.Sprintf("c%d", i), Enterprise: fmt.Sprintf("E%d", i), Item: "i", Year: 2025, Pool: "p", Amount: 1_000}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, chains*2)
		for i := range chains {
			wg.Add(2)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("c%d", i)
				for s := range steps {
					next := fmt.Sprintf("c%d/%d", i, s+1)
					if _, err := l.Redeem(ctx, id, 50, next); err != nil {
						errs <- err
						return
					}
					id = next
				}
			}()
			go func() { // competitors for the 500 left in the pool
				defer wg.Done()
				_, err := l.Reserve(ctx, Grant{ID: fmt.Sprintf("x%d", i), Enterprise: "X", Item: "i", Year: 2025, Pool: "p", Amount: 100})
				if err != nil && ErrorCode(err) != CodeInsufficientFunds {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if rem, _ := l.PoolRemaining(ctx, "p", 2025); rem != 0 {
			t.Fatalf("remaining %d, want 0 (5 competitors fit)", rem)
		}
		mustVerify(t, db)
	})
}
