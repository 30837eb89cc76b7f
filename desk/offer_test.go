package desk_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policies"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestOffers imports a 高新技术企业 list: good rows become offers that the
// enterprise accepts without a form; bad rows stop the import with line
// numbers; ineligible rows are reported.
func TestOffers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		ent := e.enterprise(t, 11)
		notAI := e.enterprise(t, 12)
		must(struct{}{}, e.s.SetFacts(ctx, notAI, code(12), raw(map[string]any{"ai_enterprise": false}), desk.SourceSelf, "2025-01-02"))

		bad, err := desk.ReadTable([]byte("uscc,name,date\n91110302MA01AB3C7X,坏代码,2025-03-01\n"+code(11)+",企业,2025-03-01\n"), "list.csv")
		if err != nil {
			t.Fatal(err)
		}
		rep := must(e.s.ImportOffers(ctx, admin, "high_tech", "2025年第一批高新技术企业名单", bad))
		if len(rep.Bad) != 1 || rep.Bad[0].Line != 2 || rep.Offers != 0 {
			t.Fatalf("bad rows: %+v", rep)
		}
		if offers := must(e.s.Offers(ctx, admin, "")); len(offers) != 0 {
			t.Fatalf("a file with a bad row imported %d offers", len(offers))
		}

		rows := must(desk.ReadTable([]byte("\xef\xbb\xbfuscc,name,date\n"+code(11)+",企业11,2025-03-01\n"+code(12)+",企业12,2025-03-01\n"+code(13)+",新企业13,2025-03-01\n"), "list.csv"))
		rep = must(e.s.ImportOffers(ctx, admin, "high_tech", "2025年第一批高新技术企业名单", rows))
		// 11 eligible; 12 not an AI enterprise; 13 registered from the list but has no facts yet.
		if rep.Offers != 1 || len(rep.Skipped) != 2 {
			t.Fatalf("import: %+v", rep)
		}
		again := must(e.s.ImportOffers(ctx, admin, "high_tech", "2025年第一批高新技术企业名单", rows))
		if again.Offers != 0 || again.Already != 1 {
			t.Fatalf("re-import: %+v", again)
		}
		offers := must(e.s.Offers(ctx, ent, "open"))
		if len(offers) != 1 || offers[0].Amount != 300_000_00 {
			t.Fatalf("offers: %+v", offers)
		}
		if _, err := e.s.AcceptOffer(ctx, notAI, offers[0].ID); apperr.CodeOf(err) != apperr.NotFound {
			t.Fatalf("another enterprise accepted the offer: %v", err)
		}
		app := must(e.s.AcceptOffer(ctx, ent, offers[0].ID))
		if app.State != desk.StateSubmitted || app.OfferID != offers[0].ID || app.Allowed != 300_000_00 {
			t.Fatalf("accepted offer: %s %s %d", app.State, app.OfferID, app.Allowed)
		}
		if _, err := e.s.AcceptOffer(ctx, ent, offers[0].ID); apperr.CodeOf(err) != apperr.Conflict {
			t.Fatalf("offer accepted twice: %v", err)
		}
	})
}

