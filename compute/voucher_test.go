package compute_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"policydesk/compute"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/store"
	"policydesk/store/storetest"
)

// records makes n API records of amount each on a contract, numbered from
// first.
func records(contract string, first, n int, amount string) []compute.RecordInput {
	out := make([]compute.RecordInput, n)
	for i := range out {
		out[i] = compute.RecordInput{Contract: contract, PeriodStart: "2025-03-01", PeriodEnd: "2025-03-01", CardHours: "10", Amount: yuan(amount),
			InvoiceNo: fmt.Sprintf("INV%08d", first+i), InvoiceDate: "2025-03-02"}
	}
	return out
}

// TestRelatedPartyRefusal: a contract between related parties is refused,
// whichever side declared the relation, and a relation declared after the
// contract stops its claims and redemptions.
func TestRelatedPartyRefusal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := e.ctx
		e.openRound("compute_voucher")
		pa, p := e.provider(100)
		ent := e.enterprise(1, nil)
		ent2 := e.enterprise(2, nil)
		in := compute.ContractInput{Provider: p.ID, Kind: "compute", Number: "HT-1", Amount: yuan("1000000"), Starts: "2025-01-01", Ends: "2025-12-31", SignedOn: "2025-01-01"}

		// Declared by the provider.
		must(e.c.DeclareRelatedParties(ctx, pa, p.ID, []compute.RelatedParty{{USCC: ent.Enterprise, Name: "测试企业1", Relation: "同一实际控制人"}}))
		_, err := e.c.CreateContract(ctx, ent, in)
		wantCode(t, err, "conflict")
		if !strings.Contains(err.Error(), "related") {
			t.Fatalf("refusal does not say why: %v", err)
		}
		// Another provider cannot change this provider's declaration.
		qa, q := e.provider(101)
		wantCode(t, func() error { _, err := e.c.DeclareRelatedParties(ctx, qa, p.ID, nil); return err }(), "not_found")
		// Self-dealing: the provider's own company as the customer.
		self := e.enterprise(100, nil)
		_, err = e.c.CreateContract(ctx, self, in)
		wantCode(t, err, "conflict")
		// Declared by the other side: the enterprise is itself a provider
		// and names this one related.
		ea := desk.Actor{ID: "u-ent2-prv", Role: desk.RoleProvider, Enterprise: ent2.Enterprise}
		ep := must(e.c.RegisterProvider(ctx, ea, compute.ProviderInput{USCC: ent2.Enterprise, Name: "测试企业2", Kinds: []string{"model"}}))
		must(e.c.DeclareRelatedParties(ctx, ea, ep.ID, []compute.RelatedParty{{USCC: p.USCC, Relation: "控股子公司"}}))
		_, err = e.c.CreateContract(ctx, ent2, in)
		wantCode(t, err, "conflict")

		// A clean contract, then a relation declared later.
		ent3 := e.enterprise(3, nil)
		in.Provider = q.USCC
		c := must(e.c.CreateContract(ctx, ent3, in))
		cl := must(e.c.ClaimVoucher(ctx, ent3, c.ID, 0))
		e.approve(e.submit(ent3, cl.ApplicationID).ID, 0)
		must(e.c.SubmitRecords(ctx, qa, records(c.ID, 1, 3, "1000.00"), compute.ImportOptions{}))
		must(e.c.ConfirmRecords(ctx, ent3, c.ID, nil))
		must(e.c.DeclareRelatedParties(ctx, qa, q.ID, []compute.RelatedParty{{USCC: ent3.Enterprise, Relation: "参股"}}))
		_, err = e.c.Redeem(ctx, ent3, c.ID)
		wantCode(t, err, "conflict")
		c2 := must(e.c.CreateContract(ctx, ent3, compute.ContractInput{Provider: p.ID, Kind: "compute", Number: "HT-2", Amount: yuan("1000"),
			Starts: "2025-01-01", Ends: "2025-12-31", SignedOn: "2025-01-01"}))
		_ = c2
		must(e.c.DeclareRelatedParties(ctx, pa, p.ID, []compute.RelatedParty{{USCC: ent3.Enterprise, Relation: "参股"}}))
		_, err = e.c.ClaimVoucher(ctx, ent3, c2.ID, 0)
		wantCode(t, err, "conflict")
		// Suspended providers: no new contracts, no listings.
		must(e.c.SuspendProvider(ctx, admin, q.ID, "结算数据异常"))
		ent4 := e.enterprise(4, nil)
		_, err = e.c.CreateContract(ctx, ent4, in)
		wantCode(t, err, "conflict")
		_, err = e.c.SubmitRecords(ctx, qa, records(c.ID, 100, 1, "1.00"), compute.ImportOptions{})
		wantCode(t, err, "conflict")
		e.verify()
	})
}

