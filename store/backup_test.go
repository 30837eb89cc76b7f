package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/desk"
	"policydesk/reliability"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestBackupUnderLoad backs the database up while a goroutine keeps
// submitting applications through the workflow service, restores the copy
// into a fresh database, and checks it: the ledger and the audit chain
// verify, and every application acknowledged as submitted before the
// backup started is in the copy, submitted exactly once.
func TestBackupUnderLoad(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			if dialect == store.Postgres {
				if _, err := exec.LookPath("pg_dump"); err != nil {
					t.Skip("pg_dump not installed")
				}
			}
			ctx := context.Background()
			db := storetest.New(t, dialect)
			env, err := reliability.NewEnv(ctx, db, reliability.EnvOptions{NoPortal: true})
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			s := env.Desk
			admin := desk.Actor{ID: "u-admin", Role: desk.RoleAdmin}
			if _, err := s.FundPools(ctx, admin); err != nil {
				t.Fatal(err)
			}
			opens, closes := reliability.RoundRange(time.Now())
			if _, err := s.OpenRound(ctx, admin, "r", []string{"genai_filing", "high_tech"}, opens, closes); err != nil {
				t.Fatal(err)
			}
			const n = 40
			ents := make([]desk.Actor, n)
			for i := range ents {
				code := reliability.EnterpriseCode(i)
				if _, err := s.RegisterEnterprise(ctx, admin, code, fmt.Sprintf("企业%d", i)); err != nil {
					t.Fatal(err)
				}
				ents[i] = desk.Actor{ID: "u-" + code, Role: desk.RoleEnterprise, Enterprise: code}
				facts := map[string]json.RawMessage{"in_etown": json.RawMessage("true"), "serious_dishonesty_listed": json.RawMessage("false"),
					"penalties": json.RawMessage("[]"), "ai_enterprise": json.RawMessage("true")}
				if err := s.SetFacts(ctx, ents[i], code, facts, desk.SourceSelf, "2025-01-01"); err != nil {
					t.Fatal(err)
				}
			}

			// The load: each enterprise applies for both items, one after
			// another, until stopped.
			var mu sync.Mutex
			var acked []string
			stop := make(chan struct{})
			loadErr := make(chan error, 1)
			go func() {
				defer close(loadErr)
				stopped := func() bool {
					select {
					case <-stop:
						return true
					default:
						return false
					}
				}
				for _, it := range reliability.DefaultItems {
					for _, ent := range ents {
						if stopped() {
							return
						}
						id, err := apply(ctx, s, ent, it)
						if err != nil {
							loadErr <- err
							return
						}
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				}
				// Both items are once per enterprise: keep writing with
				// drafts and uploads.
				for i := 0; !stopped(); i++ {
					ent := ents[i%n]
					app, err := s.CreateApplication(ctx, ent, "genai_filing", raw(reliability.DefaultItems[0].Facts))
					if err == nil {
						_, err = s.Upload(ctx, ent, app.ID, "filing_notice", "a.pdf", append(append([]byte{}, reliability.PDF...), app.ID...))
					}
					if err != nil {
						loadErr <- err
						return
					}
				}
			}()
			waitFor := func(k int) {
				for {
					mu.Lock()
					got := len(acked)
					mu.Unlock()
					if got >= k {
						return
					}
					select {
					case err := <-loadErr:
						t.Fatalf("load stopped: %v", err)
					case <-time.After(5 * time.Millisecond):
					}
				}
			}
			waitFor(20)
			mu.Lock()
			before := append([]string(nil), acked...)
			mu.Unlock()
			path := filepath.Join(t.TempDir(), "backup.db")
			if dialect == store.Postgres {
				path = filepath.Join(t.TempDir(), "backup.dump")
			}
			start := time.Now()
			if err := db.Backup(ctx, path); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			waitFor(len(before) + 5) // the load went on during and after the backup
			close(stop)
			if err := <-loadErr; err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			total := len(acked)
			mu.Unlock()
			if err := db.Backup(ctx, path); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Fatalf("a second backup to the same file: %v", err)
			}

			target := freshTarget(t, dialect, db)
			if err := store.Restore(ctx, path, target); err != nil {
				t.Fatal(err)
			}
			if err := store.Restore(ctx, path, target); err == nil {
				t.Fatal("restored over a database that is not empty")
			}
			copyDB, err := store.Open(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			defer copyDB.Close()
			if _, err := copyDB.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var acks []reliability.Ack
			for _, id := range before {
				acks = append(acks, reliability.Ack{Op: reliability.OpSubmit, App: id, Key: "k-" + id})
			}
			rep, err := reliability.Check(ctx, copyDB, acks)
			if err != nil {
				t.Fatal(err)
			}
			if err := rep.Err(); err != nil {
				t.Fatalf("the restored copy does not verify: %v", err)
			}
			// Every application acknowledged before the backup began is in
			// the copy, submitted once.
			for _, id := range before {
				var state string
				var n int
				if err := copyDB.QueryRow(ctx, `SELECT state FROM desk_applications WHERE id = ?`, id).Scan(&state); err != nil {
					t.Fatalf("application %s, acknowledged before the backup, is not in the copy: %v", id, err)
				}
				if err := copyDB.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log WHERE entity_id = ? AND action = 'application.submitted'`, id).Scan(&n); err != nil || n != 1 || state != desk.StateSubmitted {
					t.Fatalf("application %s in the copy: state %s, %d submitted rows, %v", id, state, n, err)
				}
			}
			var inCopy int
			copyDB.QueryRow(ctx, `SELECT COUNT(*) FROM desk_applications WHERE state = 'submitted'`).Scan(&inCopy)
			t.Logf("%s: backup took %s; %d submitted before it began, %d in the copy, %d by the end; ledger %d transfers, audit %d rows",
				dialect, took.Round(time.Millisecond), len(before), inCopy, total, rep.Ledger.Transfers, rep.Audit.Rows)
			if inCopy < len(before) || inCopy > total {
				t.Fatalf("the copy has %d submitted applications; want between %d and %d", inCopy, len(before), total)
			}
		})
	}
}

func apply(ctx context.Context, s *desk.Service, ent desk.Actor, it reliability.Item) (string, error) {
	app, err := s.CreateApplication(ctx, ent, it.ID, raw(it.Facts))
	if err != nil {
		return "", err
	}
	for _, m := range it.Materials {
		if _, err := s.Upload(ctx, ent, app.ID, m, m+".pdf", append(append([]byte{}, reliability.PDF...), app.ID+m...)); err != nil {
			return "", err
		}
	}
	if err := s.SignCommitment(ctx, ent, app.ID); err != nil {
		return "", err
	}
	if _, err := s.Submit(ctx, ent, app.ID, "k-"+app.ID); err != nil {
		return "", err
	}
	return app.ID, nil
}

func raw(m map[string]any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// freshTarget returns the DSN of an empty database to restore into: a new
// SQLite file, or a new PostgreSQL database (pg_restore recreates the
// source's schema there), dropped at cleanup.
func freshTarget(t *testing.T, dialect string, src *store.DB) string {
	t.Helper()
	if dialect == store.SQLite {
		return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "restored.db"))
	}
	ctx := context.Background()
	base := os.Getenv(storetest.EnvPG)
	admin, err := store.Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "restore_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(src.DSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
