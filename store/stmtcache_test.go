package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// openSQLite is openTemp with a table t to query.
func openSQLite(t *testing.T) *DB {
	t.Helper()
	db := openTemp(t)
	if _, err := db.Exec(context.Background(), `CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// len is how many statements c holds.
func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Statements run outside a transaction are prepared once; statements first
// met inside a transaction are prepared after it, and later transactions
// run them prepared, on their own connection: they see the transaction's
// own uncommitted writes.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	const count = `SELECT count(*) FROM t`
	for range 3 {
		var n int
		if err := db.QueryRow(ctx, count).Scan(&n); err != nil || n != 0 {
			t.Fatalf("count = %d, %v", n, err)
		}
	}
	if db.rc.len() != 1 {
		t.Fatalf("reader cache holds %d statements after one query run 3 times, want 1", db.rc.len())
	}
	const ins = `INSERT INTO t (k, v) VALUES (?, ?)`
	writerBefore := db.wc.len()
	done := make(chan error, 1)
	go func() {
		done <- db.Tx(ctx, func(tx *Tx) error {
			if tx.cache.inTx(ins) != nil {
				return fmt.Errorf("a statement never run is cached")
			}
			_, err := tx.Exec(ctx, ins, "a", 1)
			return err
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a new statement inside a write transaction hung: the cache must not prepare on the held writer")
	}
	if db.wc.len() != writerBefore+1 {
		t.Fatalf("writer cache %d → %d after a transaction met a new statement, want one more", writerBefore, db.wc.len())
	}
	err := db.Tx(ctx, func(tx *Tx) error {
		if tx.cache.inTx(ins) == nil {
			return fmt.Errorf("the statement was not cached after its first transaction")
		}
		if _, err := tx.Exec(ctx, ins, "b", 2); err != nil {
			return err
		}
		// The first run of count inside a writer transaction is unprepared;
		// the second, prepared, must run on this transaction's connection.
		for range 2 {
			var n int
			if err := tx.QueryRow(ctx, count).Scan(&n); err != nil {
				return err
			}
			if n != 2 {
				return fmt.Errorf("inside the transaction count = %d, want 2 (its own insert included)", n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A rolled-back transaction through cached statements leaves nothing.
	err = db.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, ins, "c", 3); err != nil {
			return err
		}
		return fmt.Errorf("roll back")
	})
	if err == nil {
		t.Fatal("the failing transaction committed")
	}
	var n int
	if err := db.QueryRow(ctx, count).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count after a rollback = %d (%v), want 2", n, err)
	}
	// The schema may change under cached statements.
	if _, err := db.Exec(ctx, `ALTER TABLE t ADD COLUMN w INTEGER NOT NULL DEFAULT 7`); err != nil {
		t.Fatal(err)
	}
	var w int
	if err := db.QueryRow(ctx, `SELECT w FROM t WHERE k = ?`, "a").Scan(&w); err != nil || w != 7 {
		t.Fatalf("after ALTER TABLE: w = %d, %v", w, err)
	}
	if err := db.QueryRow(ctx, count).Scan(&n); err != nil || n != 2 {
		t.Fatalf("a cached count after ALTER TABLE = %d (%v), want 2", n, err)
	}
}

// Scripts are not cached (the driver runs them statement by statement),
// and the cache stops growing at its bound while queries keep working.
func TestStmtCacheBounds(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	before := db.wc.len()
	if _, err := db.Exec(ctx, `INSERT INTO t VALUES ('x', 1); INSERT INTO t VALUES ('y', 2);`); err != nil {
		t.Fatal(err)
	}
	if db.wc.len() != before {
		t.Error("a script of two statements was cached")
	}
	for i := range maxCachedStmts + 50 {
		var v int
		if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT v + %d FROM t WHERE k = 'x'`, i)).Scan(&v); err != nil || v != 1+i {
			t.Fatalf("query %d: %d, %v", i, v, err)
		}
	}
	if got := db.rc.len(); got != maxCachedStmts {
		t.Errorf("reader cache holds %d statements, want the bound %d", got, maxCachedStmts)
	}
	if !cacheable("SELECT 1;") || cacheable("SELECT 1; SELECT 2") {
		t.Error("cacheable: a trailing semicolon is one statement, two are a script")
	}
}