// TestRedeemChainAndQuota: two redemptions against one voucher (the ledger
// keeps the rest reserved between them), then a third limited by the
// quota: it pays exactly what is left, and the voucher is used up.
func TestRedeemChainAndQuota(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := e.ctx
		e.openRound("compute_voucher")
		pa, p := e.provider(100)
		ent := e.enterprise(1, nil)
		c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-9", Amount: yuan("1000000"),
			Starts: "2025-01-01", Ends: "2025-12-31", SignedOn: "2025-01-01"}))
		cl := must(e.c.ClaimVoucher(ctx, ent, c.ID, 0))
		// The panel grants 100,000 of the 300,000 the rules allow.
		e.approve(e.submit(ent, cl.ApplicationID).ID, 100_000_00)

		// 1: 10 × 1,000.01 = 10,000.10 → 30% = 3,000.03.
		must(e.c.SubmitRecords(ctx, pa, records(c.ID, 1, 10, "1000.01"), compute.ImportOptions{}))
		must(e.c.ConfirmRecords(ctx, ent, c.ID, nil))
		r1 := must(e.c.Redeem(ctx, ent, c.ID))
		if r1.Amount != yuan("3000.03") || r1.Parts[0].Next == "" {
			t.Fatalf("first redemption %+v", r1)
		}
		// 2: one record of 0.05 → ⌊0.015⌋ = 0.01 (rounded down once).
		must(e.c.SubmitRecords(ctx, pa, []compute.RecordInput{{Contract: c.ID, PeriodStart: "2025-03-01", PeriodEnd: "2025-03-01", CardHours: "0.001",
			Amount: yuan("0.05"), InvoiceNo: "SMALL1", InvoiceDate: "2025-03-02"}}, compute.ImportOptions{}))
		recs := must(e.c.Records(ctx, ent, compute.RecordFilter{Contract: c.ID, State: compute.RecordSubmitted}))
		must(e.c.ConfirmRecords(ctx, ent, c.ID, []int64{recs[0].ID}))
		r2 := must(e.c.Redeem(ctx, ent, c.ID))
		if r2.Amount != yuan("0.01") || r2.Parts[0].Grant != r1.Parts[0].Next {
			t.Fatalf("second redemption %+v", r2)
		}
		// 3: 400,000 of records → 120,000 due, but only 96,999.96 left.
		must(e.c.SubmitRecords(ctx, pa, records(c.ID, 100, 4, "100000.00"), compute.ImportOptions{}))
		must(e.c.ConfirmRecords(ctx, ent, c.ID, nil))
		r3 := must(e.c.Redeem(ctx, ent, c.ID))
		if r3.Due != yuan("120000") || r3.Amount != yuan("96999.96") || r3.Parts[0].Next != "" {
			t.Fatalf("third redemption %+v", r3)
		}
		vs := must(e.c.Vouchers(ctx, ent, compute.VoucherFilter{}))
		if vs[0].State != compute.ClaimClosed || vs[0].Used != yuan("100000") || vs[0].Remaining != 0 {
			t.Fatalf("voucher %+v", vs[0])
		}
		_, err := e.c.Redeem(ctx, ent, c.ID)
		wantCode(t, err, "conflict")
		hist := must(e.led.History(ctx, ent.Enterprise))
		var paid int64
		for _, g := range hist {
			if g.State != ledger.StatePaid {
				t.Fatalf("grant %s is %s", g.GrantID, g.State)
			}
			paid += g.Posted
		}
		if len(hist) != 3 || paid != 100_000_00 {
			t.Fatalf("history %+v", hist)
		}
		if left, _ := e.led.PoolRemaining(ctx, "compute_voucher", 2025); left != 100_000_000_00-100_000_00 {
			t.Fatalf("pool %d", left)
		}
		e.verify()
	})
}

