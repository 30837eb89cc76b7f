package reliability_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"policydesk/desk"
	"policydesk/reliability"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestManySubmitsAtOnce submits 48 applications at the same moment —
// more than PostgreSQL's default pool of 16 connections — through the
// workflow service, as the last minutes before a deadline do. Every
// submit must finish within 10 s.
//
// It guards a fixed bug: Submit evaluated the application inside its
// transaction but read the grant history (ledger.History, PoolRemaining)
// on the pool; once PostgreSQL's pool was taken by submits that each
// waited for a second connection, all of them waited for ever. The reads
// now go through the transaction (store.Querier).
func TestManySubmitsAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
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
		if _, err := s.OpenRound(ctx, admin, "r", []string{"genai_filing"}, opens, closes); err != nil {
			t.Fatal(err)
		}
		const n = 48
		type draft struct {
			ent desk.Actor
			id  string
		}
		drafts := make([]draft, n)
		for i := range drafts {
			code := reliability.EnterpriseCode(100 + i)
			ent := desk.Actor{ID: "u-" + code, Role: desk.RoleEnterprise, Enterprise: code}
			if _, err := s.RegisterEnterprise(ctx, ent, code, "企业"); err != nil {
				t.Fatal(err)
			}
			if err := s.SetFacts(ctx, ent, code, map[string]json.RawMessage{"in_etown": []byte("true"), "serious_dishonesty_listed": []byte("false"),
				"penalties": []byte("[]"), "ai_enterprise": []byte("true")}, desk.SourceSelf, "2025-01-01"); err != nil {
				t.Fatal(err)
			}
			app, err := s.CreateApplication(ctx, ent, "genai_filing", map[string]json.RawMessage{"filing_date": []byte(`"2025-03-01"`)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Upload(ctx, ent, app.ID, "filing_notice", "f.pdf", append(append([]byte{}, reliability.PDF...), app.ID...)); err != nil {
				t.Fatal(err)
			}
			if err := s.SignCommitment(ctx, ent, app.ID); err != nil {
				t.Fatal(err)
			}
			drafts[i] = draft{ent, app.ID}
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, d := range drafts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.Submit(cctx, d.ent, d.id, "")
			}()
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		stuck := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				stuck++
			case err != nil:
				t.Errorf("submit: %v", err)
			}
		}
		if stuck > 0 {
			t.Fatalf("%s: %d of %d concurrent submits still waiting after 10 s (connection pool starved)", db.Dialect(), stuck, n)
		}
		t.Logf("%s: %d concurrent submits in %s", db.Dialect(), n, time.Since(t0).Round(time.Millisecond))
	})
}
