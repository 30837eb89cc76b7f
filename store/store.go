// Package store opens policydesk's database — an embedded SQLite file by
// default, PostgreSQL in production — runs its migrations and wraps
// transactions so that the rest of the program writes one kind of SQL.
//
// Dialect differences live here and only here: placeholder rebinding,
// busy/serialization retry, and how a connection is configured.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// Dialects returned by DB.Dialect.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is an open database. It is safe for concurrent use.
//
// On SQLite, writes go through one dedicated connection: SQLite admits one
// writer at a time anyway, and a single connection turns lock contention
// (SQLITE_BUSY after busy_timeout) into an orderly queue inside database/sql.
// Reads use a separate pool of query-only connections, which WAL lets run
// beside the writer.
type DB struct {
	dialect string
	dsn     string
	w       *sql.DB    // writes (SQLite: exactly one connection)
	r       *sql.DB    // reads (PostgreSQL: the same pool as w)
	wal     *walSyncer // SQLite with synchronous=FULL: group fsync after commit
	wc, rc  *stmtCache // SQLite: prepared statements of w and r
}

// Open opens the database named by dsn (see ParseDSN), checks that it
// answers, and returns it. It does not migrate: call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{dialect: cfg.Dialect, dsn: dsn}
	switch cfg.Dialect {
	case SQLite:
		if dir := filepath.Dir(cfg.Path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("store: create data directory: %w", err)
			}
		}
		// The writer is opened first so that it sets journal_mode=WAL (a
		// property of the file) before any reader connects.
		if db.w, err = sql.Open("sqlite", cfg.sqliteDSN(true)); err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		db.w.SetMaxOpenConns(1)
		db.w.SetMaxIdleConns(1)
		db.w.SetConnMaxLifetime(0)
		db.w.SetConnMaxIdleTime(0)
		if err := db.w.PingContext(ctx); err != nil {
			db.w.Close()
			return nil, fmt.Errorf("store: open sqlite %s: %w", cfg.Path, err)
		}
		if db.r, err = sql.Open("sqlite", cfg.sqliteDSN(false)); err != nil {
			db.w.Close()
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		db.r.SetMaxOpenConns(8)
		db.r.SetMaxIdleConns(8)
		if cfg.Synchronous == "FULL" {
			db.wal = newWALSyncer(cfg.Path)
		}
		db.wc, db.rc = newStmtCache(db.w), newStmtCache(db.r)
	case Postgres:
		if db.w, err = sql.Open("pgx", cfg.URL); err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		db.w.SetMaxOpenConns(cfg.MaxConns)
		db.w.SetMaxIdleConns(cfg.MaxConns)
		if err := db.w.PingContext(ctx); err != nil {
			db.w.Close()
			return nil, fmt.Errorf("store: connect postgres: %w", err)
		}
		db.r = db.w
	}
	return db, nil
}

// Dialect reports "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect }

// DSN returns the data source name the database was opened with.
func (db *DB) DSN() string { return db.dsn }

// Close closes every connection.
func (db *DB) Close() error {
	if db.wal != nil {
		db.wal.close()
	}
	db.wc.close()
	db.rc.close()
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Rebind rewrites the ? placeholders of q for the dialect: PostgreSQL wants
// $1, $2…; SQLite takes ? as it is.
func (db *DB) Rebind(q string) string { return rebind(db.dialect, q) }

// Exec runs a statement outside any explicit transaction on the write
// connection, and returns once it is durable (see Sync).
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := db.writable(); err != nil {
		return nil, err
	}
	var res sql.Result
	var err error
	q = db.Rebind(q)
	if s := db.wc.get(ctx, q); s != nil {
		res, err = s.ExecContext(ctx, args...)
	} else {
		res, err = db.w.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return res, db.Sync()
}

// Query runs a read on the read pool. It sees committed data only.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = db.Rebind(q)
	if s := db.rc.get(ctx, q); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return db.r.QueryContext(ctx, q, args...)
}

// QueryRow runs a read that returns at most one row on the read pool.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	q = db.Rebind(q)
	if s := db.rc.get(ctx, q); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return db.r.QueryRowContext(ctx, q, args...)
}

// placeholders returns "?, ?, …" with n marks, for IN lists and VALUES rows;
// callers rebind the whole statement afterwards.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Placeholders returns n comma-separated ? marks ("?, ?, ?"), for building
// IN lists and multi-row VALUES; Tx and DB methods rebind them.
func Placeholders(n int) string { return placeholders(n) }