// TestModelVoucherAndShare: a model contract with its deployment and an
// admin-kept scenario; claims limited to 20% of the contract each; 50% of
// the records redeemed.
func TestModelVoucherAndShare(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{ClaimShare: compute.Ratio{Num: 20, Den: 100}})
		ctx := e.ctx
		e.openRound("model_voucher")
		pa, p := e.provider(100, compute.KindModel)
		ent := e.enterprise(1, nil)
		in := compute.ContractInput{Provider: p.USCC, Kind: "model", Number: "MX-1", Amount: yuan("2000000"), Starts: "2025-01-01", Ends: "2025-12-31",
			SignedOn: "2025-01-01", Deployment: "private", Scenario: "ZN-01"}
		_, err := e.c.CreateContract(ctx, ent, in)
		wantCode(t, err, "invalid") // no such scenario yet
		wantCode(t, e.c.PutScenario(ctx, ent, compute.Scenario{Code: "ZN-01", Name: "智能制造质检", Kind: "benchmark", Active: true}), "forbidden")
		if err := e.c.PutScenario(ctx, admin, compute.Scenario{Code: "ZN-01", Name: "智能制造质检", Kind: "benchmark", Active: true}); err != nil {
			t.Fatal(err)
		}
		in2 := in
		in2.Kind, in2.Deployment, in2.Scenario = "compute", "", ""
		_, err = e.c.CreateContract(ctx, ent, in2)
		wantCode(t, err, "invalid") // the provider offers models only
		bad := in
		bad.Ends = "2026-01-01"
		_, err = e.c.CreateContract(ctx, ent, bad)
		wantCode(t, err, "invalid") // longer than a year
		c := must(e.c.CreateContract(ctx, ent, in))

		_, err = e.c.ClaimVoucher(ctx, ent, c.ID, yuan("400000.01"))
		wantCode(t, err, "invalid") // above 20%
		cl := must(e.c.ClaimVoucher(ctx, ent, c.ID, 0))
		if cl.Base != yuan("400000") || cl.Item != "model_voucher" {
			t.Fatalf("claim %+v", cl)
		}
		app := e.submit(ent, cl.ApplicationID)
		if app.Allowed != yuan("200000") || app.ReviewRequired {
			t.Fatalf("model voucher allowed %s", money.Format(int64(app.Allowed)))
		}
		e.approve(app.ID, 0)
		must(e.c.SubmitRecords(ctx, pa, []compute.RecordInput{{Contract: "MX-1", PeriodStart: "2025-02-01", PeriodEnd: "2025-02-28", APICalls: 120000,
			Amount: yuan("300000.01"), InvoiceNo: "M-0001", InvoiceDate: "2025-03-01", DeliveryRef: "YS-2025-001"}}, compute.ImportOptions{}))
		must(e.c.ConfirmRecords(ctx, ent, c.ID, nil))
		r := must(e.c.Redeem(ctx, ent, c.ID))
		if r.Rate != "50/100" || r.Amount != yuan("150000") {
			t.Fatalf("model redemption %+v", r)
		}
		// A second claim of another 20%, up to the contract.
		cl2 := must(e.c.ClaimVoucher(ctx, ent, c.ID, 0))
		if cl2.Base != yuan("400000") {
			t.Fatalf("second claim %+v", cl2)
		}
		e.verify()
	})
}

