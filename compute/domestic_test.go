package compute_test

import (
	"slices"
	"testing"

	"policydesk/compute"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
	"policydesk/store/storetest"
)

// TestDomesticListingVerification: 第二条's listed_on_platform comes from
// the platform. Servers count when their chip is domestic (vendor list),
// their listing is in the zone, listed for the minimum period without
// interruption, and served other enterprises (confirmed settlement
// records); a listed server counts for one purchase only; the project's
// cumulative cap is held in the ledger.
func TestDomesticListingVerification(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		defer guard(t)
		e := newEnv(t, db, compute.Options{MinListedDays: 90})
		ctx := e.ctx
		e.openRound("domestic_compute_servers", "compute_voucher")
		e.clock.Set(day("2025-06-02"))
		cloud := e.enterprise(100, map[string]any{"cloud_service_provider": true})
		pa, p := e.provider(100)
		must(e.c.DeclareRelatedParties(ctx, pa, p.ID, []compute.RelatedParty{{USCC: code(9), Relation: "子公司"}}))

		list := func(model, vendor string, servers int, inZone bool, on string) *compute.Listing {
			return must(e.c.CreateListing(ctx, admin, p.ID, compute.ListingInput{ChipModel: model, Vendor: vendor, Cards: servers * 8, Servers: servers,
				InZone: inZone, Location: "亦庄", Price: yuan("9.90"), ListedOn: on}))
		}
		l1 := list("910B", "华为昇腾", 30, true, "2025-01-02")
		l5 := list("910b", "Ascend", 60, true, "2025-02-01")
		list("MLU370", "寒武纪", 10, true, "2025-05-20")    // listed too recently
		list("K100", "海光", 20, false, "2025-01-02")      // outside the zone
		l4 := list("C500", "沐曦", 10, true, "2025-01-02") // serves only a related party
		list("H20", "NVIDIA", 10, true, "2025-01-02")    // not domestic

		// Customers: two other enterprises on l1 and l5, the related one on l4.
		serve := func(ent desk.Actor, l *compute.Listing, number string) {
			c := must(e.c.CreateContract(ctx, ent, compute.ContractInput{Provider: p.ID, Kind: "compute", Number: number, Amount: yuan("100000"),
				Starts: "2025-01-01", Ends: "2025-12-31", SignedOn: "2025-01-01", ListingID: l.ID}))
			must(e.c.SubmitRecords(ctx, pa, []compute.RecordInput{{Contract: c.ID, PeriodStart: "2025-05-01", PeriodEnd: "2025-05-31", CardHours: "1000",
				Amount: yuan("9900"), InvoiceNo: "S-" + number, InvoiceDate: "2025-06-01"}}, compute.ImportOptions{}))
			must(e.c.ConfirmRecords(ctx, ent, c.ID, nil))
		}
		serve(e.enterprise(1, nil), l1, "C-1")
		serve(e.enterprise(2, nil), l5, "C-2")
		related := e.enterprise(9, nil)
		// The related party's deal is refused as a voucher contract too, so
		// its records come through a contract made before the declaration.
		must(e.c.DeclareRelatedParties(ctx, pa, p.ID, nil))
		serve(related, l4, "C-9")
		must(e.c.DeclareRelatedParties(ctx, pa, p.ID, []compute.RelatedParty{{USCC: code(9), Relation: "子公司"}}))

		in := compute.PurchaseInput{Project: "亦庄智算中心一期", ContractNo: "CG-2025-01", Seller: "某服务器厂商", SignedOn: "2024-12-15", Total: yuan("110000000"),
			Lines: []compute.PurchaseLine{
				{Vendor: "昇腾", ChipModel: "910B", Servers: 50, Cards: 400, Amount: yuan("50000000")},
				{Vendor: "寒武纪", ChipModel: "MLU370", Servers: 10, Amount: yuan("5000000")},
				{Vendor: "海光", ChipModel: "K100", Servers: 20, Amount: yuan("10000000")},
				{Vendor: "沐曦", ChipModel: "C500", Servers: 10, Amount: yuan("5000000")},
				{Vendor: "英伟达", ChipModel: "H20", Servers: 10, Amount: yuan("20000000")},
				{Vendor: "壁仞", ChipModel: "BR100", Servers: 5, Amount: yuan("5000000")},
			}}
		pu := must(e.c.VerifyPurchase(ctx, cloud, "", in))
		if pu.Domestic != yuan("75000000") || pu.Verified != yuan("50000000") || !pu.ListedOnPlatform {
			t.Fatalf("verification: domestic %s verified %s", money.Format(int64(pu.Domestic)), money.Format(int64(pu.Verified)))
		}
		wantReasons := [][]string{nil, {compute.ReasonTooRecent}, {compute.ReasonNotInZone}, {compute.ReasonNotServing}, {compute.ReasonNonDomestic}, {compute.ReasonNotListed}}
		for i, ch := range pu.Checks {
			if !slices.Equal(ch.Reasons, wantReasons[i]) {
				t.Fatalf("line %d: reasons %v, want %v (%v)", i+1, ch.Reasons, wantReasons[i], ch.Notes)
			}
		}
		used := 0
		for _, u := range pu.Checks[0].Uses {
			used += u.Servers
		}
		if used != 50 {
			t.Fatalf("uses %+v", pu.Checks[0].Uses)
		}
		// Someone else's purchase cannot be filed under this company.
		_, err := e.c.VerifyPurchase(ctx, e.enterprise(3, nil), "", in)
		wantCode(t, err, "conflict")

		pu = must(e.c.ApplyDomesticServers(ctx, cloud, in))
		app := e.submit(cloud, pu.ApplicationID)
		if app.Allowed != yuan("5000000") {
			t.Fatalf("10%% of 50,000,000: allowed %s", money.Format(int64(app.Allowed)))
		}
		e.approve(app.ID, 0)
		_, err = e.c.ApplyDomesticServers(ctx, cloud, in)
		wantCode(t, err, "conflict") // the same purchase contract again

		// A second purchase for the same project: 60 servers bought, 40
		// listed servers left uncounted → 60,000,000 verified → 6,000,000,
		// cut to the 5,000,000 left of the project's 10,000,000 cap.
		in2 := compute.PurchaseInput{Project: in.Project, ContractNo: "CG-2025-02", Seller: "某服务器厂商", SignedOn: "2025-03-01", Total: yuan("90000000"),
			Lines: []compute.PurchaseLine{{Vendor: "昇腾", ChipModel: "910B", Servers: 60, Amount: yuan("90000000")}}}
		pu2 := must(e.c.ApplyDomesticServers(ctx, cloud, in2))
		if pu2.Verified != yuan("60000000") || pu2.Checks[0].Listed != 40 || !slices.Contains(pu2.Checks[0].Reasons, compute.ReasonPartlyListed) {
			t.Fatalf("second purchase %+v", pu2.Checks)
		}
		app2 := e.submit(cloud, pu2.ApplicationID)
		if app2.Allowed != yuan("5000000") {
			t.Fatalf("capped: allowed %s", money.Format(int64(app2.Allowed)))
		}
		e.approve(app2.ID, 0)
		capKey := policy.CapKey(policy.ScopeProject, cloud.Enterprise, "domestic_compute_servers", 2025, in.Project)
		capBal := must(e.led.Balances(ctx, capKey))[0]
		if capBal.CreditsPosted != 10_000_000_00 || capBal.Available != 0 {
			t.Fatalf("project cap in the ledger: %+v", capBal)
		}
		// Every listed server is counted now: a third purchase verifies nothing.
		in3 := in2
		in3.ContractNo = "CG-2025-03"
		_, err = e.c.ApplyDomesticServers(ctx, cloud, in3)
		wantCode(t, err, "conflict")

		// Withdrawing a listing breaks the uninterrupted period.
		must(e.c.WithdrawListing(ctx, pa, l1.ID))
		must(e.c.RelistListing(ctx, pa, l1.ID))
		l, err := e.c.Listings(ctx, pa, compute.ListingFilter{Provider: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range l {
			if x.ID == l1.ID && (len(x.Periods) != 2 || x.Periods[0].Withdrawn != "2025-06-02" || x.Periods[1].Listed != "2025-06-02") {
				t.Fatalf("periods %+v", x.Periods)
			}
		}
		e.verify()
	})
}
