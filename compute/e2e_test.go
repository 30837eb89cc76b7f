package compute_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"policydesk/compute"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestEndToEnd walks 算力券 through the platform's service API on each
// database: a provider registers, is whitelisted and lists domestic
// cards; an enterprise claims a compute voucher, which is reviewed,
// reserved and approved; the provider uploads a 10,000-row metering CSV
// with 5 bad rows and 2 duplicate invoices; the enterprise confirms; the
// redemption pays exactly 30%, within the quota; the rest is released at
// the contract's end; the ledger verifies.
func TestEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := e.ctx
		e.openRound("compute_voucher", "model_voucher")

		// The provider registers; until whitelisted it cannot list.
		pa, p := e.provider(100)
		pb := desk.Actor{ID: "u-prv-b", Role: desk.RoleProvider, Enterprise: code(101)}
		pending := must(e.c.RegisterProvider(ctx, pb, compute.ProviderInput{USCC: code(101), Name: "待审服务商", Kinds: []string{"compute"}}))
		_, err := e.c.CreateListing(ctx, pb, "", compute.ListingInput{ChipModel: "MLU370", Vendor: "寒武纪", Cards: 8, Servers: 1, InZone: true})
		wantCode(t, err, "conflict")
		wantCode(t, func() error { _, err := e.c.ApproveProvider(ctx, pa, pending.ID, ""); return err }(), "forbidden")

		l := must(e.c.CreateListing(ctx, pa, "", compute.ListingInput{ChipModel: "Atlas 800T A2", Vendor: "Huawei Ascend", Cards: 512, Servers: 64, InZone: true,
			Location: "亦庄新城 智算中心A", Price: yuan("12.50")}))
		if !l.Domestic || l.Vendor != "昇腾" || l.State != compute.Listed || len(l.Periods) != 1 || l.Periods[0].Listed != "2025-03-03" {
			t.Fatalf("listing %+v", l)
		}
		cat := must(e.c.Listings(ctx, visitor, compute.ListingFilter{}))
		if len(cat) != 1 || cat[0].ID != l.ID {
			t.Fatalf("public catalogue %+v", cat)
		}

		// The enterprise's contract and its claim.
		ent := e.enterprise(1, nil)
		c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-2025-001", Title: "智算服务合同",
			Amount: yuan("10000000"), Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2024-12-20", ListingID: l.ID}))
		cl := must(e.c.ClaimVoucher(ctx, ent, c.ID, 0))
		if cl.Base != yuan("10000000") || cl.Item != "compute_voucher" || cl.State != compute.ClaimApplied || cl.ExpiresOn != "2025-06-30" {
			t.Fatalf("claim %+v", cl)
		}
		app := e.submit(ent, cl.ApplicationID)
		if app.Allowed != yuan("3000000") {
			t.Fatalf("the engine allows %s, want 3000000.00 (30%% of the contract)", money.Format(int64(app.Allowed)))
		}
		e.approve(app.ID, 0)
		vs := must(e.c.Vouchers(ctx, ent, compute.VoucherFilter{Contract: c.ID}))
		if len(vs) != 1 || vs[0].State != compute.ClaimActive || vs[0].Quota != yuan("3000000") || vs[0].Remaining != yuan("3000000") || vs[0].ExpiresOn != "2025-06-30" {
			t.Fatalf("voucher %+v", vs)
		}
		if left, _ := e.led.PoolRemaining(ctx, "compute_voucher", 2025); left != 100_000_000_00-3_000_000_00 {
			t.Fatalf("pool remaining %d after the reservation", left)
		}

		// The metering export: 10,000 rows, 5 bad, 2 duplicate invoices.
		var file bytes.Buffer
		gen := must(compute.GenerateSettlements(&file, compute.GenOptions{Rows: 10_000, Contracts: []string{c.ID}, From: "2025-01-01", To: "2025-02-28",
			Seed: 7, Bad: 5, Duplicates: 2, MaxAmount: yuan("100.00")}))
		if gen.Good != 9_993 {
			t.Fatalf("generator: %+v", gen)
		}
		var phases []string
		res := must(e.c.ImportRecords(ctx, pa, bytes.NewReader(file.Bytes()), compute.ImportOptions{Filename: "metering-2025q1.csv",
			Progress: func(p compute.Progress) {
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
				}
			}}))
		if !res.Committed || res.Rows != 10_000 || res.Imported != 9_993 || res.Refused != 7 || res.Amount != gen.GoodAmount || res.Encoding != "utf-8" {
			t.Fatalf("import %+v", res)
		}
		if !slices.Contains(phases, "write") {
			t.Fatalf("no progress reported: %v", phases)
		}
		var lines []int
		for _, re := range res.Errors {
			lines = append(lines, re.Line)
			if re.Message == "" || re.Code == "" {
				t.Fatalf("row error without reason: %+v", re)
			}
		}
		want := slices.Sorted(slices.Values(append(slices.Clone(gen.BadLines), gen.DupLines...)))
		if !slices.Equal(lines, want) {
			t.Fatalf("refused lines %v, want %v", lines, want)
		}
		codes := map[string]int{}
		for _, re := range res.Errors {
			codes[re.Code]++
			if re.Code == compute.CodeDuplicate && !strings.Contains(re.Message, "本文件第") {
				t.Fatalf("a duplicate does not name its first use: %s", re.Message)
			}
		}
		if codes[compute.CodeDuplicate] != 2 || codes[compute.CodeNegative] != 1 || codes[compute.CodeUnknownContract] != 1 ||
			codes[compute.CodeOutsidePeriod] != 1 || codes[compute.CodeMalformed] != 1 || codes[compute.CodeInvalidDate] != 1 {
			t.Fatalf("error codes %v", codes)
		}
		// Re-importing the same file is idempotent.
		again := must(e.c.ImportRecords(ctx, pa, bytes.NewReader(file.Bytes()), compute.ImportOptions{Filename: "copy.csv"}))
		if !again.Replayed || again.ID != res.ID || again.Imported != res.Imported || len(again.Errors) != 7 {
			t.Fatalf("re-import %+v", again)
		}
		recs := must(e.c.Records(ctx, pa, compute.RecordFilter{Contract: c.ID, Limit: 1000}))
		if len(recs) != 1000 || recs[0].State != compute.RecordSubmitted || recs[0].ImportID != res.ID {
			t.Fatalf("records %d %+v", len(recs), recs[0])
		}
		sum := must(e.c.Summary(ctx, ent, c.ID))
		if len(sum) != 1 || sum[0].Count != 9_993 || sum[0].Amount != gen.GoodAmount {
			t.Fatalf("summary %+v", sum)
		}

		// Bilateral confirmation; another enterprise cannot.
		ent2 := e.enterprise(2, nil)
		wantCode(t, func() error { _, err := e.c.ConfirmRecords(ctx, ent2, c.ID, nil); return err }(), "not_found")
		wantCode(t, func() error { _, err := e.c.Redeem(ctx, ent, c.ID); return err }(), "conflict") // nothing confirmed yet
		n := must(e.c.ConfirmRecords(ctx, ent, c.ID, nil))
		if n != 9_993 {
			t.Fatalf("confirmed %d", n)
		}

		// Redemption: exactly 30%, rounded down once, within the quota.
		red := must(e.c.Redeem(ctx, ent, c.ID))
		due := int64(gen.GoodAmount) * 30 / 100
		if red.State != compute.RedemptionPayable || red.Records != 9_993 || red.Base != gen.GoodAmount || int64(red.Due) != due || int64(red.Amount) != due ||
			red.Rate != "30/100" || len(red.Parts) != 1 {
			t.Fatalf("redemption %+v (want due %d)", red, due)
		}
		vs = must(e.c.Vouchers(ctx, ent, compute.VoucherFilter{Contract: c.ID}))
		if vs[0].Used != red.Amount || vs[0].Remaining != yuan("3000000")-red.Amount {
			t.Fatalf("voucher after redemption %+v", vs[0])
		}
		payable := must(e.led.Balances(ctx, ledger.PayableKey(ent.Enterprise)))[0]
		if payable.CreditsPosted != due || payable.CreditsPending != 3_000_000_00-due {
			t.Fatalf("payable posted %d pending %d", payable.CreditsPosted, payable.CreditsPending)
		}
		hist := must(e.led.History(ctx, ent.Enterprise))
		var held int64
		for _, g := range hist {
			held += g.Held()
		}
		if len(hist) != 2 || held != 3_000_000_00 {
			t.Fatalf("history %+v", hist)
		}
		wantCode(t, func() error { _, err := e.c.Redeem(ctx, ent, c.ID); return err }(), "conflict") // nothing left confirmed
		if rs := must(e.c.Records(ctx, ent, compute.RecordFilter{Contract: c.ID, State: compute.RecordRedeemed, Limit: 10})); len(rs) != 10 {
			t.Fatalf("redeemed records %d", len(rs))
		}

		// Finance pays it through a four-eyes payment batch of the
		// workflow; the ledger is not posted again.
		wantCode(t, func() error { _, err := e.desk.CreateBatch(ctx, ent, []string{red.ID}); return err }(), "forbidden")
		batch := must(e.desk.CreateBatch(ctx, finance, []string{red.ID}))
		if batch.Count != 1 || batch.Total != red.Amount || len(batch.Payments) != 1 || batch.Payments[0].Kind != compute.KindRedemption ||
			batch.Payments[0].Source != app.ID || batch.Payments[0].BankAccount != "6217000010001234567" {
			t.Fatalf("batch %+v", batch)
		}
		wantCode(t, func() error { _, err := e.desk.CreateBatch(ctx, finance2, []string{red.ID}); return err }(), "conflict") // in a batch already
		wantCode(t, func() error {
			_, err := e.desk.ApproveBatch(ctx, finance, batch.ID, 1, int64(red.Amount))
			return err
		}(), "forbidden") // the creator cannot approve
		must(e.desk.ApproveBatch(ctx, finance2, batch.ID, 1, int64(red.Amount)))
		if _, err := e.desk.ExportBatch(ctx, finance, batch.ID); err != nil {
			t.Fatal(err)
		}
		must(e.desk.RecordPayment(ctx, finance, batch.ID, red.ID, true, "BOC2025030300001"))
		paid := must(e.c.GetRedemption(ctx, ent, red.ID))
		if paid.State != compute.RedemptionPaid || paid.PaidAt == nil || paid.BatchID != batch.ID || paid.BankRef != "BOC2025030300001" {
			t.Fatalf("paid %+v", paid)
		}
		if b := must(e.desk.GetBatch(ctx, finance, batch.ID)); b.State != "closed" || b.Payments[0].State != "paid" {
			t.Fatalf("batch after payment %+v", b)
		}
		if after := must(e.led.Balances(ctx, ledger.PayableKey(ent.Enterprise)))[0]; after.CreditsPosted != due {
			t.Fatalf("paying the redemption posted again: %d, want %d", after.CreditsPosted, due)
		}
		e.verify()

		// Before the contract ends nothing is released; after, the rest is.
		if n, _, err := e.c.CloseVouchers(ctx); err != nil || n != 0 {
			t.Fatalf("close before the end: %d %v", n, err)
		}
		e.clock.Set(day("2025-07-01"))
		closed, released, err := e.c.CloseVouchers(ctx)
		if err != nil || closed != 1 || released != yuan("3000000")-red.Amount {
			t.Fatalf("close: %d %s %v", closed, money.Format(int64(released)), err)
		}
		vs = must(e.c.Vouchers(ctx, ent, compute.VoucherFilter{Contract: c.ID}))
		if vs[0].State != compute.ClaimClosed || vs[0].Remaining != 0 || vs[0].Released != yuan("3000000")-red.Amount {
			t.Fatalf("voucher after close %+v", vs[0])
		}
		if left, _ := e.led.PoolRemaining(ctx, "compute_voucher", 2025); left != 100_000_000_00-due {
			t.Fatalf("pool remaining %d, want the budget less the redemption", left)
		}
		if n, _, _ := e.c.CloseVouchers(ctx); n != 0 {
			t.Fatalf("a second close closed %d", n)
		}
		e.verify()

		// The statistics see it all.
		st := must(e.c.Stats(ctx, admin, "2025-01-01", "2025-06-30"))
		if st.Cards != 512 || st.DomesticShare != "100.0%" || len(st.Spend) != 1 || st.Spend[0].Redeemed != red.Amount || st.Spend[0].Settled != gen.GoodAmount {
			t.Fatalf("stats %+v", st)
		}
		if st.Overall.Settled != gen.GoodCardHours || st.Overall.Utilisation == "—" {
			t.Fatalf("utilisation %+v (want settled %s)", st.Overall, gen.GoodCardHours)
		}
		// Every change left its audit row.
		for _, action := range []string{"provider.register", "provider.approved", "listing.create", "contract.create", "claim.create", "claim.activate",
			"settlements.import", "settlements.confirmed", "redemption.plan", "redemption.post", "redemption.batched", "redemption.paid", "batch.line.paid", "claim.close", "claim.release"} {
			var k int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log WHERE action = ?`, action).Scan(&k); err != nil || k == 0 {
				t.Fatalf("no audit row for %s (%v)", action, err)
			}
		}
	})
}