// TestWorkflowRefusalAndRevocation: a refused claim never becomes a
// voucher; an approved one whose award is revoked after a redemption
// releases what its chain still holds.
func TestWorkflowRefusalAndRevocation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := e.ctx
		e.openRound("compute_voucher")
		pa, p := e.provider(100)
		ent := e.enterprise(1, nil)
		c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-1", Amount: yuan("1000000"),
			Starts: "2025-01-01", Ends: "2025-12-31", SignedOn: "2025-01-01"}))
		cl := must(e.c.ClaimVoucher(ctx, ent, c.ID, yuan("500000")))
		e.submit(ent, cl.ApplicationID)
		must(e.desk.Reject(ctx, reviewer, cl.ApplicationID, "合同与结算主体不一致"))
		vs := must(e.c.Vouchers(ctx, ent, compute.VoucherFilter{}))
		if vs[0].State != compute.ClaimRefused {
			t.Fatalf("refused claim is %s", vs[0].State)
		}
		// The refused base is free again.
		cl2 := must(e.c.ClaimVoucher(ctx, ent, c.ID, 0))
		if cl2.Base != yuan("1000000") {
			t.Fatalf("base after refusal %s", money.Format(int64(cl2.Base)))
		}
		e.approve(e.submit(ent, cl2.ApplicationID).ID, 0)
		must(e.c.SubmitRecords(ctx, pa, records(c.ID, 1, 1, "10000.00"), compute.ImportOptions{}))
		must(e.c.ConfirmRecords(ctx, ent, c.ID, nil))
		must(e.c.Redeem(ctx, ent, c.ID))
		// Revoked after approval (e.g. fraud found): the workflow releases
		// the first grant — already redeemed — and compute the rest.
		must(e.desk.Reject(ctx, reviewer, cl2.ApplicationID, "发现虚假结算"))
		vs = must(e.c.Vouchers(ctx, ent, compute.VoucherFilter{State: compute.ClaimClosed}))
		if len(vs) != 1 || vs[0].Released != yuan("297000") || vs[0].Remaining != 0 {
			t.Fatalf("revoked voucher %+v", vs)
		}
		if left, _ := e.led.PoolRemaining(ctx, "compute_voucher", 2025); left != 100_000_000_00-3_000_00 {
			t.Fatalf("pool %d", left)
		}
		if n, _, err := e.c.CloseVouchers(ctx); err != nil || n != 0 {
			t.Fatalf("close: %d %v", n, err)
		}
		e.verify()
	})
}

