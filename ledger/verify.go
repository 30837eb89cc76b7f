package ledger

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"strings"

	"policydesk/store"
)

// maxProblems bounds a report's list; the count goes on.
const maxProblems = 1000

// Report is the outcome of Verify.
type Report struct {
	Accounts  int // accounts checked
	Transfers int // transfers replayed
	Open      int // pending transfers still unresolved
	Grants    int // grants checked
	Problems  []Problem
	More      int // problems beyond the first maxProblems, not listed
}

// Problem is one broken invariant.
type Problem struct {
	Check   string // which invariant: balance, bound, transfer, pending, sequence, grant
	Subject string // the account key, transfer id or grant id
	Detail  string
}

// OK reports whether every invariant holds.
func (r Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(check, subject, format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.More++
		return
	}
	r.Problems = append(r.Problems, Problem{Check: check, Subject: subject, Detail: fmt.Sprintf(format, args...)})
}

// Write prints the report for people, Chinese first.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "账户 accounts: %d, 转账 transfers: %d, 未决预留 open pending: %d, 资助 grants: %d\n", r.Accounts, r.Transfers, r.Open, r.Grants)
	if r.OK() {
		fmt.Fprintln(w, "校验通过 ledger verified: every invariant holds")
		return
	}
	fmt.Fprintf(w, "校验失败 ledger verification FAILED: %d problem(s)\n", len(r.Problems)+r.More)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  [%s] %s: %s\n", p.Check, p.Subject, p.Detail)
	}
	if r.More > 0 {
		fmt.Fprintf(w, "  … and %d more\n", r.More)
	}
}

// Verify checks the ledger's invariants from the entries alone, in one
// consistent snapshot:
//
//   - the transfers replayed in seq order (which must run 1…last_seq
//     without a gap, so no entry was deleted) reproduce every account's
//     stored balances exactly;
//   - no account's bound is broken, neither now nor after any transfer of
//     the replay;
//   - every transfer balances: a positive amount between two different,
//     existing accounts (so all debits equal all credits, checked too);
//   - every pending transfer is resolved at most once, by a later post of
//     at most its amount before its expiry or by a void of all of it, on
//     its own accounts;
//   - every grant's reservation is a transfer of the grant's amount.
//
// The error is for a failure to read; broken invariants are in the report.
func Verify(ctx context.Context, db *store.DB) (Report, error) {
	var r Report
	err := db.ReadTx(ctx, func(tx *store.Tx) error {
		r = Report{}
		return verify(ctx, tx, &r)
	})
	return r, err
}

// Verify runs Verify on the ledger's database.
func (l *Ledger) Verify(ctx context.Context) (Report, error) { return Verify(ctx, l.db) }

type vpending struct {
	debit, credit *Account
	amount        int64
	expires       int64
	resolved      bool
}

