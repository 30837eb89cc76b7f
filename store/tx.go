package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// maxAttempts bounds how often Tx reruns a transaction that lost a race.
const maxAttempts = 10

// Querier reads: a *DB (its read pool) or a *Tx (inside the transaction).
// Code that may run inside a caller's transaction takes a Querier, so that
// it never waits for a second connection while holding one: with every
// connection of a pool held by transactions that each wait for another,
// all of them would wait for ever.
type Querier interface {
	Dialect() string
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

var (
	_ Querier = (*DB)(nil)
	_ Querier = (*Tx)(nil)
)

// Tx is a transaction in progress. Its methods rebind ? placeholders.
type Tx struct {
	tx      *sql.Tx
	dialect string
	cache   *stmtCache // SQLite: the pool's prepared statements
}

// Dialect reports "sqlite" or "postgres".
func (tx *Tx) Dialect() string { return tx.dialect }

// Exec runs a statement in the transaction.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q = rebind(tx.dialect, q)
	if s := tx.cache.inTx(q); s != nil {
		return tx.tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	return tx.tx.ExecContext(ctx, q, args...)
}

// Query runs a query in the transaction.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = rebind(tx.dialect, q)
	if s := tx.cache.inTx(q); s != nil {
		return tx.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return tx.tx.QueryContext(ctx, q, args...)
}

// QueryRow runs a query that returns at most one row in the transaction.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = rebind(tx.dialect, q)
	if s := tx.cache.inTx(q); s != nil {
		return tx.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return tx.tx.QueryRowContext(ctx, q, args...)
}

// Prepare prepares a statement for repeated use inside the transaction.
func (tx *Tx) Prepare(ctx context.Context, q string) (*sql.Stmt, error) {
	return tx.tx.PrepareContext(ctx, rebind(tx.dialect, q))
}

// Tx runs fn in a write transaction and commits it if fn returns nil.
//
// When the database reports that the transaction lost a race it could not
// have won by waiting — SQLite busy after busy_timeout, PostgreSQL
// serialization failure or deadlock — Tx rolls back and runs fn again, up
// to ten times with a jittered backoff. fn must therefore keep no state
// outside the transaction that a second run would double; everything it
// wrote before the failure is gone with the rollback.
//
// Tx returns once the commit is durable: on SQLite it waits for the group
// fsync that follows it (see Sync).
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	if err := db.TxUnsynced(ctx, fn); err != nil {
		return err
	}
	return db.Sync()
}

// TxUnsynced is Tx without the wait for durability: it returns as soon as
// the transaction has committed, which on SQLite may be before its commit
// is on disk. The caller must call Sync before it tells anyone that the
// transaction happened; meanwhile the next transaction can write while
// the disk syncs this one. The ledger's batcher uses it: its next batch
// is written while the disk flushes the one before.
func (db *DB) TxUnsynced(ctx context.Context, fn func(tx *Tx) error) error {
	if err := db.writable(); err != nil {
		return err
	}
	return db.run(ctx, db.w, nil, fn)
}

// writable refuses writes after a failed fsync (see walSyncer).
func (db *DB) writable() error {
	if db.wal == nil {
		return nil
	}
	return db.wal.check()
}

// ReadTx runs fn in a read-only transaction that sees one consistent
// snapshot of the database (SQLite: a WAL read transaction on a reader
// connection; PostgreSQL: REPEATABLE READ, READ ONLY).
func (db *DB) ReadTx(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return db.run(ctx, db.r, opts, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.once(ctx, pool, opts, fn)
		if err == nil || attempt == maxAttempts || !Retryable(err) {
			return err
		}
		// Backoff grows to ~50ms; jitter keeps racing writers from
		// colliding again in lockstep.
		d := time.Duration(attempt*attempt) * 500 * time.Microsecond
		d += rand.N(d + 1)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
}

func (db *DB) once(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *Tx) error) (err error) {
	cache := db.rc
	if pool == db.w {
		cache = db.wc
	}
	// Runs last, once the connection is back in the pool.
	defer cache.fill(ctx)
	sqltx, err := pool.BeginTx(ctx, opts)
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
	if err = fn(&Tx{tx: sqltx, dialect: db.dialect, cache: cache}); err != nil {
		return err
	}
	if err = sqltx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Retryable reports whether err says the transaction lost a race and may
// succeed if run again: SQLite SQLITE_BUSY or SQLITE_LOCKED (any extended
// code), PostgreSQL 40001 serialization_failure or 40P01 deadlock_detected.
func Retryable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// IsInvalidText reports whether the database refused a text value it
// cannot store: PostgreSQL 22021 (invalid byte sequence, NUL included)
// or 22P05 (untranslatable character). It is the input's fault.
func IsInvalidText(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05")
}

// IsDiskFull reports whether the database could not write for lack of
// space: SQLite SQLITE_FULL, PostgreSQL 53100 disk_full.
func IsDiskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == 13
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53100"
}

// IsUniqueViolation reports whether err is a unique or primary key
// constraint failure, in either dialect.
func IsUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		// SQLITE_CONSTRAINT_UNIQUE 2067, SQLITE_CONSTRAINT_PRIMARYKEY 1555
		return se.Code() == 2067 || se.Code() == 1555
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}
