// Package storetest gives tests a fresh database on every engine policydesk
// supports: always a SQLite file in t.TempDir(), and PostgreSQL when the
// environment variable POLICYDESK_TEST_PG holds a DSN such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each PostgreSQL
// database is a schema of its own, created for the test and dropped after.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"policydesk/store"
)

// EnvPG names the environment variable with the PostgreSQL test DSN.
const EnvPG = "POLICYDESK_TEST_PG"

// Dialects returns the engines the tests run on here: "sqlite", and
// "postgres" when POLICYDESK_TEST_PG is set.
func Dialects() []string {
	if os.Getenv(EnvPG) != "" {
		return []string{store.SQLite, store.Postgres}
	}
	return []string{store.SQLite}
}

// Each runs body as a subtest per engine, each on a fresh migrated database.
func Each(t *testing.T, body func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			body(t, New(t, d))
		})
	}
}

// EachDSN runs body as a subtest per engine with the DSN of a fresh,
// empty (unmigrated) database, for tests that open it themselves — in
// another process, for instance.
func EachDSN(t *testing.T, body func(t *testing.T, dsn string)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) {
			body(t, DSN(t, d))
		})
	}
}

// New opens a fresh migrated database of the dialect, closed at cleanup.
func New(t testing.TB, dialect string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, DSN(t, dialect))
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return db
}

// DSN returns the DSN of a fresh, empty database of the dialect, removed at
// cleanup. It skips the test for PostgreSQL when POLICYDESK_TEST_PG is unset.
func DSN(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case store.SQLite:
		return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "test.db"))
	case store.Postgres:
		base := os.Getenv(EnvPG)
		if base == "" {
			t.Skipf("storetest: %s not set", EnvPG)
		}
		return pgSchema(t, base)
	}
	t.Fatalf("storetest: unknown dialect %q", dialect)
	return ""
}

// pgSchema creates a schema with a random name and returns base with
// search_path set to it, so that every connection of the test lands there.
func pgSchema(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := store.Open(ctx, base)
	if err != nil {
		t.Fatalf("storetest: connect %s: %v", EnvPG, err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPG, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
