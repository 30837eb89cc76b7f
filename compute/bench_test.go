package compute_test

import (
	"bytes"
	"fmt"
	"testing"

	"policydesk/compute"
	"policydesk/store/storetest"
)

// BenchmarkImport imports a generated metering CSV of 100,000 rows per
// iteration (b.N files) on each database; see `policydesk bench
// settlements` for the full-size run.
func BenchmarkImport(b *testing.B) {
	for _, d := range storetest.Dialects() {
		b.Run(d, func(b *testing.B) {
			db := storetest.New(b, d)
			e := newEnv(b, db, compute.Options{})
			pa, p := e.provider(100)
			ent := e.enterprise(1, nil)
			c := must(e.c.CreateContract(e.ctx, ent, compute.ContractInput{Provider: p.USCC, Kind: "compute", Number: "HT-1", Amount: yuan("100000000000"),
				Starts: "2025-01-01", Ends: "2025-06-30", SignedOn: "2025-01-01"}))
			e.clock.Set(day("2025-07-01"))
			const rows = 100_000
			files := make([][]byte, b.N)
			for i := range files {
				var buf bytes.Buffer
				must(compute.GenerateSettlements(&buf, compute.GenOptions{Rows: rows, Contracts: []string{c.ID}, From: "2025-01-01", To: "2025-06-30",
					Seed: uint64(i), InvoicePrefix: fmt.Sprintf("F%d-", i)}))
				files[i] = buf.Bytes()
			}
			b.ResetTimer()
			for i := range b.N {
				res, err := e.c.ImportRecords(e.ctx, pa, bytes.NewReader(files[i]), compute.ImportOptions{})
				if err != nil || res.Imported != rows {
					b.Fatalf("%v %+v", err, res)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
