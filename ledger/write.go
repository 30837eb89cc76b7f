package ledger

import (
	"context"
	"fmt"

	"policydesk/store"
)

// rowsPerStatement bounds multi-row statements: 200 rows × 12 columns
// stays far below SQLite's 32766 and PostgreSQL's 65535 parameters.
const rowsPerStatement = 200

// write stores the batch: changed accounts, new transfers, new grants, and
// the ledger's new version. Nothing is written for a batch that changed
// nothing (all refusals or replays).
func (b *batch) write(ctx context.Context) error {
	if len(b.transfers) == 0 && len(b.accounts) == 0 {
		return nil
	}
	if err := b.writeAccounts(ctx); err != nil {
		return fmt.Errorf("ledger: write accounts: %w", err)
	}
	if err := b.writeTransfers(ctx); err != nil {
		return fmt.Errorf("ledger: write transfers: %w", err)
	}
	if err := b.writeGrants(ctx); err != nil {
		return fmt.Errorf("ledger: write grants: %w", err)
	}
	if _, err := b.tx.Exec(ctx, `UPDATE ledger_meta SET version = ?, last_seq = ? WHERE id = 1`, b.l.version+1, b.seq); err != nil {
		return fmt.Errorf("ledger: write meta: %w", err)
	}
	return nil
}

// writeAccounts upserts every account the batch created or changed. Only
// balances change on conflict: an account's identity is fixed (and a
// trigger refuses any other update).
func (b *batch) writeAccounts(ctx context.Context) error {
	rows := make([]*Account, 0, len(b.accounts))
	for _, a := range b.accounts {
		rows = append(rows, a)
	}
	for len(rows) > 0 {
		n := min(len(rows), rowsPerStatement)
		args := make([]any, 0, n*8)
		for _, a := range rows[:n] {
			args = append(args, a.Key, a.Code, int64(a.Flags), a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted, unixNano(a.CreatedAt))
		}
		_, err := b.tx.Exec(ctx, `INSERT INTO ledger_accounts (`+accountColumns+`) VALUES `+placeholderRows(n, 8)+`
			ON CONFLICT (key) DO UPDATE SET debits_pending = excluded.debits_pending, debits_posted = excluded.debits_posted,
			credits_pending = excluded.credits_pending, credits_posted = excluded.credits_posted`, args...)
		if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

const transferColumns = `seq, id, debit_account, credit_account, amount, pending_id, flags, expires_at, code, user_data, hash, created_at`

// writeTransfers inserts the new transfers in seq order. PostgreSQL takes
// them as 12 arrays through unnest — one statement text whatever the
// batch size, so pgx's statement cache keeps it prepared; SQLite takes
// multi-row VALUES.
func (b *batch) writeTransfers(ctx context.Context) error {
	if b.tx.Dialect() == store.Postgres {
		return b.writeTransfersPG(ctx)
	}
	ts := b.transfers
	hs := b.hashes
	for len(ts) > 0 {
		n := min(len(ts), rowsPerStatement)
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
		if _, err := b.tx.Exec(ctx, `INSERT INTO ledger_transfers (`+transferColumns+`) VALUES `+placeholderRows(n, 12), args...); err != nil {
			return err
		}
		ts, hs = ts[n:], hs[n:]
	}
	return nil
}

func (b *batch) writeTransfersPG(ctx context.Context) error {
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
	_, err := b.tx.Exec(ctx, `INSERT INTO ledger_transfers (`+transferColumns+`)
		SELECT seq, id, debit, credit, amount, NULLIF(pending, ''), flags, NULLIF(expires, 0), code, userdata, hash, created
		FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::int[], ?::bigint[], ?::int[], ?::text[], ?::bytea[], ?::bigint[])
		AS t(seq, id, debit, credit, amount, pending, flags, expires, code, userdata, hash, created)`,
		seq, id, debit, credit, amount, pending, flags, expires, code, user, b.hashes, created)
	return err
}

const grantColumns = `id, enterprise, item, year, pool, project, amount, source_account, caps, main_transfer, expires_at, hash, created_at`

func (b *batch) writeGrants(ctx context.Context) error {
	gs := b.newGrants
	for len(gs) > 0 {
		n := min(len(gs), rowsPerStatement)
		args := make([]any, 0, n*13)
		for _, g := range gs[:n] {
			var expires any
			if g.ExpiresAt != 0 {
				expires = g.ExpiresAt
			}
			args = append(args, g.ID, g.Enterprise, g.Item, g.Year, g.Pool, g.Project, g.Amount, g.Source, g.Caps, g.Main, expires, g.Hash, g.CreatedAt)
		}
		if _, err := b.tx.Exec(ctx, `INSERT INTO ledger_grants (`+grantColumns+`) VALUES `+placeholderRows(n, 13), args...); err != nil {
			return err
		}
		gs = gs[n:]
	}
	return nil
}
