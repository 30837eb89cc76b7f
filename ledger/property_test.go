package ledger

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"policydesk/store"
	"policydesk/store/storetest"
)

// model is a plain reference ledger: the balances implied by the transfers
// the real ledger accepted, kept by a few lines of obvious code.
type model struct {
	accts   map[string]*Account
	pending map[string]*Transfer // open pending transfers
	seen    map[string]Transfer  // every applied transfer by id
}

// wouldBreak reports whether applying t (already known valid) to the model
// would break a bound, leaving the model unchanged.
func (m *model) apply(t Transfer, dry bool) (broken bool) {
	var dr, cr *Account
	var pendAmt int64
	if t.kind() == PostPending || t.kind() == VoidPending {
		p := m.pending[t.PendingID]
		dr, cr, pendAmt = m.accts[p.DebitAccount], m.accts[p.CreditAccount], p.Amount
	} else {
		dr, cr = m.accts[t.DebitAccount], m.accts[t.CreditAccount]
	}
	d, c := *dr, *cr
	switch t.kind() {
	case 0:
		d.DebitsPosted += t.Amount
		c.CreditsPosted += t.Amount
	case Pending:
		d.DebitsPending += t.Amount
		c.CreditsPending += t.Amount
	case PostPending:
		d.DebitsPending -= pendAmt
		c.CreditsPending -= pendAmt
		d.DebitsPosted += t.Amount
		c.CreditsPosted += t.Amount
	case VoidPending:
		d.DebitsPending -= pendAmt
		c.CreditsPending -= pendAmt
	}
	for _, a := range []Account{d, c} {
		if a.Flags&DebitsMustNotExceedCredits != 0 && sumExceeds(a.DebitsPending, a.DebitsPosted, a.CreditsPosted) {
			broken = true
		}
		if a.Flags&CreditsMustNotExceedDebits != 0 && sumExceeds(a.CreditsPending, a.CreditsPosted, a.DebitsPosted) {
			broken = true
		}
	}
	if dry {
		return broken
	}
	*dr, *cr = d, c
	m.seen[t.ID] = t
	switch t.kind() {
	case Pending:
		tt := t
		m.pending[t.ID] = &tt
	case PostPending, VoidPending:
		delete(m.pending, t.PendingID)
	}
	return broken
}

// clone copies the model deeply enough to apply transfers to the copy.
func (m *model) clone() *model {
	c := &model{accts: map[string]*Account{}, pending: map[string]*Transfer{}, seen: map[string]Transfer{}}
	for k, a := range m.accts {
		aa := *a
		c.accts[k] = &aa
	}
	for k, p := range m.pending {
		pp := *p
		c.pending[k] = &pp
	}
	for k, t := range m.seen {
		c.seen[k] = t
	}
	return c
}

// sumExceeds reports x+y > z in exact arithmetic: the model must not wrap
// where the ledger refuses (a pending MaxInt64 on top of a posted 100).
func sumExceeds(x, y, z int64) bool {
	s := new(big.Int).Add(big.NewInt(x), big.NewInt(y))
	return s.Cmp(big.NewInt(z)) > 0
}

var propRun atomic.Int64

