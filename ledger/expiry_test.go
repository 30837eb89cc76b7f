package ledger

import (
	"context"
	"testing"
	"time"

	"policydesk/store"
	"policydesk/store/storetest"
)

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPendingExpires(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
		clk := newClock(t0)
		l := open(t, db, Options{Now: clk.Now})
		if err := l.FundPool(ctx, "p", 2025, 10_000, "f"); err != nil {
			t.Fatal(err)
		}
		caps := []Cap{{Key: EnterpriseCapKey("E"), Limit: 4000}}
		g := Grant{ID: "g", Enterprise: "E", Item: "i", Year: 2025, Pool: "p", Amount: 3000, Caps: caps, Expires: t0.Add(time.Hour)}
		if _, err := l.Reserve(ctx, g); err != nil {
			t.Fatal(err)
		}
		keep := Grant{ID: "keep", Enterprise: "E", Item: "i", Year: 2025, Pool: "p", Amount: 500, Caps: caps}
		if _, err := l.Reserve(ctx, keep); err != nil {
			t.Fatal(err)
		}
		if rem, _ := l.PoolRemaining(ctx, "p", 2025); rem != 6500 {
			t.Fatalf("pool %d before expiry", rem)
		}
		// Past the expiry, with no request coming, the batcher's timer voids
		// the reservation in the pool and in the cap.
		clk.Set(t0.Add(2 * time.Hour))
		waitFor(t, "the reservation to expire", func() bool {
			rem, _ := l.PoolRemaining(ctx, "p", 2025)
			return rem == 9500
		})
		if b := balance(t, l, EnterpriseCapKey("E")); b.Available != 3500 {
			t.Errorf("cap available %d after expiry, want 3500", b.Available)
		}
		h, err := l.History(ctx, "E")
		if err != nil || len(h) != 2 || h[0].State != StateExpired || h[1].State != StateReserved {
			t.Fatalf("history %+v %v", h, err)
		}
		wantCode(t, l.Pay(ctx, "g", 3000), CodeExpired)
		wantCode(t, l.Release(ctx, "g"), CodeExpired)
		// A reservation that would expire at once is refused.
		late := Grant{ID: "late", Enterprise: "E", Item: "i", Year: 2025, Pool: "p", Amount: 1, Expires: t0}
		_, err = l.Reserve(ctx, late)
		wantCode(t, err, CodeExpired)
		mustVerify(t, db)
	})
}

// A post that arrives after the deadline but before the sweep is refused,
// and a ledger started after a deadline voids at once.
func TestExpiryAcrossRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
		clk := newClock(t0)
		l := open(t, db, Options{Now: clk.Now})
		fixture(t, l)
		mustTransfer(t, l, Transfer{ID: "p1", DebitAccount: "box", CreditAccount: "sink", Amount: 200, Flags: Pending, ExpiresAt: t0.Add(time.Minute)})
		l.Close()
		clk.Set(t0.Add(time.Hour))
		l2 := open(t, db, Options{Now: clk.Now})
		waitFor(t, "expiry at start", func() bool {
			ts, _ := l2.LookupTransfers(ctx, ExpireID("p1"))
			return len(ts) == 1
		})
		res, err := l2.CreateTransfers(ctx, []Transfer{{ID: "late-post", PendingID: "p1", Amount: 200, Flags: PostPending}})
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, res[0].Err, CodeExpired)
		if b := balance(t, l2, "box"); b.DebitsPending != 100 {
			t.Errorf("box pending %d, want 100 (the fixture's hold only)", b.DebitsPending)
		}
		mustVerify(t, db)
	})
}