// TestScoping: who sees and changes what.
func TestScoping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := e.ctx
		pa, p := e.provider(100)
		qa, _ := e.provider(101)
		ent := e.enterprise(1, nil)
		ent2 := e.enterprise(2, nil)
		c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-1", Amount: yuan("1000"),
			Starts: "2025-01-01", Ends: "2025-12-31", SignedOn: "2025-01-01"}))
		_, err := e.c.CreateContract(ctx, pa, compute.ContractInput{Provider: p.USCC})
		wantCode(t, err, "forbidden")
		for _, a := range []desk.Actor{ent2, qa, visitor} {
			if _, err := e.c.GetContract(ctx, a, c.ID); err == nil {
				t.Fatalf("%s sees another's contract", a.ID)
			}
		}
		for _, a := range []desk.Actor{ent, pa, admin, reviewer, finance} {
			must(e.c.GetContract(ctx, a, c.ID))
		}
		if cs := must(e.c.Contracts(ctx, qa, compute.ContractFilter{})); len(cs) != 0 {
			t.Fatalf("another provider lists %d contracts", len(cs))
		}
		must(e.c.SubmitRecords(ctx, pa, records(c.ID, 1, 2, "10.00"), compute.ImportOptions{}))
		if rs := must(e.c.Records(ctx, qa, compute.RecordFilter{})); len(rs) != 0 {
			t.Fatalf("another provider sees %d records", len(rs))
		}
		if rs := must(e.c.Records(ctx, ent2, compute.RecordFilter{})); len(rs) != 0 {
			t.Fatalf("another enterprise sees %d records", len(rs))
		}
		rs := must(e.c.Records(ctx, ent, compute.RecordFilter{}))
		_, err = e.c.ConfirmRecords(ctx, pa, c.ID, nil)
		wantCode(t, err, "forbidden") // the provider cannot confirm its own records
		_, err = e.c.CorrectRecord(ctx, qa, rs[0].ID, compute.RecordInput{PeriodStart: "2025-03-01", PeriodEnd: "2025-03-01", CardHours: "1", Amount: yuan("1")})
		wantCode(t, err, "not_found")
		must(e.c.DisputeRecords(ctx, ent, c.ID, []int64{rs[0].ID}, "卡时与平台监测不符"))
		fixed := must(e.c.CorrectRecord(ctx, pa, rs[0].ID, compute.RecordInput{PeriodStart: "2025-03-01", PeriodEnd: "2025-03-01", CardHours: "8.5", Amount: yuan("8.50")}))
		if fixed.State != compute.RecordSubmitted || fixed.Amount != yuan("8.50") || fixed.CardHours != 8500 {
			t.Fatalf("corrected %+v", fixed)
		}
		if err := e.c.WithdrawRecord(ctx, pa, rs[1].ID, "重复报送"); err != nil {
			t.Fatal(err)
		}
		// A withdrawn record's invoice stays used.
		res := must(e.c.SubmitRecords(ctx, pa, records(c.ID, 2, 1, "10.00"), compute.ImportOptions{}))
		if res.Imported != 0 || res.Errors[0].Code != compute.CodeDuplicate {
			t.Fatalf("reused invoice %+v", res)
		}
		wantCode(t, func() error { _, err := e.c.Stats(ctx, ent, "", ""); return err }(), "forbidden")
		must(e.c.Stats(ctx, pa, "", ""))
		// The whitelist is public; related parties are not.
		must(e.c.DeclareRelatedParties(ctx, pa, p.ID, []compute.RelatedParty{{USCC: code(55), Relation: "母公司"}}))
		if pv := must(e.c.GetProvider(ctx, visitor, p.ID)); len(pv.Related) != 0 || pv.Contact != "" {
			t.Fatalf("the public sees %+v", pv)
		}
		if pv := must(e.c.GetProvider(ctx, admin, p.USCC)); len(pv.Related) != 1 {
			t.Fatalf("the admin sees %+v", pv)
		}
		wantCode(t, e.c.PutVendor(ctx, pa, compute.Vendor{Name: "X"}), "forbidden")
		wantCode(t, e.c.PutVendor(ctx, admin, compute.Vendor{Name: "新厂商", Domestic: true, Aliases: []string{"ascend"}}), "conflict")
		if err := e.c.PutVendor(ctx, admin, compute.Vendor{Name: "新厂商", Domestic: true, Aliases: []string{"NewChip"}}); err != nil {
			t.Fatal(err)
		}
		l := must(e.c.CreateListing(ctx, pa, "", compute.ListingInput{ChipModel: "N1", Vendor: "newchip", Cards: 16, Servers: 2, InZone: true}))
		if !l.Domestic || l.Vendor != "新厂商" {
			t.Fatalf("listing with a new vendor %+v", l)
		}
		_, err = e.c.CreateListing(ctx, pa, "", compute.ListingInput{ChipModel: "N1", Vendor: "nobody", Cards: 16, InZone: true})
		wantCode(t, err, "invalid")
		_, err = e.c.CreateListing(ctx, pa, "", compute.ListingInput{ChipModel: "N1", Vendor: "newchip", Cards: 16, InZone: true, ListedOn: "2024-01-01"})
		wantCode(t, err, "invalid") // providers cannot backdate
		_, err = e.c.WithdrawListing(ctx, qa, l.ID)
		wantCode(t, err, "not_found")
	})
}

