package compute_test

import (
	"bytes"
	"fmt"
	"testing"

	"policydesk/apperr"
	"policydesk/compute"
	"policydesk/store"
	"policydesk/store/storetest"
)

// FuzzMeteringImport feeds arbitrary files to a provider's metering import
// (CSV or JSONL, UTF-8 or GBK). Whatever the bytes, the import either
// refuses the file with a coded error or stores exactly the rows it
// reports as imported — every other row named with its line and a reason —
// and the ledger still verifies.
func FuzzMeteringImport(f *testing.F) {
	db := storetest.New(f, store.SQLite)
	e := newEnv(f, db, compute.Options{})
	pa, p := e.provider(100)
	ent := e.enterprise(1, nil)
	c := must(e.c.CreateContract(e.ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-F", Amount: yuan("100000000"),
		Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2025-01-01"}))
	e.clock.Set(day("2025-07-01"))
	var gen bytes.Buffer
	must(compute.GenerateSettlements(&gen, compute.GenOptions{Rows: 3, Contracts: []string{c.ID}, From: "2025-01-01", To: "2025-06-30", Seed: 1, InvoicePrefix: "FZ-"}))
	f.Add(gen.Bytes(), false)
	f.Add(gen.Bytes()[:len(gen.Bytes())/2], true)
	f.Add([]byte("合同编号,计费开始日期,计费结束日期,卡时,调用次数,结算金额,发票号码,开票日期,交付凭证号\n"+c.ID+",2025-01-01,2025-01-31,10.5,0,-1.00,X1,2025-02-01,D1\n"), false)
	f.Add([]byte(`{"contract":"`+c.ID+`","from":"2025-01-01","to":"2025-01-31","card_hours":"1","amount":"100.00","invoice":"J1","invoice_date":"2025-02-01"}`+"\n{"), false)
	f.Add([]byte("\xef\xbb\xbf\"unterminated,\"\"\n\xb3\xa4"), false)
	f.Add([]byte{}, false)
	var seq int
	f.Fuzz(func(t *testing.T, data []byte, strict bool) {
		seq++
		res, err := e.c.ImportRecords(e.ctx, pa, bytes.NewReader(data), compute.ImportOptions{Filename: fmt.Sprintf("f%d.csv", seq), Strict: strict})
		if err != nil {
			if c := apperr.CodeOf(err); c == "" || c == apperr.Internal {
				t.Fatalf("refused without a code: %v", err)
			}
			return
		}
		if res.Imported+res.Refused > res.Rows && res.Rows > 0 {
			t.Fatalf("imported %d + refused %d of %d rows", res.Imported, res.Refused, res.Rows)
		}
		if strict && res.Refused > 0 && res.Imported > 0 {
			t.Fatalf("strict import kept %d rows beside %d bad ones", res.Imported, res.Refused)
		}
		for _, re := range res.Errors {
			if re.Line <= 0 || re.Code == "" || re.Message == "" {
				t.Fatalf("a row error without line, code or message: %+v", re)
			}
		}
		if res.ID != "" {
			var n int
			if err := db.QueryRow(e.ctx, `SELECT COUNT(*) FROM compute_settlements WHERE import_id = ?`, res.ID).Scan(&n); err != nil || n != res.Imported {
				t.Fatalf("import %s reports %d rows, %d stored (%v)", res.ID, res.Imported, n, err)
			}
		}
		if seq%50 == 0 {
			e.verify()
		}
	})
}
