package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"policydesk/audit"
	"policydesk/store"
)

// auditCmd runs a subcommand in-process with env as its environment.
func auditCmd(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func TestAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.ToSlash(filepath.Join(dir, store.DefaultFile))
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for i, action := range []string{"application.create", "application.submit", "batch.approve"} {
		if err := db.Tx(ctx, func(tx *store.Tx) error {
			_, err := audit.Append(ctx, tx, audit.Entry{At: time.Now(), ActorID: "u", ActorRole: "admin", Action: action, Entity: "application", EntityID: string(rune('a' + i))})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}

	// The data directory from the environment finds the same file.
	code, out, errs := auditCmd(map[string]string{"POLICYDESK_DATA": dir}, "audit", "verify")
	if code != 0 || !strings.Contains(out, "审计链完整") || !strings.Contains(out, "3 rows") {
		t.Fatalf("intact trail: exit %d\n%s%s", code, out, errs)
	}
	head, err := audit.Head(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, head.String()) {
		t.Errorf("output does not give the checkpoint %s:\n%s", head, out)
	}
	if code, out, errs := auditCmd(nil, "audit", "verify", "--db", dsn, "--expect", head.String()); code != 0 {
		t.Errorf("true checkpoint: exit %d\n%s%s", code, out, errs)
	}
	if code, _, _ := auditCmd(nil, "audit", "verify", "--db", dsn, "--expect", "3:beef"); code != 2 {
		t.Errorf("malformed checkpoint: exit %d, want 2", code)
	}
	if code, _, _ := auditCmd(nil, "audit", "verify", "--db", dsn, "extra"); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}

	if _, err := db.Exec(ctx, `DROP TRIGGER audit_log_no_update`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE audit_log SET entity_id = 'z' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	code, out, _ = auditCmd(map[string]string{"POLICYDESK_DB": dsn}, "audit", "verify")
	if code != 1 || !strings.Contains(out, "seq 2 (application.submit)") || !strings.Contains(out, "edited") || !strings.Contains(out, "审计链已损坏") {
		t.Errorf("edited row: exit %d\n%s", code, out)
	}
	code, out, _ = auditCmd(nil, "audit", "verify", "--json", "--db", dsn)
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil || rep.Problem == nil || rep.Problem.Seq != 2 || rep.Problem.Kind != audit.KindEdited {
		t.Errorf("--json: exit %d, %v\n%s", code, err, out)
	}
}

func TestAuditVerifyUnmigrated(t *testing.T) {
	dsn := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "empty.db"))
	code, _, errs := auditCmd(nil, "audit", "verify", "--db", dsn)
	if code != 1 || !strings.Contains(errs, "migrate") {
		t.Errorf("unmigrated database: exit %d: %s", code, errs)
	}
}
