package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Backup formats, as Restore and BackupFormat name them.
const (
	FormatSQLite = "sqlite"  // a SQLite database file (VACUUM INTO)
	FormatPGDump = "pg_dump" // pg_dump's custom format (-Fc)
)

// ErrNoPGDump is returned by Backup and Restore on PostgreSQL when pg_dump
// or pg_restore is not installed. PostgreSQL is then backed up with the
// server's own tools, as the README's Reliability section describes:
//
//	pg_dump --format=custom --file=policydesk.dump "$DSN"
//	pg_restore --exit-on-error --single-transaction --no-owner --dbname="$NEW_DSN" policydesk.dump
var ErrNoPGDump = errors.New("store: pg_dump/pg_restore not found on PATH: back PostgreSQL up with pg_dump --format=custom (see README, Reliability)")

// Backup writes a consistent snapshot of the database to path while the
// database stays in use, and fsyncs it. path must not exist: a backup never
// overwrites anything.
//
// SQLite: VACUUM INTO on a connection of its own, so that the snapshot is
// one read transaction (WAL lets writers go on meanwhile) and the copy is
// compact. The file is written under a temporary name and renamed when
// complete, so a crash never leaves a half-written backup under path.
//
// PostgreSQL: pg_dump --format=custom, which dumps one REPEATABLE READ
// snapshot; the password travels in PGPASSWORD, never on the command line.
// ErrNoPGDump when pg_dump is not installed.
func (db *DB) Backup(ctx context.Context, path string) error {
	if path == "" {
		return errors.New("store: backup: no output file")
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("store: backup: %s already exists; a backup never overwrites a file", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: backup: %w", err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("store: backup: %w", err)
		}
	}
	tmp := path + ".partial"
	os.Remove(tmp) // a leftover of an earlier crash
	var err error
	switch db.dialect {
	case SQLite:
		err = db.vacuumInto(ctx, tmp)
	case Postgres:
		err = pgDump(ctx, db.dsn, tmp)
	default:
		err = fmt.Errorf("store: backup: unknown dialect %q", db.dialect)
	}
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		// Link, not rename: it fails instead of replacing a file that
		// appeared meanwhile.
		if err = os.Link(tmp, path); err == nil {
			os.Remove(tmp)
			err = syncDir(filepath.Dir(path))
		}
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (db *DB) vacuumInto(ctx context.Context, path string) error {
	cfg, err := ParseDSN(db.dsn)
	if err != nil {
		return err
	}
	// A connection of its own: the readers are query_only (which refuses
	// VACUUM), and the writer must stay free for writes while we copy.
	c, err := sql.Open("sqlite", cfg.backupDSN())
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	if _, err := c.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("store: backup: VACUUM INTO: %w", err)
	}
	return nil
}

// backupDSN is a reader's DSN without query_only.
func (c Config) backupDSN() string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.Itoa(c.BusyTimeoutMS))
	q.Set("_txlock", "deferred")
	return "file:" + c.Path + "?" + q.Encode()
}

// BackupFormat reports the format of a backup file by its first bytes:
// FormatSQLite, FormatPGDump, or an error.
func BackupFormat(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("SQLite format 3\x00")):
		return FormatSQLite, nil
	case bytes.HasPrefix(head, []byte("PGDMP")):
		return FormatPGDump, nil
	}
	return "", fmt.Errorf("store: %s is neither a SQLite database nor a pg_dump custom-format archive", path)
}

// Restore loads the backup at from into the empty database named by dsn.
// It refuses a target that holds anything: restoring never overwrites.
// SQLite: the file is copied under a temporary name, fsynced and linked
// into place. PostgreSQL: pg_restore --single-transaction, so a failed
// restore leaves the target as empty as it was. The caller then opens the
// database, migrates it (the backup may come from an older version) and
// verifies it.
func Restore(ctx context.Context, from, dsn string) error {
	format, err := BackupFormat(from)
	if err != nil {
		return err
	}
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return err
	}
	switch {
	case cfg.Dialect == SQLite && format == FormatSQLite:
		return restoreSQLite(from, cfg.Path)
	case cfg.Dialect == Postgres && format == FormatPGDump:
		return restorePG(ctx, from, dsn)
	}
	return fmt.Errorf("store: restore: a %s backup cannot be restored into %s (copy between engines is not supported)", format, cfg.Dialect)
}

func restoreSQLite(from, path string) error {
	for _, suffix := range []string{"", "-wal", "-journal"} {
		if st, err := os.Stat(path + suffix); err == nil && st.Size() > 0 {
			return fmt.Errorf("store: restore: %s exists and is not empty; restore into a new file", path+suffix)
		}
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + ".restoring"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		os.Remove(path) // an empty file, checked above
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			os.Remove(path + suffix)
		}
		if err = os.Link(tmp, path); err == nil {
			err = syncDir(filepath.Dir(path))
		}
	}
	os.Remove(tmp)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

func restorePG(ctx context.Context, from, dsn string) error {
	bin, err := exec.LookPath("pg_restore")
	if err != nil {
		return ErrNoPGDump
	}
	db, err := Open(ctx, dsn)
	if err != nil {
		return err
	}
	var n int
	err = db.QueryRow(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n)
	db.Close()
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("store: restore: the target database already has %d tables; restore into an empty database", n)
	}
	conn, env, _, err := libpqURL(dsn)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges", "--dbname="+conn, from)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("store: restore: pg_restore: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func pgDump(ctx context.Context, dsn, path string) error {
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		return ErrNoPGDump
	}
	conn, env, schema, err := libpqURL(dsn)
	if err != nil {
		return err
	}
	args := []string{"--format=custom", "--no-owner", "--no-privileges", "--file=" + path}
	if schema != "" {
		args = append(args, "--schema="+schema)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, "--dbname="+conn)...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("store: backup: pg_dump: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// libpqURL turns our PostgreSQL DSN into one libpq's tools accept: options
// only pgx knows are dropped (search_path becomes pg_dump's --schema), and
// the password moves into PGPASSWORD so that it is not in the process list.
func libpqURL(dsn string) (conn string, env []string, schema string, err error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, "", fmt.Errorf("store: DSN: %w", err)
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
			u.User = url.User(u.User.Username())
		}
	}
	q := u.Query()
	schema = q.Get("search_path")
	for _, k := range []string{"search_path", "pool_max_conns", "plan_cache_mode", "default_query_exec_mode", "statement_cache_capacity", "description_cache_capacity"} {
		q.Del(k)
	}
	if strings.Contains(schema, ",") {
		return "", nil, "", fmt.Errorf("store: backup: search_path %q names several schemas; name one", schema)
	}
	u.RawQuery = q.Encode()
	return u.String(), env, schema, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