// TestImportBadInput: each kind of bad input is refused with its line and
// reason; nothing of a refused file is stored.
func TestImportBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := e.ctx
		pa, p := e.provider(100)
		qa, q := e.provider(101)
		ent := e.enterprise(1, nil)
		c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-1", Amount: yuan("100000"),
			Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2025-01-01"}))
		other := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: q.USCC, Kind: "compute", Number: "HT-Q", Amount: yuan("1000"),
			Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2025-01-01"}))
		must(e.c.SubmitRecords(ctx, qa, records(other.ID, 900, 1, "10.00"), compute.ImportOptions{})) // INV00000900 belongs to another provider
		must(e.c.SubmitRecords(ctx, pa, records(c.ID, 800, 1, "10.00"), compute.ImportOptions{}))     // INV00000800 is ours

		hdr := "contract,period_start,period_end,card_hours,api_calls,amount,invoice_no,invoice_date,delivery_ref\n"
		row := func(contract, start, end, cards, amount, inv, idate string) string {
			return strings.Join([]string{contract, start, end, cards, "0", amount, inv, idate, ""}, ",") + "\n"
		}
		good := row(c.ID, "2025-03-01", "2025-03-31", "100.5", "1000.00", "A1", "2025-03-02")
		cases := []struct {
			name, line string
			code       string
		}{
			{"negative amount", row(c.ID, "2025-03-01", "2025-03-31", "1", "-5.00", "B1", "2025-03-02"), compute.CodeNegative},
			{"three decimals", row(c.ID, "2025-03-01", "2025-03-31", "1", "5.001", "B2", "2025-03-02"), compute.CodeInvalidMoney},
			{"zero amount", row(c.ID, "2025-03-01", "2025-03-31", "1", "0", "B3", "2025-03-02"), compute.CodeZeroAmount},
			{"unknown contract", row("ctr_nope", "2025-03-01", "2025-03-31", "1", "5.00", "B4", "2025-03-02"), compute.CodeUnknownContract},
			{"another provider's contract", row(other.ID, "2025-03-01", "2025-03-31", "1", "5.00", "B5", "2025-03-02"), compute.CodeForeign},
			{"outside the period", row(c.ID, "2025-06-01", "2025-07-15", "1", "5.00", "B6", "2025-07-16"), compute.CodeOutsidePeriod},
			{"period reversed", row(c.ID, "2025-03-31", "2025-03-01", "1", "5.00", "B7", "2025-03-02"), compute.CodePeriod},
			{"bad date", row(c.ID, "2025-02-30", "2025-03-01", "1", "5.00", "B8", "2025-03-02"), compute.CodeInvalidDate},
			{"future invoice", row(c.ID, "2025-03-01", "2025-03-01", "1", "5.00", "B9", "2025-04-30"), compute.CodeFutureInvoice},
			{"no card-hours", row(c.ID, "2025-03-01", "2025-03-01", "", "5.00", "B10", "2025-03-02"), compute.CodeNoUsage},
			{"negative card-hours", row(c.ID, "2025-03-01", "2025-03-01", "-1", "5.00", "B11", "2025-03-02"), compute.CodeNegative},
			{"missing invoice", row(c.ID, "2025-03-01", "2025-03-01", "1", "5.00", "", "2025-03-02"), compute.CodeMissing},
			{"odd invoice", row(c.ID, "2025-03-01", "2025-03-01", "1", "5.00", "发票1", "2025-03-02"), compute.CodeInvalidInvoice},
			{"bare quote", c.ID + `,2025-03-01,2025-03-01,1,0,5.00,B"12,2025-03-02,` + "\n", compute.CodeMalformed},
			{"field count", c.ID + ",2025-03-01,2025-03-01,1,0,5.00\n", compute.CodeFieldCount},
			{"duplicate in the file", row(c.ID, "2025-03-01", "2025-03-01", "1", "5.00", "A1", "2025-03-02"), compute.CodeDuplicate},
			{"duplicate of our record", row(c.ID, "2025-03-01", "2025-03-01", "1", "5.00", "inv00000800", "2025-03-02"), compute.CodeDuplicate},
			{"duplicate of another's", row(c.ID, "2025-03-01", "2025-03-01", "1", "5.00", "INV00000900", "2025-03-02"), compute.CodeDuplicate},
			{"above the contract", row(c.ID, "2025-03-01", "2025-03-01", "1", "99000.00", "B13", "2025-03-02"), compute.CodeExceeds},
		}
		e.clock.Set(day("2025-04-01"))
		for _, tc := range cases {
			res := must(e.c.ImportRecords(ctx, pa, strings.NewReader(hdr+good+tc.line), compute.ImportOptions{Filename: "t.csv", Strict: true}))
			if res.Committed || res.Imported != 0 || len(res.Errors) != 1 || res.Errors[0].Line != 3 || res.Errors[0].Code != tc.code || res.Errors[0].Message == "" {
				t.Fatalf("%s: %+v", tc.name, res)
			}
			if tc.name == "duplicate of our record" && !strings.Contains(res.Errors[0].Message, "结算记录 #") {
				t.Fatalf("the first use is not named: %s", res.Errors[0].Message)
			}
			if tc.name == "duplicate of another's" && !strings.Contains(res.Errors[0].Message, "其他服务商") {
				t.Fatalf("another provider's record: %s", res.Errors[0].Message)
			}
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM compute_settlements`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("strict imports stored rows: %d %v", n, err)
		}

		// A line in another encoding, after 64 KiB of UTF-8: that line is refused.
		var mixed strings.Builder
		mixed.WriteString(hdr)
		for i := range 1000 {
			mixed.WriteString(row(c.ID, "2025-03-01", "2025-03-01", "1", "0.01", fmt.Sprintf("M%04d", i), "2025-03-02"))
		}
		mixed.WriteString(c.ID + ",2025-03-01,2025-03-01,1,0,5.00,B14,2025-03-02,\xbd\xbb\xb8\xb6\n")
		res := must(e.c.ImportRecords(ctx, pa, strings.NewReader(mixed.String()), compute.ImportOptions{Filename: "mixed.csv"}))
		if res.Encoding != "utf-8" || res.Imported != 1000 || len(res.Errors) != 1 || res.Errors[0].Line != 1002 || res.Errors[0].Code != compute.CodeEncoding {
			t.Fatalf("mixed encodings: %+v", res)
		}

		// File-level refusals.
		for _, tc := range []struct {
			name string
			data string
		}{
			{"empty", ""},
			{"no header", good},
			{"utf-16", "\xff\xfec\x00o\x00"},
			{"unterminated quote", hdr + good + c.ID + `,2025-03-01,2025-03-01,1,0,5.00,"B15,2025-03-02,` + "\n" + good},
			{"binary", "PK\x03\x04\x00\x00"},
			{"not gbk either", hdr + "\xff\xff\xff\n"},
		} {
			_, err := e.c.ImportRecords(ctx, pa, strings.NewReader(tc.data), compute.ImportOptions{Filename: "t.csv"})
			wantCode(t, err, "invalid")
		}

		// A GBK export with a Chinese header converts.
		var gbk bytes.Buffer
		gen := must(compute.GenerateSettlements(&gbk, compute.GenOptions{Rows: 50, Contracts: []string{"HT-1"}, From: "2025-01-01", To: "2025-03-31", Seed: 3, GBK: true, MaxAmount: yuan("10")}))
		res = must(e.c.ImportRecords(ctx, pa, &gbk, compute.ImportOptions{Filename: "计量导出.csv"}))
		if res.Encoding != "gbk" || res.Imported != 50 || res.Amount != gen.GoodAmount {
			t.Fatalf("gbk import %+v", res)
		}
		// JSONL, with bad rows reported and the good ones stored.
		var jl bytes.Buffer
		gen = must(compute.GenerateSettlements(&jl, compute.GenOptions{Rows: 40, Contracts: []string{c.ID}, From: "2025-01-01", To: "2025-03-31", Seed: 4, Bad: 3, Duplicates: 1, Format: "jsonl", MaxAmount: yuan("10")}))
		res = must(e.c.ImportRecords(ctx, pa, &jl, compute.ImportOptions{Filename: "export.jsonl"}))
		if res.Format != "jsonl" || res.Imported != gen.Good || res.Refused != 4 || res.Errors[0].Line != gen.BadLines[0] {
			t.Fatalf("jsonl import %+v, %+v", res, gen)
		}
		// Only providers on the whitelist import.
		_, err := e.c.ImportRecords(ctx, ent, strings.NewReader(hdr+good), compute.ImportOptions{})
		wantCode(t, err, "forbidden")
	})
}