// Random chains of transfers — valid or not, fresh or replayed — keep the
// ledger equal to the model of what it accepted, never break a bound, never
// refuse for lack of funds what would have fitted, and always verify.
func TestPropertyTransfers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		rapid.Check(t, func(rt *rapid.T) {
			p := fmt.Sprintf("r%d/", propRun.Add(1)) // a namespace per run
			m := &model{accts: map[string]*Account{}, pending: map[string]*Transfer{}, seen: map[string]Transfer{}}
			keys := []string{p + "src", p + "a", p + "b", p + "cap", p + "neg"}
			flags := []AccountFlags{0, DebitsMustNotExceedCredits, DebitsMustNotExceedCredits, DebitsMustNotExceedCredits, CreditsMustNotExceedDebits}
			codes := []int32{AccountUserDefined, AccountUserDefined, AccountUserDefined, AccountCap, AccountUserDefined}
			var accts []Account
			for i, k := range keys {
				accts = append(accts, Account{Key: k, Code: codes[i], Flags: flags[i]})
				m.accts[k] = &Account{Key: k, Code: codes[i], Flags: flags[i]}
			}
			if _, err := l.CreateAccounts(ctx, accts); err != nil {
				rt.Fatal(err)
			}
			ids := rapid.IntRange(0, 15)
			anyKey := rapid.SampledFrom(append(keys, p+"ghost"))
			steps := rapid.IntRange(1, 25).Draw(rt, "steps")
			for step := range steps {
				n := rapid.IntRange(1, 3).Draw(rt, "chain")
				chain := make([]Transfer, n)
				for i := range chain {
					tr := Transfer{
						ID:            fmt.Sprintf("%st%d", p, ids.Draw(rt, "id")),
						DebitAccount:  anyKey.Draw(rt, "debit"),
						CreditAccount: anyKey.Draw(rt, "credit"),
						Amount:        rapid.SampledFrom([]int64{-1, 0, 1, 5, 50, 100, 400, math.MaxInt64}).Draw(rt, "amount"),
						Flags:         rapid.SampledFrom([]TransferFlags{0, 0, Pending, PostPending, VoidPending}).Draw(rt, "kind"),
					}
					if tr.Flags == PostPending || tr.Flags == VoidPending {
						tr.PendingID = fmt.Sprintf("%st%d", p, ids.Draw(rt, "pending"))
						tr.DebitAccount, tr.CreditAccount = "", ""
						if tr.Flags == VoidPending {
							tr.Amount = 0
						}
					}
					if i < n-1 {
						tr.Flags |= Linked
					}
					chain[i] = tr
				}
				res, err := l.CreateTransfers(ctx, chain)
				if err != nil {
					rt.Fatal(err)
				}
				// Check each result against the model, applying the chain's
				// successes to a scratch copy first: a chain is atomic.
				ok := true
				for _, r := range res {
					ok = ok && r.Err == nil
				}
				// scratch holds what the ledger had applied tentatively when
				// it judged each transfer: the committed state plus the
				// chain's transfers before it (up to the one that failed).
				scratch, failedAt := m.clone(), -1
				for i, r := range res {
					if r.Err != nil && ErrorCode(r.Err) != CodeLinkedEventFailed {
						failedAt = i
						break
					}
				}
				for i, r := range res {
					tr := chain[i]
					prev, existed := m.seen[tr.ID]
					if ErrorCode(r.Err) == CodeInsufficientFunds || ErrorCode(r.Err) == CodeExceedsCap {
						if !scratch.apply(resolve(scratch, tr), true) {
							rt.Fatalf("step %d: %s refused with %v but fits the model", step, tr.ID, r.Err)
						}
					}
					if failedAt < 0 || i < failedAt {
						if _, again := scratch.seen[tr.ID]; !again {
							scratch.apply(resolve(scratch, tr), false)
						}
					}
					switch {
					case r.Err == nil && r.Replayed:
						if !existed || bodyHashEq(prev, tr) == false {
							rt.Fatalf("step %d: %s reported a replay of nothing identical", step, tr.ID)
						}
					case r.Err == nil:
						if existed {
							rt.Fatalf("step %d: %s applied twice", step, tr.ID)
						}
					}
					if r.Err == nil && !r.Replayed && ok {
						if m.apply(resolve(m, tr), false) {
							rt.Fatalf("step %d: %s accepted though it breaks a bound in the model", step, tr.ID)
						}
					} else if r.Err != nil && ok {
						rt.Fatalf("step %d: chain reported ok and failed at once", step)
					}
				}
				// The ledger holds what the model holds.
				bs, err := l.Balances(ctx, keys...)
				if err != nil {
					rt.Fatal(err)
				}
				for _, b := range bs {
					want := m.accts[b.Key]
					if b.DebitsPending != want.DebitsPending || b.DebitsPosted != want.DebitsPosted ||
						b.CreditsPending != want.CreditsPending || b.CreditsPosted != want.CreditsPosted {
						rt.Fatalf("step %d: %s is %+v, the model says %+v", step, b.Key, b.Account, *want)
					}
				}
			}
		})
		mustVerify(t, db)
	})
}

// resolve fills a post or void with its pending transfer's accounts.
func resolve(m *model, t Transfer) Transfer {
	if p, ok := m.pending[t.PendingID]; ok && (t.kind() == PostPending || t.kind() == VoidPending) {
		t.DebitAccount, t.CreditAccount = p.DebitAccount, p.CreditAccount
	}
	return t
}

