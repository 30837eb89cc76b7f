package main

import (
	"bytes"
	"context"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"policydesk/store"
)

// ledgerCmd runs a subcommand in-process with env as its environment.
func ledgerCmd(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb, getenv: func(k string) string { return env[k] }})
	return code, out.String(), errb.String()
}

func TestMigrateAndVerifyCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"POLICYDESK_DATA": dir}
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"verify before migrate", []string{"ledger", "verify"}, 1, ""},
		{"migrate", []string{"migrate"}, 0, "0001_ledger"},
		{"migrate again", []string{"migrate"}, 0, "up to date"},
		{"verify empty ledger", []string{"ledger", "verify"}, 0, "校验通过"},
		{"bench", []string{"bench", "ledger", "--db", "sqlite://" + filepath.Join(dir, store.DefaultFile), "--clients", "4", "--transfers", "300", "--enterprises", "20", "--caps", "3"}, 0, "reservations/s"},
		{"verify after bench", []string{"ledger", "verify"}, 0, "校验通过"},
		{"bad flag", []string{"ledger", "verify", "--nope"}, 2, ""},
		{"extra argument", []string{"migrate", "now"}, 2, ""},
		{"bad bench numbers", []string{"bench", "ledger", "--clients", "0"}, 2, ""},
		{"bad dsn", []string{"ledger", "verify", "--db", "mysql://x"}, 1, ""},
	}
	for _, tt := range tests {
		code, out, errs := ledgerCmd(env, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) {
			t.Errorf("%s: exit %d, want %d; stdout %q; stderr %q", tt.name, code, tt.code, out, errs)
		}
	}
}

// A tampered ledger makes verify exit 1 with a precise report.
func TestVerifyReportsTampering(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "x.db")
	if code, _, errs := ledgerCmd(nil, "bench", "ledger", "--db", dsn, "--clients", "2", "--transfers", "50", "--verify=false"); code != 0 {
		t.Fatalf("bench: %s", errs)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE ledger_accounts SET debits_pending = debits_pending - 1 WHERE key LIKE 'pool/%'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, _ := ledgerCmd(nil, "ledger", "verify", "--db", dsn)
	if code != 1 || !strings.Contains(out, "[balance] pool/") || !strings.Contains(out, "校验失败") {
		t.Errorf("verify of a tampered ledger: exit %d, output %q", code, out)
	}
}

// The DSN comes from --db, else POLICYDESK_DB, else the data directory.
func TestDBFlagPrecedence(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"POLICYDESK_DB": "postgres://e"}, []string{"--db", "sqlite:///f.db"}, "sqlite:///f.db"},
		{map[string]string{"POLICYDESK_DB": "postgres://e", "POLICYDESK_DATA": "/d"}, nil, "postgres://e"},
		{map[string]string{"POLICYDESK_DATA": "/d"}, nil, "sqlite:///d/policydesk.db"},
		{map[string]string{"POLICYDESK_DATA": "/d"}, []string{"--data-dir", "/x"}, "sqlite:///x/policydesk.db"},
		{nil, nil, "sqlite://data/policydesk.db"},
	}
	for _, tt := range tests {
		fs := newFlagSet("t")
		dsn := dbFlags(fs, stdio{getenv: func(k string) string { return tt.env[k] }})
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if got := dsn(); got != tt.want {
			t.Errorf("env %v args %v: DSN %q, want %q", tt.env, tt.args, got, tt.want)
		}
	}
}

func newFlagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }
