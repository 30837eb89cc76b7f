package ledger

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"policydesk/store"
)

// Reads go to the database, not to the batcher's cache: they see what is
// committed, which is also what another process would see.

// Balance is an account's balances and what it may still give.
type Balance struct {
	Account
	Available int64 // see Account.Available
}

// Balances returns the balances of the accounts, in the order asked. An
// unknown key is not_found.
func (l *Ledger) Balances(ctx context.Context, keys ...string) ([]Balance, error) {
	return balances(ctx, l.db, keys)
}

func balances(ctx context.Context, q store.Querier, keys []string) ([]Balance, error) {
	accts, err := lookupAccounts(ctx, q, keys)
	if err != nil {
		return nil, err
	}
	byKey := make(map[string]Account, len(accts))
	for _, a := range accts {
		byKey[a.Key] = a
	}
	out := make([]Balance, len(keys))
	for i, k := range keys {
		a, ok := byKey[k]
		if !ok {
			return nil, newError(CodeNotFound, k, "no account with this key")
		}
		out[i] = Balance{Account: a, Available: a.Available()}
	}
	return out, nil
}

// PoolRemaining is what a pool can still reserve in a year: funded less
// reserved and paid, plus what was clawed back. A pool never funded is
// not_found.
func (l *Ledger) PoolRemaining(ctx context.Context, pool string, year int) (int64, error) {
	return l.PoolRemainingIn(ctx, l.db, pool, year)
}

// PoolRemainingIn is PoolRemaining read through q: inside the caller's
// transaction when q is one.
func (l *Ledger) PoolRemainingIn(ctx context.Context, q store.Querier, pool string, year int) (int64, error) {
	bs, err := balances(ctx, q, []string{PoolKey(pool, year)})
	if err != nil {
		return 0, err
	}
	return bs[0].Available, nil
}

// LookupAccounts returns the accounts that exist among keys, in the order
// asked; missing keys are left out (compare lengths to notice).
func (l *Ledger) LookupAccounts(ctx context.Context, keys ...string) ([]Account, error) {
	return lookupAccounts(ctx, l.db, keys)
}

func lookupAccounts(ctx context.Context, q store.Querier, keys []string) ([]Account, error) {
	set := map[string]bool{}
	for _, k := range keys {
		if validKey(k) {
			set[k] = true
		}
	}
	found := map[string]*Account{}
	err := inChunks(set, func(part []string) error {
		cond, args := store.InList(q.Dialect(), "key", part)
		rows, err := q.Query(ctx, `SELECT `+accountColumns+` FROM ledger_accounts WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				return err
			}
			found[a.Key] = a
		}
		return rows.Err()
	})
	if err != nil {
		return nil, internal(err)
	}
	out := make([]Account, 0, len(found))
	for _, k := range keys {
		if a, ok := found[k]; ok {
			out = append(out, *a)
			delete(found, k)
		}
	}
	return out, nil
}

// LookupTransfers returns the transfers that exist among ids, in the order
// asked; missing ids are left out.
func (l *Ledger) LookupTransfers(ctx context.Context, ids ...string) ([]Transfer, error) {
	set := map[string]bool{}
	for _, id := range ids {
		if validKey(id) {
			set[id] = true
		}
	}
	found := map[string]*Transfer{}
	err := inChunks(set, func(part []string) error {
		cond, args := store.InList(l.db.Dialect(), "id", part)
		rows, err := l.db.Query(ctx, `SELECT `+transferReadColumns+` FROM ledger_transfers WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, _, err := scanTransfer(rows)
			if err != nil {
				return err
			}
			found[t.ID] = t
		}
		return rows.Err()
	})
	if err != nil {
		return nil, internal(err)
	}
	out := make([]Transfer, 0, len(found))
	for _, id := range ids {
		if t, ok := found[id]; ok {
			out = append(out, *t)
			delete(found, id)
		}
	}
	return out, nil
}

const transferReadColumns = `seq, id, debit_account, credit_account, amount, pending_id, flags, expires_at, code, user_data, hash, created_at`

