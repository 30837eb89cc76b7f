package ledger

import "context"

// Redeemed is the outcome of Redeem.
type Redeemed struct {
	GrantID   string // the grant redeemed (now posted)
	Posted    int64  // what was posted: moved from reserved to payable
	Next      string // the successor grant holding the rest; "" when nothing is left
	Remaining int64  // the successor's reservation
	Replayed  bool   // the same redemption had already been made
}

// Redeem posts part of a grant's reservation and keeps the rest reserved,
// atomically: one linked set that posts amount of the grant's pending
// transfers (pool and every cap), credits paid/<grant> with amount, and
// reserves the rest again under the successor grant nextID (same
// enterprise, item, year, project, pool, caps and expiry). A TigerBeetle
// pending transfer can be posted only once; a voucher is redeemed many
// times, so each redemption closes one grant of a chain and opens the next.
//
// The pool and the caps never see the remainder free in between: the post
// and the new reservation commit together, so no other grant can take it.
// History reports each grant of the chain on its own — the posted ones as
// paid, the last as reserved — so the held amounts sum to what the chain
// holds, and Claw takes back a posted grant of the chain by its id.
//
// amount must be positive and at most the grant's reservation; when it is
// all of it, nothing is reserved again and nextID may be empty. Redeem is
// idempotent: the same grant, amount and nextID again change nothing and
// report Replayed. Another amount or successor is a conflict; a grant
// already paid (Pay), released or redeemed differently is already_resolved
// or conflict.
func (l *Ledger) Redeem(ctx context.Context, grantID string, amount int64, nextID string) (Redeemed, error) {
	g, caps, err := l.grant(ctx, grantID)
	if err != nil {
		return Redeemed{}, err
	}
	if amount <= 0 || amount > g.Amount {
		return Redeemed{}, newError(CodeInvalid, grantID, "redemption %d must be positive and at most the reserved %d", amount, g.Amount)
	}
	rest := g.Amount - amount
	if rest > 0 && (nextID == "" || nextID == grantID || !validKey(nextID) || len(nextID) > 128) {
		return Redeemed{}, newError(CodeInvalid, grantID, "a partial redemption needs a successor grant id (1–128 bytes, not the grant's own)")
	}
	u := &unit{accounts: []Account{
		{Key: PaidSourceKey, Code: AccountPaidSource},
		{Key: PaidKey(g.ID), Code: AccountPaid, Flags: DebitsMustNotExceedCredits},
	}}
	// Posting first releases the whole reservation and posts amount; the
	// reservations of the successor then take the rest back, inside the
	// same unit, so bounds are checked on the final state of each step.
	u.transfers = append(u.transfers, Transfer{ID: redeemID(g.ID), PendingID: g.Main, Amount: amount, Flags: PostPending, Code: TransferPay, UserData: g.ID})
	for _, c := range caps {
		u.transfers = append(u.transfers, Transfer{ID: redeemCapID(g.ID, c.Key), PendingID: grantCapID(g.ID, c.Key), Amount: amount, Flags: PostPending, Code: TransferPay, UserData: g.ID})
	}
	u.transfers = append(u.transfers, Transfer{ID: paidID(g.ID), DebitAccount: PaidSourceKey, CreditAccount: PaidKey(g.ID), Amount: amount, Code: TransferPaid, UserData: g.ID})
	out := Redeemed{GrantID: g.ID, Posted: amount, Remaining: rest}
	mainAt := 0
	if rest > 0 {
		out.Next = nextID
		expires := fromNano(g.ExpiresAt)
		mainAt = len(u.transfers)
		u.transfers = append(u.transfers, Transfer{ID: GrantTransferID(nextID), DebitAccount: g.Source, CreditAccount: PayableKey(g.Enterprise),
			Amount: rest, Flags: Pending, ExpiresAt: expires, Code: TransferGrant, UserData: g.grantTerms.termsJSON()})
		for _, c := range caps {
			u.transfers = append(u.transfers, Transfer{ID: grantCapID(nextID, c.Key), DebitAccount: c.Key, CreditAccount: CapUsedKey,
				Amount: rest, Flags: Pending, ExpiresAt: expires, Code: TransferGrantCap, UserData: nextID})
		}
	}
	if err := l.submit(ctx, u); err != nil {
		return Redeemed{}, err
	}
	if u.err != nil {
		return Redeemed{}, u.err
	}
	out.Replayed = u.transferResults[0].Replayed && u.transferResults[mainAt].Replayed
	return out, nil
}

// Transfer ids of a redemption; distinct from Pay's, so that a grant is
// either paid or redeemed, never both.
func redeemID(id string) string            { return "grant/" + id + "/redeem" }
func redeemCapID(id, capKey string) string { return "grant/" + id + "/redeem/cap/" + capKey }
