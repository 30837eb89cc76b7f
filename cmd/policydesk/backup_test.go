package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"policydesk/auth"
	"policydesk/store"
)

func runCmd(args ...string) (int, string, string) {
	out, errb := &syncBuffer{}, &syncBuffer{}
	code := dispatch(context.Background(), args, stdio{in: strings.NewReader(""), out: out, err: errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

// TestBackupRestoreCommands: backup writes a copy and refuses to overwrite;
// restore refuses a target that is not empty, and after restoring runs the
// migrations and both verifications, failing on a copy whose audit trail
// was altered.
func TestBackupRestoreCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "src.db"))
	db, err := store.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	as := auth.NewStore(db)
	for _, login := range []string{"admin", "admin2"} {
		if _, err := as.AddUser(auth.NewContext(ctx, cliPrincipal), nil, auth.User{Login: login, Name: login, Role: auth.RoleAdmin}, "correct horse battery"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	out := filepath.Join(dir, "backup.db")
	if code, o, e := runCmd("backup", "--db", src, "--out", out); code != 0 || !strings.Contains(o, "backup written") || !strings.Contains(o, "SM4") {
		t.Fatalf("backup: %d %s %s", code, o, e)
	}
	if code, _, e := runCmd("backup", "--db", src, "--out", out); code != 1 || !strings.Contains(e, "already exists") {
		t.Fatalf("backup over an existing file: %d %s", code, e)
	}
	if code, _, _ := runCmd("backup", "--db", src); code != 2 {
		t.Fatalf("backup without --out: %d", code)
	}

	dst := "sqlite://" + filepath.ToSlash(filepath.Join(dir, "restored.db"))
	code, o, e := runCmd("restore", "--from", out, "--db", dst)
	if code != 0 || !strings.Contains(o, "ledger verified") || !strings.Contains(o, "audit chain intact: 2 rows") {
		t.Fatalf("restore: %d %s %s", code, o, e)
	}
	if code, _, e := runCmd("restore", "--from", out, "--db", dst); code != 1 || !strings.Contains(e, "not empty") {
		t.Fatalf("restore over a database that is not empty: %d %s", code, e)
	}
	if code, _, e := runCmd("restore", "--from", filepath.Join(dir, "src.db-shm"), "--db", "sqlite://"+filepath.Join(dir, "x.db")); code != 1 {
		t.Fatalf("restore from a file that is no backup: %d %s", code, e)
	}

	// A copy whose audit trail was edited (by someone who could drop the
	// trigger that forbids it) restores, and fails verification.
	rdb, err := store.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_log_no_update`, `UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = 1`} {
		if _, err := rdb.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	tampered := filepath.Join(dir, "tampered.db")
	if err := rdb.Backup(ctx, tampered); err != nil {
		t.Fatal(err)
	}
	rdb.Close()
	code, o, e = runCmd("restore", "--from", tampered, "--db", "sqlite://"+filepath.ToSlash(filepath.Join(dir, "t.db")))
	if code != 1 || !strings.Contains(o, "audit chain BROKEN") || !strings.Contains(e, "verification FAILED") {
		t.Fatalf("restore of a tampered copy: %d %s %s", code, o, e)
	}
}
