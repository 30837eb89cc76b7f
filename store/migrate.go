package store

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationsFS holds migrations/<dialect>/NNNN_name.sql. Files are
// append-only: once a migration has landed it is never edited, because
// databases in the field have already run it; Migrate refuses to run when a
// recorded checksum no longer matches the embedded file.
//
//go:embed migrations
var migrationsFS embed.FS

// Migration is one numbered schema change.
type Migration struct {
	Version  int
	Name     string // file name without the number and .sql
	SQL      string
	Checksum string // hex SHA-256 of SQL
}

// Migrations returns the embedded migrations of a dialect in version order.
func Migrations(dialect string) ([]Migration, error) {
	return readMigrations(migrationsFS, "migrations/"+dialect)
}

func readMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations in %s: %w", dir, err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || len(num) != 4 {
			return nil, fmt.Errorf("store: migration file %s: want NNNN_name.sql", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s share number %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b), Checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate brings the schema up to date: each migration not yet recorded in
// schema_migrations runs in its own transaction together with the row that
// records it, so a crash leaves either both or neither. Several processes
// may call Migrate at once: on PostgreSQL an advisory lock serialises them,
// on SQLite the write lock does, and each re-reads what is applied inside
// its transaction. It returns the migrations it applied.
func (db *DB) Migrate(ctx context.Context) ([]Migration, error) {
	ms, err := Migrations(db.dialect)
	if err != nil {
		return nil, err
	}
	return db.migrate(ctx, ms)
}

// migrate applies ms (sorted by version); tests hand it lists of their own.
func (db *DB) migrate(ctx context.Context, ms []Migration) ([]Migration, error) {
	if err := db.Tx(ctx, func(tx *Tx) error {
		if err := migrationLock(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			checksum   TEXT NOT NULL,
			applied_at TEXT NOT NULL
		)`)
		return err
	}); err != nil {
		return nil, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	known := map[int]Migration{}
	for _, m := range ms {
		known[m.Version] = m
	}
	var applied []Migration
	for _, m := range ms {
		ran := false
		err := db.Tx(ctx, func(tx *Tx) error {
			ran = false
			if err := migrationLock(ctx, tx); err != nil {
				return err
			}
			done, err := appliedMigrations(ctx, tx)
			if err != nil {
				return err
			}
			for v, sum := range done {
				k, ok := known[v]
				if !ok {
					return fmt.Errorf("store: the database has migration %d, which this binary does not know: it is newer than the program", v)
				}
				if k.Checksum != sum {
					return fmt.Errorf("store: migration %04d_%s was edited after it was applied (checksum differs); migrations are append-only", v, k.Name)
				}
			}
			if _, ok := done[m.Version]; ok {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("store: migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`,
				m.Version, m.Name, m.Checksum, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
				return err
			}
			ran = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if ran {
			applied = append(applied, m)
		}
	}
	return applied, nil
}

// AppliedMigrations returns the versions recorded in schema_migrations.
func (db *DB) AppliedMigrations(ctx context.Context) ([]int, error) {
	var vs []int
	err := db.ReadTx(ctx, func(tx *Tx) error {
		done, err := appliedMigrations(ctx, tx)
		for v := range done {
			vs = append(vs, v)
		}
		return err
	})
	sort.Ints(vs)
	return vs, err
}

func appliedMigrations(ctx context.Context, tx *Tx) (map[int]string, error) {
	rows, err := tx.Query(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[int]string{}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, err
		}
		done[v] = sum
	}
	return done, rows.Err()
}

// migrationLock serialises migrating processes on PostgreSQL; the key is
// an arbitrary constant ("pdmg" in ASCII). SQLite needs nothing: the
// transaction began IMMEDIATE and holds the write lock.
func migrationLock(ctx context.Context, tx *Tx) error {
	if tx.Dialect() != Postgres {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(1885628263)`)
	return err
}