// TestConcurrentImports: two imports racing with overlapping invoices store
// each invoice once; the loser reports the winner's rows as first uses.
func TestConcurrentImports(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{})
		ctx := e.ctx
		pa, p := e.provider(100)
		ent := e.enterprise(1, nil)
		c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-1", Amount: yuan("100000000"),
			Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2025-01-01"}))
		files := make([][]byte, 4)
		for i := range files {
			var b bytes.Buffer
			// Files 0/1 and 2/3 share their invoice numbers (same prefix), not their bytes.
			must(compute.GenerateSettlements(&b, compute.GenOptions{Rows: 2000, Contracts: []string{c.ID}, From: "2025-01-01", To: "2025-02-28",
				Seed: uint64(i), InvoicePrefix: fmt.Sprintf("P%d", i/2), MaxAmount: yuan("10")}))
			files[i] = b.Bytes()
		}
		results := make([]*compute.ImportResult, len(files))
		errs := make(chan error, len(files))
		done := make(chan int, len(files))
		for i := range files {
			go func() {
				r, err := e.c.ImportRecords(ctx, pa, bytes.NewReader(files[i]), compute.ImportOptions{Filename: fmt.Sprintf("f%d.csv", i)})
				results[i] = r
				errs <- err
				done <- i
			}()
		}
		for range files {
			<-done
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		total := 0
		for _, r := range results {
			total += r.Imported
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM compute_settlements`).Scan(&n); err != nil || n != 4000 || total != 4000 {
			t.Fatalf("stored %d, reported %d, want 4000 (%v)", n, total, err)
		}
	})
}

// TestClosesAtYearEnd: a voucher of a contract running into the next year
// expires at the close of its year, after the grace period.
func TestClosesAtYearEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{GraceDays: 15})
		ctx := e.ctx
		e.openRound("compute_voucher")
		_, p := e.provider(100)
		ent := e.enterprise(1, nil)
		e.clock.Set(day("2025-09-01"))
		c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-1", Amount: yuan("100000"),
			Starts: "2025-09-01", Ends: "2026-08-31", SignedOn: "2025-08-20"}))
		cl := must(e.c.ClaimVoucher(ctx, ent, c.ID, 0))
		if cl.ExpiresOn != "2025-12-31" || cl.Year != 2025 {
			t.Fatalf("claim %+v", cl)
		}
		e.approve(e.submit(ent, cl.ApplicationID).ID, 0)
		e.clock.Set(day("2026-01-15"))
		if n, _, _ := e.c.CloseVouchers(ctx); n != 0 {
			t.Fatal("closed within the grace period")
		}
		e.clock.Set(day("2026-01-16"))
		if n, rel, err := e.c.CloseVouchers(ctx); n != 1 || rel != yuan("30000") || err != nil {
			t.Fatalf("close %d %s %v", n, money.Format(int64(rel)), err)
		}
		e.verify()
	})
}