// TestProRata: an oversubscribed pool is shared by one exact ratio.
func TestProRata(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db)
		ctx := e.ctx
		// Room for 1,000,000.00 yuan; three applications of 300,000.00 and one
		// of 450,000.00 (demand 1,350,000.00).
		if err := e.led.FundPool(ctx, "model_voucher", 2025, 1_000_000_00, "fund/model_voucher/2025"); err != nil {
			t.Fatal(err)
		}
		round := must(e.s.OpenRound(ctx, admin, "模型券", []string{"model_voucher"}, "2025-05-01", "2025-06-30"))
		var ids []string
		for i, c := range []string{"600000", "600000", "600000", "900000"} {
			ent := e.enterprise(t, 200+i)
			app := e.draft(t, ent, "model_voucher", map[string]any{"year": 2025, "contract_amount": c, "deployment": "cloud", "scenario": "benchmark"})
			must(e.s.Submit(ctx, ent, app.ID, ""))
			must(e.s.Accept(ctx, reviewer, app.ID, ""))
			ids = append(ids, app.ID)
		}
		for _, id := range ids {
			must(e.s.Opinion(ctx, reviewer, id, ""))
		}
		// 300,000 × 3 fit; the 450,000 is waitlisted.
		if a := must(e.s.Get(ctx, admin, ids[3])); a.State != desk.StateWaitlisted {
			t.Fatalf("fourth is %s", a.State)
		}
		pr := must(e.s.ProRata(ctx, admin, round.ID, "model_voucher", 2025, false))
		if pr.Available != 1_000_000_00 || pr.Demand != 1_350_000_00 || pr.Ratio != "20/27" {
			t.Fatalf("computation: %+v", pr)
		}
		// 300,000.00 × 20/27 = 222,222.2222… → 222,222.22; 450,000.00 × 20/27 = 333,333.33…
		want := []int64{222_222_22, 222_222_22, 222_222_22, 333_333_33}
		wantByID := map[string]int64{}
		for i, id := range ids {
			wantByID[id] = want[i]
		}
		var sum int64
		for _, l := range pr.Lines {
			if int64(l.After) != wantByID[l.ApplicationID] {
				t.Fatalf("%s: %d, want %d", l.ApplicationID, l.After, wantByID[l.ApplicationID])
			}
			sum += int64(l.After)
		}
		if int64(pr.Remainder) != 1_000_000_00-sum || pr.Remainder != 1 {
			t.Fatalf("remainder %d", pr.Remainder)
		}
		must(e.s.ProRata(ctx, admin, round.ID, "model_voucher", 2025, true))
		for i, id := range ids {
			a := must(e.s.Get(ctx, admin, id))
			if a.State != desk.StateProposed || int64(a.Proposed) != want[i] {
				t.Fatalf("%d: %s %d", i, a.State, a.Proposed)
			}
		}
		if left, _ := e.led.PoolRemaining(ctx, "model_voucher", 2025); left != 1 {
			t.Fatalf("pool left %d, want the remainder 1 fen", left)
		}
		if rep, err := e.led.Verify(ctx); err != nil || !rep.OK() {
			t.Fatalf("verify: %v", err)
		}
	})
}

// TestWebhook: notifications reach the gateway signed; failures are retried.
func TestWebhook(t *testing.T) {
	db := storetest.New(t, store.SQLite)
	var mu sync.Mutex
	var got []string
	down := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Policydesk-Signature") != desk.Sign("s3cret", body) {
			t.Errorf("bad signature")
		}
		mu.Lock()
		defer mu.Unlock()
		if down {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got = append(got, string(body))
	}))
	defer srv.Close()
	ctx := context.Background()
	led, err := ledger.New(ctx, db, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	b, _ := policy.Load(policies.Default())
	c := &clock{t: time.Date(2025, 6, 2, 9, 0, 0, 0, cst)}
	s, err := desk.New(db, led, b, desk.Options{Now: c.Now, Key: []byte("0123456789abcdef"), WebhookURL: srv.URL, WebhookSecret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{s: s, led: led, db: db, clock: c, ctx: ctx}
	ent := e.enterprise(t, 31)
	if _, err := s.OpenRound(ctx, admin, "r", []string{"genai_filing"}, "2025-06-01", "2025-06-30"); err != nil {
		t.Fatal(err)
	}
	app := e.draft(t, ent, "genai_filing", map[string]any{"filing_date": "2025-03-01"})
	if _, err := s.Submit(ctx, ent, app.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Return(ctx, reviewer, app.ID, "请补充备案编号"); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.DeliverOutbox(ctx, srv.Client()); n != 0 {
		t.Fatalf("first delivery should fail, sent %d", n)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	c.Set(c.Now().Add(time.Hour))
	n, err := s.DeliverOutbox(ctx, srv.Client())
	if err != nil || n < 2 {
		t.Fatalf("redelivery: %d %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "申请被退回补正") || !json.Valid([]byte(got[0])) {
		t.Fatalf("payloads: %s", joined)
	}
}