func verify(ctx context.Context, tx *store.Tx, r *Report) error {
	stored := map[string]*Account{}
	computed := map[string]*Account{}
	rows, err := tx.Query(ctx, `SELECT `+accountColumns+` FROM ledger_accounts`)
	if err != nil {
		return err
	}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			rows.Close()
			return err
		}
		stored[a.Key] = a
		computed[a.Key] = &Account{Key: a.Key, Code: a.Code, Flags: a.Flags}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	r.Accounts = len(stored)

	var lastSeq int64
	if err := tx.QueryRow(ctx, `SELECT last_seq FROM ledger_meta WHERE id = 1`).Scan(&lastSeq); err != nil {
		return err
	}
	pending := map[string]*vpending{}
	// Grant and cap reservations, gathered in the same pass for the
	// linked-set check of verifyGrants.
	var grants []*Transfer
	capHolds := map[string]*Transfer{}
	rows, err = tx.Query(ctx, `SELECT `+transferReadColumns+` FROM ledger_transfers ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var seq int64
	for rows.Next() {
		t, _, err := scanTransfer(rows)
		if err != nil {
			return err
		}
		r.Transfers++
		if t.Seq != seq+1 {
			r.add("sequence", t.ID, "seq %d follows %d: entries are missing", t.Seq, seq)
		}
		seq = t.Seq
		verifyTransfer(r, t, computed, pending)
		switch {
		case t.Code == TransferGrant && strings.HasPrefix(t.ID, "grant/"):
			grants = append(grants, t)
		case t.Code == TransferGrantCap:
			capHolds[t.ID] = t
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if seq != lastSeq {
		r.add("sequence", "ledger_meta", "last_seq is %d but the last transfer is %d", lastSeq, seq)
	}
	for _, p := range pending {
		if !p.resolved {
			r.Open++
		}
	}

	// Stored balances against the replay, and the global double entry.
	var dPost, cPost, dPend, cPend big.Int
	for k, s := range stored {
		c := computed[k]
		if s.DebitsPending != c.DebitsPending || s.DebitsPosted != c.DebitsPosted ||
			s.CreditsPending != c.CreditsPending || s.CreditsPosted != c.CreditsPosted {
			r.add("balance", k, "stored dp=%d dpo=%d cp=%d cpo=%d, entries give dp=%d dpo=%d cp=%d cpo=%d",
				s.DebitsPending, s.DebitsPosted, s.CreditsPending, s.CreditsPosted,
				c.DebitsPending, c.DebitsPosted, c.CreditsPending, c.CreditsPosted)
		}
		if checkBounds(s, "") != nil {
			r.add("bound", k, "stored balances break the account's bound")
		}
		dPost.Add(&dPost, big.NewInt(c.DebitsPosted))
		cPost.Add(&cPost, big.NewInt(c.CreditsPosted))
		dPend.Add(&dPend, big.NewInt(c.DebitsPending))
		cPend.Add(&cPend, big.NewInt(c.CreditsPending))
	}
	if dPost.Cmp(&cPost) != 0 || dPend.Cmp(&cPend) != 0 {
		r.add("transfer", "ledger", "debits (posted %s, pending %s) differ from credits (posted %s, pending %s)", &dPost, &dPend, &cPost, &cPend)
	}
	verifyGrants(r, grants, capHolds)
	return nil
}

// verifyTransfer checks one entry and applies it to the computed balances.
func verifyTransfer(r *Report, t *Transfer, computed map[string]*Account, pending map[string]*vpending) {
	dr, cr := computed[t.DebitAccount], computed[t.CreditAccount]
	switch {
	case dr == nil || cr == nil:
		r.add("transfer", t.ID, "names an account that does not exist")
		return
	case dr == cr:
		r.add("transfer", t.ID, "debits and credits the same account")
		return
	case t.Amount <= 0:
		r.add("transfer", t.ID, "amount %d is not positive", t.Amount)
		return
	}
	created := unixNano(t.CreatedAt)
	d, c := *dr, *cr
	ok := true
	add := func(p *int64, v int64) {
		if ok {
			*p, ok = addOK(*p, v)
		}
	}
	switch t.Flags {
	case 0:
		add(&d.DebitsPosted, t.Amount)
		add(&c.CreditsPosted, t.Amount)
	case Pending:
		add(&d.DebitsPending, t.Amount)
		add(&c.CreditsPending, t.Amount)
		pending[t.ID] = &vpending{debit: dr, credit: cr, amount: t.Amount, expires: unixNano(t.ExpiresAt)}
	case PostPending, VoidPending:
		p := pending[t.PendingID]
		switch {
		case p == nil:
			r.add("pending", t.ID, "resolves %q, which is not an earlier pending transfer", t.PendingID)
			return
		case p.resolved:
			r.add("pending", t.PendingID, "resolved more than once (again by %s)", t.ID)
			return
		case p.debit.Key != t.DebitAccount || p.credit.Key != t.CreditAccount:
			r.add("pending", t.ID, "accounts differ from those of pending transfer %s", t.PendingID)
			return
		case t.Flags == PostPending && t.Amount > p.amount:
			r.add("pending", t.ID, "posts %d of a pending %d", t.Amount, p.amount)
			return
		case t.Flags == PostPending && p.expires != 0 && created >= p.expires:
			r.add("pending", t.ID, "posts %s after its expiry", t.PendingID)
		case t.Flags == VoidPending && t.Amount != p.amount:
			r.add("pending", t.ID, "voids %d of a pending %d", t.Amount, p.amount)
			return
		case t.Flags == VoidPending && t.ID == ExpireID(t.PendingID) && t.Code == TransferExpire && created < p.expires:
			r.add("pending", t.ID, "expired %s before its expiry", t.PendingID)
		}
		p.resolved = true
		add(&d.DebitsPending, -p.amount)
		add(&c.CreditsPending, -p.amount)
		if t.Flags == PostPending {
			add(&d.DebitsPosted, t.Amount)
			add(&c.CreditsPosted, t.Amount)
		}
	default:
		r.add("transfer", t.ID, "flags %d are not a transfer kind", t.Flags)
		return
	}
	if !ok || d.DebitsPending < 0 || c.CreditsPending < 0 {
		r.add("transfer", t.ID, "takes a balance out of range")
		return
	}
	for _, a := range []*Account{&d, &c} {
		if checkBounds(a, t.ID) != nil {
			r.add("bound", a.Key, "broken by transfer %s (seq %d)", t.ID, t.Seq)
		}
	}
	*dr, *cr = d, c
}

// verifyGrants checks that each grant reservation carries readable terms
// and that its cap reservations exist with the same amount and expiry: the
// linked set was written whole.
func verifyGrants(r *Report, grants []*Transfer, capHolds map[string]*Transfer) {
	for _, t := range grants {
		id := strings.TrimPrefix(t.ID, "grant/")
		g, err := grantFrom(id, t)
		if err != nil || t.Flags != Pending || t.CreditAccount != PayableKey(g.Enterprise) {
			r.add("grant", id, "the reservation's terms are unreadable or do not match its accounts")
			continue
		}
		r.Grants++
		for _, c := range g.grantTerms.Caps {
			h := capHolds[grantCapID(id, c.Key)]
			if h == nil || h.Amount != g.Amount || unixNano(h.ExpiresAt) != g.ExpiresAt || h.DebitAccount != c.Key || h.Flags != Pending {
				r.add("grant", id, "the reservation of cap %s is missing or differs from the grant's", c.Key)
			}
		}
	}
}