func bodyHashEq(a, b Transfer) bool {
	return string(bodyHash(&a)) == string(bodyHash(&b))
}

// Random grant workflows keep the pool's books: what the pool has given
// out plus what it still has equals what it was funded with, every cap
// holds exactly what its grants hold, and the ledger verifies.
func TestPropertyGrants(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		rapid.Check(t, func(rt *rapid.T) {
			run := propRun.Add(1)
			pool := fmt.Sprintf("pool%d", run)
			funded := rapid.Int64Range(1, 20_000).Draw(rt, "funded")
			if err := l.FundPool(ctx, pool, 2025, funded, pool); err != nil {
				rt.Fatal(err)
			}
			ents := []string{fmt.Sprintf("A%d", run), fmt.Sprintf("B%d", run)}
			capLimit := rapid.Int64Range(1, 10_000).Draw(rt, "cap")
			var grants []string
			claws := 0
			for step := range rapid.IntRange(1, 30).Draw(rt, "steps") {
				switch rapid.IntRange(0, 4).Draw(rt, "op") {
				case 0, 1: // reserve (or replay one)
					e := rapid.SampledFrom(ents).Draw(rt, "enterprise")
					id := fmt.Sprintf("%s-g%d", pool, rapid.IntRange(0, 8).Draw(rt, "grant"))
					g := Grant{ID: id, Enterprise: e, Item: "i", Year: 2025, Pool: pool, Amount: rapid.Int64Range(1, 5000).Draw(rt, "amount"),
						Caps: []Cap{{Key: EnterpriseCapKey(e) + "/" + pool, Limit: capLimit}}}
					_, err := l.Reserve(ctx, g)
					switch ErrorCode(err) {
					case "":
						grants = append(grants, id)
					case CodeInsufficientFunds, CodeExceedsCap, CodeConflict:
					default:
						rt.Fatalf("step %d: reserve: %v", step, err)
					}
				case 2: // pay part
					if len(grants) == 0 {
						continue
					}
					id := rapid.SampledFrom(grants).Draw(rt, "pay")
					err := l.Pay(ctx, id, rapid.Int64Range(1, 5000).Draw(rt, "paid"))
					if c := ErrorCode(err); c != "" && c != CodeInvalid && c != CodeAlreadyResolved && c != CodeConflict {
						rt.Fatalf("step %d: pay: %v", step, err)
					}
				case 3: // release
					if len(grants) == 0 {
						continue
					}
					err := l.Release(ctx, rapid.SampledFrom(grants).Draw(rt, "release"))
					if c := ErrorCode(err); c != "" && c != CodeAlreadyResolved {
						rt.Fatalf("step %d: release: %v", step, err)
					}
				case 4: // claw back
					if len(grants) == 0 {
						continue
					}
					claws++
					err := l.Claw(ctx, rapid.SampledFrom(grants).Draw(rt, "claw"), rapid.Int64Range(1, 3000).Draw(rt, "clawed"), fmt.Sprintf("%s-c%d", pool, claws))
					if c := ErrorCode(err); c != "" && c != CodeInsufficientFunds {
						rt.Fatalf("step %d: claw: %v", step, err)
					}
				}
			}
			// Books of the pool and caps from History alone.
			held := map[string]int64{}
			var poolHeld int64
			for _, e := range ents {
				h, err := l.History(ctx, e)
				if err != nil {
					rt.Fatal(err)
				}
				for _, g := range h {
					held[e] += g.Held()
					poolHeld += g.Held()
				}
			}
			rem, err := l.PoolRemaining(ctx, pool, 2025)
			if err != nil {
				rt.Fatal(err)
			}
			if rem+poolHeld != funded || rem < 0 {
				rt.Fatalf("pool: %d remaining + %d held by grants ≠ %d funded", rem, poolHeld, funded)
			}
			for _, e := range ents {
				bs, err := l.Balances(ctx, EnterpriseCapKey(e)+"/"+pool)
				if err != nil {
					if ErrorCode(err) == CodeNotFound && held[e] == 0 {
						continue
					}
					rt.Fatal(err)
				}
				if bs[0].Available != capLimit-held[e] || bs[0].Available < 0 {
					rt.Fatalf("cap of %s: %d available, limit %d − held %d", e, bs[0].Available, capLimit, held[e])
				}
			}
		})
		mustVerify(t, db)
	})
}
