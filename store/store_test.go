package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

func TestOpenMigrateIdempotent(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		want, err := store.Migrations(db.Dialect())
		if err != nil {
			t.Fatal(err)
		}
		applied, err := db.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != len(want) || len(want) == 0 {
			t.Fatalf("first Migrate applied %d migrations, want %d", len(applied), len(want))
		}
		again, err := db.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != 0 {
			t.Fatalf("second Migrate applied %d migrations, want 0", len(again))
		}
		vs, err := db.AppliedMigrations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != len(want) || vs[0] != 1 {
			t.Errorf("AppliedMigrations = %v", vs)
		}
	})
}

// Several processes starting at once must not apply a migration twice.
func TestMigrateConcurrent(t *testing.T) {
	storetest.EachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := store.Open(ctx, dsn)
				if err != nil {
					errs <- err
					return
				}
				defer db.Close()
				applied, err := db.Migrate(ctx)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				total += len(applied)
				mu.Unlock()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		want, _ := store.Migrations(storetest.Dialects()[0])
		if total != len(want) {
			t.Errorf("4 concurrent Migrate calls applied %d migrations in all, want %d", total, len(want))
		}
	})
}

func TestTxCommitAndRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Exec(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		if err := db.Tx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?), (?, ?)`, "a", 1, "b", 2)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := db.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "c", 3); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx returned %v, want boom", err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM kv WHERE k IN (?, ?, ?)`, "a", "b", "c").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d rows after a committed and a rolled-back tx, want 2", n)
		}
		// A panic inside fn rolls back too, and propagates.
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic in fn did not propagate")
				}
			}()
			db.Tx(ctx, func(tx *store.Tx) error {
				tx.Exec(ctx, `INSERT INTO kv (k, v) VALUES (?, ?)`, "d", 4)
				panic("boom")
			})
		}()
		if err := db.QueryRow(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("%d rows after a panicking tx, want 2", n)
		}
	})
}

func TestReadTxIsReadOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		err := db.ReadTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO ledger_meta (id, version, last_seq) VALUES (2, 0, 0)`)
			return err
		})
		if err == nil {
			t.Fatal("write inside ReadTx succeeded")
		}
	})
}

// The ledger's tables refuse updates and deletes of entries whatever code
// runs against them.
func TestLedgerTablesAppendOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		must := func(q string, args ...any) {
			t.Helper()
			if _, err := db.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		must(`INSERT INTO ledger_accounts (key, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at) VALUES ('a', 1, 0, 0, 5, 0, 0, 1), ('b', 1, 1, 0, 0, 0, 5, 1)`)
		must(`INSERT INTO ledger_transfers (seq, id, debit_account, credit_account, amount, flags, code, user_data, hash, created_at) VALUES (1, 't1', 'a', 'b', 5, 0, 1, '', ?, 1)`, []byte{1})
		refused := []string{
			`UPDATE ledger_transfers SET amount = 6 WHERE id = 't1'`,
			`DELETE FROM ledger_transfers WHERE id = 't1'`,
			`DELETE FROM ledger_accounts WHERE key = 'a'`,
			`UPDATE ledger_accounts SET flags = 0 WHERE key = 'b'`,
			// the bound is a constraint: b may not owe more than it holds
			`UPDATE ledger_accounts SET debits_posted = 6 WHERE key = 'b'`,
			`INSERT INTO ledger_transfers (seq, id, debit_account, credit_account, amount, flags, code, user_data, hash, created_at) VALUES (2, 't2', 'a', 'a', 5, 0, 1, '', X'01', 1)`,
			`INSERT INTO ledger_transfers (seq, id, debit_account, credit_account, amount, flags, code, user_data, hash, created_at) VALUES (2, 't2', 'a', 'b', 0, 0, 1, '', X'01', 1)`,
		}
		if db.Dialect() == store.Postgres {
			for i, q := range refused {
				refused[i] = strings.ReplaceAll(q, "X'01'", `'\x01'::bytea`)
			}
		}
		for _, q := range refused {
			if _, err := db.Exec(ctx, q); err == nil {
				t.Errorf("%s: succeeded, want refusal", q)
			}
		}
		// Balances may change: that is how the batcher records them.
		must(`UPDATE ledger_accounts SET debits_posted = 4 WHERE key = 'b'`)
	})
}

func TestOpenBadDSN(t *testing.T) {
	if _, err := store.Open(context.Background(), "mysql://x"); err == nil {
		t.Fatal("Open accepted a mysql DSN")
	}
}
