package ledger

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"strings"

	"policydesk/store"
)

var errMissingAccount = errors.New("ledger: a pending transfer names an account that does not exist")

// chunk bounds the ids in one IN (…) list, well under both engines' limits
// on bound parameters.
const chunk = 500

// lock takes the ledger's write lock for this transaction and reads its
// version. A version this process did not write means another process
// wrote: the cache is dropped and the state reloaded under the lock.
func (b *batch) lock(ctx context.Context) error {
	version, lastSeq, err := readMeta(ctx, b.tx)
	if err != nil {
		return err
	}
	l := b.l
	if version == l.version {
		return nil
	}
	l.accounts = map[string]*Account{}
	l.expiries = l.expiries[:0]
	l.seq = lastSeq
	rows, err := b.tx.Query(ctx, `SELECT p.id, p.expires_at FROM ledger_transfers p
		WHERE p.expires_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = p.id)`)
	if err != nil {
		return fmt.Errorf("ledger: load expiries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e expiry
		if err := rows.Scan(&e.id, &e.at); err != nil {
			return err
		}
		l.expiries = append(l.expiries, e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	heap.Init(&l.expiries)
	l.version = version
	return nil
}

// readMeta takes the ledger's write lock for tx and reads ledger_meta.
func readMeta(ctx context.Context, tx *store.Tx) (version, lastSeq int64, err error) {
	q := `SELECT version, last_seq FROM ledger_meta WHERE id = 1`
	if tx.Dialect() == store.Postgres {
		// The row lock is held to commit: ledger writers of every
		// process take their turn here. (SQLite's transaction began
		// IMMEDIATE and already holds the database's write lock.)
		q += ` FOR UPDATE`
	}
	if err := tx.QueryRow(ctx, q).Scan(&version, &lastSeq); err != nil {
		return 0, 0, fmt.Errorf("ledger: lock: %w", err)
	}
	return version, lastSeq, nil
}

func pushExpiry(l *Ledger, p *pendingState) {
	heap.Push(&l.expiries, expiry{at: p.expires, id: p.id})
}

// prefetch reads in a few queries everything the units refer to that the
// cache lacks: accounts, transfers with the same ids (idempotency), the
// pending transfers that posts and voids resolve, and grants.
func (b *batch) prefetch(ctx context.Context, units []*unit) error {
	keys := map[string]bool{}
	ids := map[string]bool{}
	pend := map[string]bool{}
	// Malformed keys and ids never reach SQL (PostgreSQL refuses invalid
	// UTF-8 and would fail the whole batch); applyUnit refuses them.
	// What the batch already knows (a batch extended with more units)
	// is newer than the database and is not read again.
	wantKey := func(k string) {
		if validKey(k) && b.account(k) == nil {
			keys[k] = true
		}
	}
	for _, u := range units {
		for _, a := range u.accounts {
			wantKey(a.Key)
		}
		for _, t := range u.transfers {
			_, known := b.existing[t.ID]
			_, mine := b.byID[t.ID]
			if !known && !mine && validKey(t.ID) {
				ids[t.ID] = true
			}
			if t.PendingID != "" {
				if b.pending[t.PendingID] == nil && validKey(t.PendingID) {
					pend[t.PendingID] = true
				}
			} else {
				wantKey(t.DebitAccount)
				wantKey(t.CreditAccount)
			}
		}
	}
	for id := range pend {
		ids[id] = true
	}
	if err := b.loadTransfers(ctx, ids, pend, keys); err != nil {
		return err
	}
	return b.loadAccounts(ctx, keys)
}

// loadTransfers reads the transfers with the given ids; for those in pend
// that are pending, it also reads whether they were resolved, and adds
// their accounts to keys.
func (b *batch) loadTransfers(ctx context.Context, ids, pend, keys map[string]bool) error {
	var open []string
	err := inChunks(ids, func(part []string) error {
		cond, args := store.InList(b.q.Dialect(), "id", part)
		rows, err := b.q.Query(ctx, `SELECT id, seq, created_at, hash, flags, debit_account, credit_account, amount, expires_at
			FROM ledger_transfers WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id, debit, credit string
				s                 stored
				flags             int64
				amount            int64
				expires           *int64
			)
			if err := rows.Scan(&id, &s.seq, &s.created, &s.hash, &flags, &debit, &credit, &amount, &expires); err != nil {
				return err
			}
			if _, known := b.existing[id]; !known {
				b.existing[id] = s
			}
			if pend[id] && TransferFlags(flags) == Pending {
				p := &pendingState{id: id, debit: debit, credit: credit, amount: amount}
				if expires != nil {
					p.expires = *expires
				}
				b.pending[id] = p
				open = append(open, id)
				if b.account(debit) == nil {
					keys[debit] = true
				}
				if b.account(credit) == nil {
					keys[credit] = true
				}
			}
		}
		return rows.Err()
	})
	if err != nil || len(open) == 0 {
		return err
	}
	set := map[string]bool{}
	for _, id := range open {
		set[id] = true
	}
	return inChunks(set, func(part []string) error {
		cond, args := store.InList(b.q.Dialect(), "pending_id", part)
		rows, err := b.q.Query(ctx, `SELECT pending_id, flags, code, id FROM ledger_transfers WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pid, id string
			var flags, code int64
			if err := rows.Scan(&pid, &flags, &code, &id); err != nil {
				return err
			}
			p := b.pending[pid]
			p.resolved = TransferFlags(flags)
			p.expired = TransferFlags(flags) == VoidPending && int32(code) == TransferExpire && id == ExpireID(pid)
		}
		return rows.Err()
	})
}

// loadAccounts reads accounts into the cache: read under the ledger lock,
// they are the committed truth whatever this batch then does.
func (b *batch) loadAccounts(ctx context.Context, keys map[string]bool) error {
	return inChunks(keys, func(part []string) error {
		cond, args := store.InList(b.q.Dialect(), "key", part)
		rows, err := b.q.Query(ctx, `SELECT `+accountColumns+` FROM ledger_accounts WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAccount(rows)
			if err != nil {
				return err
			}
			b.l.accounts[a.Key] = a
		}
		return rows.Err()
	})
}

// scanner is *sql.Rows or *sql.Row.
type scanner interface{ Scan(dest ...any) error }

const accountColumns = `key, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at`

func scanAccount(s scanner) (*Account, error) {
	var a Account
	var created int64
	if err := s.Scan(&a.Key, &a.Code, &a.Flags, &a.DebitsPending, &a.DebitsPosted, &a.CreditsPending, &a.CreditsPosted, &created); err != nil {
		return nil, err
	}
	a.CreatedAt = fromNano(created)
	return &a, nil
}

// inChunks calls fn with the set's members in slices of at most chunk.
func inChunks(set map[string]bool, fn func(part []string) error) error {
	part := make([]string, 0, min(len(set), chunk))
	for k := range set {
		part = append(part, k)
		if len(part) == chunk {
			if err := fn(part); err != nil {
				return err
			}
			part = part[:0]
		}
	}
	if len(part) > 0 {
		return fn(part)
	}
	return nil
}

// placeholderRows returns n rows of cols placeholders: "(?, ?), (?, ?)".
func placeholderRows(n, cols int) string {
	row := "(" + store.Placeholders(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}
