package ledger

import (
	"context"
	"fmt"
	"math/bits"
	"sync"

	"policydesk/store"
)

// maxRowsPerStatement bounds multi-row statements: 256 rows × 12 columns
// stays far below SQLite's 32766 and PostgreSQL's 65535 parameters.
const maxRowsPerStatement = 256

// writes are a batch's statements, their arguments built before the
// transaction begins, so that the write transaction, which holds the
// database's write lock, only executes them.
type writes struct {
	execs   []stmtExec // SQLite: prepared multi-row statements
	pgArgs  []any      // PostgreSQL: the one statement's arguments
	updates int        // PostgreSQL: accounts the statement must update
}

type stmtExec struct {
	q    string // one of writeQueries
	n    int    // its rows
	args []any
}

// build prepares the batch's writes: changed accounts, new transfers, and
// the ledger's new version (SQLite: a few multi-row statements; PostgreSQL:
// one statement, see buildPG).
func (b *batch) build() {
	b.w = writes{}
	if b.l.db.Dialect() == store.Postgres {
		b.buildPG()
		return
	}
	b.buildAccounts()
	b.buildTransfers()
}

// write stores the batch in b.tx. Nothing is written for a batch that
// changed nothing (all refusals or replays).
func (b *batch) write(ctx context.Context) error {
	if !b.wrote {
		return nil
	}
	if b.tx.Dialect() == store.Postgres {
		var updated int64
		if err := b.tx.QueryRow(ctx, pgWrite, b.w.pgArgs...).Scan(&updated); err != nil {
			return fmt.Errorf("ledger: write: %w", err)
		}
		if updated != int64(b.w.updates) {
			return fmt.Errorf("ledger: write: updated %d of %d accounts", updated, b.w.updates)
		}
		return nil
	}
	for _, e := range b.w.execs {
		if _, err := b.tx.Exec(ctx, e.q, e.args...); err != nil {
			return fmt.Errorf("ledger: write %d rows: %w", e.n, err)
		}
	}
	if _, err := b.tx.Exec(ctx, `UPDATE ledger_meta SET version = ?, last_seq = ? WHERE id = 1`, b.base+1, b.seq); err != nil {
		return fmt.Errorf("ledger: write meta: %w", err)
	}
	return nil
}

// rowChunks splits n rows into statements of power-of-two sizes, so that a
// handful of statements serve every batch size.
func rowChunks(n int) []int {
	var out []int
	for n > 0 {
		k := min(1<<(bits.Len(uint(n))-1), maxRowsPerStatement)
		out = append(out, k)
		n -= k
	}
	return out
}

// Row kinds of SQLite's multi-row writes.
const (
	accountRows = iota
	transferRows
)

// writeQueries are SQLite's multi-row writes of every chunk size (index
// log2 n): a handful of statement texts, which the store keeps prepared.
var writeQueries = sync.OnceValue(func() (q [2][]string) {
	for n := 1; n <= maxRowsPerStatement; n *= 2 {
		q[accountRows] = append(q[accountRows], `INSERT INTO ledger_accounts (`+accountColumns+`) VALUES `+placeholderRows(n, 8)+`
			ON CONFLICT (key) DO UPDATE SET debits_pending = excluded.debits_pending, debits_posted = excluded.debits_posted,
			credits_pending = excluded.credits_pending, credits_posted = excluded.credits_posted`)
		q[transferRows] = append(q[transferRows], `INSERT INTO ledger_transfers (`+transferColumns+`) VALUES `+placeholderRows(n, 12))
	}
	return q
})

// writeQuery returns the write of n rows of a kind (n a power of two).
func writeQuery(kind, n int) string {
	return writeQueries()[kind][bits.Len(uint(n))-1]
}

// buildAccounts upserts every account the batch created or changed. Only
// balances change on conflict: an account's identity is fixed (and a
// trigger refuses any other update).
func (b *batch) buildAccounts() {
	rows := make([]*Account, 0, len(b.accounts))
	for _, a := range b.accounts {
		rows = append(rows, a)
	}
	for _, n := range rowChunks(len(rows)) {
		args := make([]any, 0, n*8)
		for _, a := range rows[:n] {
			args = append(args, a.Key, a.Code, int64(a.Flags), a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted, unixNano(a.CreatedAt))
		}
		b.w.execs = append(b.w.execs, stmtExec{writeQuery(accountRows, n), n, args})
		rows = rows[n:]
	}
}

