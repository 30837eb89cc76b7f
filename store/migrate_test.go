package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_second.sql": {Data: []byte("SELECT 2")},
		"m/0001_first.sql":  {Data: []byte("SELECT 1")},
		"m/README":          {Data: []byte("not a migration")},
	}
	ms, err := readMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[0].Name != "first" || ms[1].Version != 2 {
		t.Fatalf("readMigrations = %+v", ms)
	}
	bad := []fstest.MapFS{
		{"m/1_x.sql": {Data: []byte("")}},
		{"m/0001.sql": {Data: []byte("")}},
		{"m/0001_a.sql": {Data: []byte("")}, "m/0001_b.sql": {Data: []byte("")}},
	}
	for _, fsys := range bad {
		if _, err := readMigrations(fsys, "m"); err == nil {
			t.Errorf("readMigrations(%v) accepted bad names", fsys)
		}
	}
}

func TestEmbeddedMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := Migrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := Migrations(Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("%d sqlite migrations, %d postgres", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].Version != pg[i].Version || lite[i].Name != pg[i].Name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, lite[i].Version, lite[i].Name, pg[i].Version, pg[i].Name)
		}
	}
}

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	ms := []Migration{
		{Version: 1, Name: "ok", SQL: "CREATE TABLE a (x INTEGER)", Checksum: "1"},
		{Version: 2, Name: "bad", SQL: "CREATE TABLE b (x INTEGER); THIS IS NOT SQL", Checksum: "2"},
	}
	applied, err := db.migrate(ctx, ms)
	if err == nil || len(applied) != 1 {
		t.Fatalf("migrate = %v, %v; want first applied and an error", applied, err)
	}
	var n int
	db.QueryRow(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'b'`).Scan(&n)
	if n != 0 {
		t.Error("table b of the failed migration exists: the migration was not atomic")
	}
	vs, _ := db.AppliedMigrations(ctx)
	if len(vs) != 1 || vs[0] != 1 {
		t.Errorf("recorded %v, want [1]", vs)
	}
}

func TestMigrateRefusesEditedOrUnknown(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	one := Migration{Version: 1, Name: "one", SQL: "CREATE TABLE a (x INTEGER)", Checksum: "sum1"}
	two := Migration{Version: 2, Name: "two", SQL: "CREATE TABLE b (x INTEGER)", Checksum: "sum2"}
	if _, err := db.migrate(ctx, []Migration{one, two}); err != nil {
		t.Fatal(err)
	}
	edited := one
	edited.Checksum = "other"
	three := Migration{Version: 3, Name: "three", SQL: "CREATE TABLE c (x INTEGER)", Checksum: "sum3"}
	if _, err := db.migrate(ctx, []Migration{edited, two, three}); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Errorf("edited migration: err = %v", err)
	}
	if _, err := db.migrate(ctx, []Migration{one, three}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("unknown applied migration: err = %v", err)
	}
}
