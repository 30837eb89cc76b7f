package store

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultFile is the SQLite file name inside the data directory.
const DefaultFile = "policydesk.db"

// Config is a parsed DSN.
type Config struct {
	Dialect string // SQLite or Postgres
	Path    string // SQLite: the database file
	// Synchronous is SQLite's synchronous pragma, FULL unless the DSN says
	// ?synchronous=normal. FULL syncs the WAL at every commit, so an
	// acknowledged transaction survives a power loss as well as a killed
	// process; NORMAL survives a killed process only (the WAL is in the OS
	// page cache once write() returns) and is offered for benchmarks and
	// throwaway databases.
	Synchronous   string
	BusyTimeoutMS int    // SQLite busy_timeout, default 10000
	URL           string // PostgreSQL: the URL handed to pgx
	MaxConns      int    // PostgreSQL: pool size, default 16 (?pool_max_conns=N)
}

// DefaultDSN is the DSN used when neither --db nor POLICYDESK_DB is given:
// a SQLite file in the data directory.
func DefaultDSN(dataDir string) string {
	if dataDir == "" {
		dataDir = "data"
	}
	return "sqlite://" + filepath.ToSlash(filepath.Join(dataDir, DefaultFile))
}

// ChooseDSN applies the precedence every command uses: the --db flag, then
// the POLICYDESK_DB environment variable, then DefaultDSN(dataDir).
func ChooseDSN(flagValue, envValue, dataDir string) string {
	switch {
	case flagValue != "":
		return flagValue
	case envValue != "":
		return envValue
	}
	return DefaultDSN(dataDir)
}

// ParseDSN reads a DSN of the form sqlite:///abs/file.db, sqlite://rel/file.db
// (relative to the working directory) or postgres://user@host:port/db?….
// SQLite options: ?synchronous=full|normal&busy_timeout=MS.
func ParseDSN(dsn string) (Config, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		rest := strings.TrimPrefix(dsn, "sqlite://")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return Config{}, fmt.Errorf("store: DSN %q names no file; want sqlite:///path/to/file.db", dsn)
		}
		cfg := Config{Dialect: SQLite, Path: path, Synchronous: "FULL", BusyTimeoutMS: 10000}
		q, err := url.ParseQuery(query)
		if err != nil {
			return Config{}, fmt.Errorf("store: DSN %q: %w", dsn, err)
		}
		for k, v := range q {
			switch k {
			case "synchronous":
				s := strings.ToUpper(v[0])
				if s != "FULL" && s != "NORMAL" && s != "EXTRA" {
					return Config{}, fmt.Errorf("store: DSN %q: synchronous must be full, normal or extra", dsn)
				}
				cfg.Synchronous = s
			case "busy_timeout":
				n, err := strconv.Atoi(v[0])
				if err != nil || n < 0 {
					return Config{}, fmt.Errorf("store: DSN %q: busy_timeout must be milliseconds", dsn)
				}
				cfg.BusyTimeoutMS = n
			default:
				return Config{}, fmt.Errorf("store: DSN %q: unknown option %q", dsn, k)
			}
		}
		return cfg, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return Config{}, fmt.Errorf("store: DSN: %w", err)
		}
		cfg := Config{Dialect: Postgres, MaxConns: 16}
		q := u.Query()
		// pool_max_conns is pgxpool's name; database/sql is our pool here,
		// so the option is read and removed before pgx sees the URL.
		if v := q.Get("pool_max_conns"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Config{}, fmt.Errorf("store: DSN: pool_max_conns must be a positive number")
			}
			cfg.MaxConns = n
			q.Del("pool_max_conns")
		}
		// Plan every execution with its actual arguments. pgx prepares and
		// caches statements; after five runs PostgreSQL may switch to a
		// generic plan, and one chosen while a table was small (a fresh
		// ledger) keeps scanning it whole as it grows to millions of rows
		// until autovacuum next analyses it. Our statements are small, so
		// planning each time costs little and the plan stays right.
		if q.Get("plan_cache_mode") == "" {
			q.Set("plan_cache_mode", "force_custom_plan")
		}
		u.RawQuery = q.Encode()
		cfg.URL = u.String()
		return cfg, nil
	}
	return Config{}, fmt.Errorf("store: DSN %q: want sqlite:///path/file.db or postgres://…", redact(dsn))
}

// sqliteDSN builds modernc.org/sqlite's DSN for the writer or a reader.
// Writers begin IMMEDIATE so that a transaction takes the write lock at
// BEGIN rather than failing with SQLITE_BUSY half way through.
func (c Config) sqliteDSN(writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.Itoa(c.BusyTimeoutMS))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", c.connSynchronous())
	// A 16 MiB page cache keeps the ledger's hot B-tree pages in memory:
	// with SQLite's 2 MiB default, a large batch spills dirty pages to the
	// WAL in the middle of its transaction and reads them back. Not more:
	// every commit scans the cache's whole hash table (pcache1Truncate),
	// whose size follows the cache's high-water mark — at 64 MiB that scan
	// cost ≈100 µs per commit, several per cent of the ledger's throughput.
	q.Add("_pragma", "cache_size(-16384)")
	q.Add("_pragma", "temp_store(memory)")
	if writer {
		// Checkpoint every 16k pages (64 MiB of WAL) rather than 1k: each
		// checkpoint copies pages to the database file and syncs it, and
		// batches re-dirty the same hot pages, so fewer checkpoints write
		// far less. The WAL is reset after each one, so it stays bounded.
		q.Add("_pragma", "wal_autocheckpoint(16384)")
		q.Set("_journal_mode", "WAL")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_txlock", "deferred")
		q.Set("_query_only", "1")
	}
	return "file:" + c.Path + "?" + q.Encode()
}

// connSynchronous is the synchronous pragma of the connections: FULL is
// provided by group fsync after commit, outside the write lock (see
// walSyncer), so the connections themselves run NORMAL.
func (c Config) connSynchronous() string {
	if c.Synchronous == "FULL" {
		return "NORMAL"
	}
	return c.Synchronous
}

// redact hides a password in a DSN shown in an error message.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