func scanTransfer(s scanner) (*Transfer, []byte, error) {
	var (
		t       = Transfer{}
		pending sql.NullString
		expires sql.NullInt64
		flags   int64
		hash    []byte
		created int64
	)
	if err := s.Scan(&t.Seq, &t.ID, &t.DebitAccount, &t.CreditAccount, &t.Amount, &pending, &flags, &expires, &t.Code, &t.UserData, &hash, &created); err != nil {
		return nil, nil, err
	}
	t.PendingID = pending.String
	t.Flags = TransferFlags(flags)
	t.ExpiresAt = fromNano(expires.Int64)
	t.CreatedAt = fromNano(created)
	return &t, hash, nil
}

// Grant states in History.
const (
	StateReserved = "reserved" // pending: proposed, in 公示 or approved, not yet paid
	StatePaid     = "paid"     // posted (possibly in part; the rest was released)
	StateReleased = "released" // voided: rejected, withdrawn, objection upheld
	StateExpired  = "expired"  // voided by the ledger at its expiry
)

// Granted is one grant of an enterprise, as the rules engine needs it.
type Granted struct {
	GrantID   string
	Item      string
	Year      int
	Project   string
	Pool      string
	Reserved  int64  // the amount reserved
	Posted    int64  // the amount paid
	Clawed    int64  // the amount clawed back
	State     string // StateReserved, StatePaid, StateReleased or StateExpired
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Held is what the grant still holds against pools and caps: the
// reservation while it is pending, the payment less clawbacks after.
func (g Granted) Held() int64 {
	switch g.State {
	case StateReserved:
		return g.Reserved
	case StatePaid:
		return g.Posted - g.Clawed
	}
	return 0
}

// History returns an enterprise's grants, oldest first. An enterprise
// without grants has an empty history, not an error.
func (l *Ledger) History(ctx context.Context, enterprise string) ([]Granted, error) {
	return l.HistoryIn(ctx, l.db, enterprise)
}

// HistoryIn is History read through q: inside the caller's transaction
// when q is one.
func (l *Ledger) HistoryIn(ctx context.Context, q store.Querier, enterprise string) ([]Granted, error) {
	if !validKey(enterprise) {
		return []Granted{}, nil
	}
	rows, err := q.Query(ctx, `SELECT `+prefixed("g.", transferReadColumns)+`,
			r.flags, r.amount, r.code, r.id, p.debits_posted
		FROM ledger_transfers g
		LEFT JOIN ledger_transfers r ON r.pending_id = g.id
		LEFT JOIN ledger_accounts p ON p.key = 'paid/' || substr(g.id, 7)
		WHERE g.credit_account = ? AND g.code = 3
		ORDER BY g.seq`, PayableKey(enterprise))
	if err != nil {
		return nil, internal(err)
	}
	defer rows.Close()
	out := []Granted{}
	for rows.Next() {
		var (
			t                      Transfer
			pending                sql.NullString
			expires                sql.NullInt64
			flags, created         int64
			hash                   []byte
			rflags, ramount, rcode sql.NullInt64
			rid                    sql.NullString
			clawed                 sql.NullInt64
		)
		if err := rows.Scan(&t.Seq, &t.ID, &t.DebitAccount, &t.CreditAccount, &t.Amount, &pending, &flags, &expires, &t.Code, &t.UserData, &hash, &created,
			&rflags, &ramount, &rcode, &rid, &clawed); err != nil {
			return nil, internal(err)
		}
		if !strings.HasPrefix(t.ID, "grant/") {
			continue // code 3 used by someone else: not one of ours
		}
		t.Flags, t.ExpiresAt, t.CreatedAt = TransferFlags(flags), fromNano(expires.Int64), fromNano(created)
		gr, err := grantFrom(strings.TrimPrefix(t.ID, "grant/"), &t)
		if err != nil {
			return nil, internal(err)
		}
		g := Granted{GrantID: gr.ID, Item: gr.Item, Year: gr.Year, Project: gr.Project, Pool: gr.Pool, Reserved: gr.Amount,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, Clawed: clawed.Int64}
		switch {
		case !rflags.Valid:
			g.State = StateReserved
		case TransferFlags(rflags.Int64) == PostPending:
			g.State, g.Posted = StatePaid, ramount.Int64
		case int32(rcode.Int64) == TransferExpire && rid.String == ExpireID(t.ID):
			g.State = StateExpired
		default:
			g.State = StateReleased
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, internal(err)
	}
	return out, nil
}

// prefixed qualifies a column list with a table alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = alias + parts[i]
	}
	return strings.Join(parts, ", ")
}
