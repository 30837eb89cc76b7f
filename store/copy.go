package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Copier bulk-loads rows with PostgreSQL's COPY inside the transaction of
// TxCopy. On SQLite it is unavailable (Available reports false) and callers
// use multi-row INSERT statements instead.
type Copier struct {
	conn    *sql.Conn
	dialect string
}

// Available reports whether CopyFrom can be used (PostgreSQL).
func (c Copier) Available() bool { return c.dialect == Postgres && c.conn != nil }

// CopyFrom streams rows into table's columns with COPY … FROM STDIN
// (binary), in the transaction: what it loads commits or rolls back with it.
func (c Copier) CopyFrom(ctx context.Context, table string, columns []string, rows pgx.CopyFromSource) (int64, error) {
	if !c.Available() {
		return 0, errors.New("store: COPY needs PostgreSQL")
	}
	var n int64
	err := c.conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: COPY: unexpected driver connection %T", dc)
		}
		var err error
		n, err = sc.Conn().CopyFrom(ctx, pgx.Identifier{table}, columns, rows)
		return err
	})
	return n, err
}

// TxCopy is Tx with a Copier: fn runs in a write transaction on one
// dedicated connection, so that COPY (which database/sql cannot issue)
// runs on the very session that holds the transaction. Retries are as Tx's.
func (db *DB) TxCopy(ctx context.Context, fn func(tx *Tx, cp Copier) error) error {
	if err := db.writable(); err != nil {
		return err
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = db.onceCopy(ctx, fn)
		if err == nil {
			return db.Sync()
		}
		if attempt == maxAttempts || !Retryable(err) {
			return err
		}
		d := time.Duration(attempt*attempt) * 500 * time.Microsecond
		d += rand.N(d + 1)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
}

func (db *DB) onceCopy(ctx context.Context, fn func(tx *Tx, cp Copier) error) (err error) {
	defer db.wc.fill(ctx) // after conn.Close: the writer's connection is free again
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: connection: %w", err)
	}
	defer conn.Close()
	sqltx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			sqltx.Rollback()
			panic(p)
		}
		if err != nil {
			sqltx.Rollback()
		}
	}()
	cp := Copier{dialect: db.dialect}
	if db.dialect == Postgres {
		cp.conn = conn
	}
	if err = fn(&Tx{tx: sqltx, dialect: db.dialect, cache: db.wc}, cp); err != nil {
		return err
	}
	if err = sqltx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}