// buildPG prepares the whole batch as one PostgreSQL statement, one round
// trip: data-modifying CTEs insert the new accounts, update the balances
// of the others (a plain UPDATE costs far less than INSERT … ON CONFLICT
// DO UPDATE), insert the transfers, and move the ledger's version. Every
// part takes its rows as arrays through unnest, so the statement's text
// never changes and stays prepared.
func (b *batch) buildPG() {
	var ins, upd accountArrays
	for k, a := range b.accounts {
		if b.created[k] {
			ins.add(a)
		} else {
			upd.add(a)
		}
	}
	n := len(b.transfers)
	var (
		seq, amount, expires, created = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		flags, code                   = make([]int32, n), make([]int32, n)
		id, debit, credit, pending    = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		user                          = make([]string, n)
	)
	for i, t := range b.transfers {
		seq[i], id[i], debit[i], credit[i], amount[i] = t.Seq, t.ID, t.DebitAccount, t.CreditAccount, t.Amount
		pending[i], flags[i], expires[i], code[i], user[i] = t.PendingID, int32(t.Flags), unixNano(t.ExpiresAt), t.Code, t.UserData
		created[i] = unixNano(t.CreatedAt)
	}
	b.w.updates = len(upd.key)
	b.w.pgArgs = []any{
		ins.key, ins.code, ins.flags, ins.dp, ins.dpo, ins.cp, ins.cpo, ins.created,
		upd.key, upd.dp, upd.dpo, upd.cp, upd.cpo,
		seq, id, debit, credit, amount, pending, flags, expires, code, user, b.hashes, created,
		b.base + 1, b.seq}
}

// pgWrite is buildPG's statement.
const pgWrite = `WITH
		ins AS (INSERT INTO ledger_accounts (` + accountColumns + `)
			SELECT * FROM unnest(?::text[], ?::int[], ?::int[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[])),
		upd AS (UPDATE ledger_accounts a SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, credits_posted = v.cpo
			FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[]) AS v(key, dp, dpo, cp, cpo)
			WHERE a.key = v.key RETURNING 1),
		tr AS (INSERT INTO ledger_transfers (` + transferColumns + `)
			SELECT seq, id, debit, credit, amount, NULLIF(pending, ''), flags, NULLIF(expires, 0), code, userdata, hash, created
			FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::int[], ?::bigint[], ?::int[], ?::text[], ?::bytea[], ?::bigint[])
			AS t(seq, id, debit, credit, amount, pending, flags, expires, code, userdata, hash, created))
		UPDATE ledger_meta SET version = ?, last_seq = ? WHERE id = 1 RETURNING (SELECT count(*) FROM upd)`

// accountArrays holds accounts column by column, for unnest.
type accountArrays struct {
	key                       []string
	code, flags               []int32
	dp, dpo, cp, cpo, created []int64
}

func (x *accountArrays) add(a *Account) {
	x.key, x.code, x.flags = append(x.key, a.Key), append(x.code, a.Code), append(x.flags, int32(a.Flags))
	x.dp, x.dpo, x.cp, x.cpo = append(x.dp, a.DebitsPending), append(x.dpo, a.DebitsPosted), append(x.cp, a.CreditsPending), append(x.cpo, a.CreditsPosted)
	x.created = append(x.created, unixNano(a.CreatedAt))
}

const transferColumns = `seq, id, debit_account, credit_account, amount, pending_id, flags, expires_at, code, user_data, hash, created_at`

// buildTransfers inserts the new transfers in seq order with prepared
// multi-row VALUES (SQLite).
func (b *batch) buildTransfers() {
	ts, hs := b.transfers, b.hashes
	for _, n := range rowChunks(len(ts)) {
		args := make([]any, 0, n*12)
		for i, t := range ts[:n] {
			var pending, expires any
			if t.PendingID != "" {
				pending = t.PendingID
			}
			if !t.ExpiresAt.IsZero() {
				expires = t.ExpiresAt.UnixNano()
			}
			args = append(args, t.Seq, t.ID, t.DebitAccount, t.CreditAccount, t.Amount, pending, int64(t.Flags), expires, int64(t.Code), t.UserData, hs[i], unixNano(t.CreatedAt))
		}
		b.w.execs = append(b.w.execs, stmtExec{writeQuery(transferRows, n), n, args})
		ts, hs = ts[n:], hs[n:]
	}
}
