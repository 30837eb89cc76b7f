package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

// benchReserve reserves b.N grants from one hot pool for 10,000
// enterprises, each with its own cap, from the given number of goroutines.
func benchReserve(b *testing.B, dialect string, clients int) {
	db := storetest.New(b, dialect)
	ctx := context.Background()
	l := open(b, db, Options{})
	if err := l.FundPool(ctx, "hot", 2025, 1<<60, "fund"); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(max(1, clients/max(1, runtimeProcs())))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(next.Add(1<<32)), 1))
		for pb.Next() {
			i := next.Add(1)
			e := fmt.Sprintf("E%05d", rng.IntN(10_000))
			g := Grant{ID: fmt.Sprintf("g%d", i), Enterprise: e, Item: "compute_voucher", Year: 2025, Pool: "hot",
				Amount: 1 + rng.Int64N(100_000), Caps: []Cap{{Key: ItemCapKey(e, "compute_voucher", 2025), Limit: 1 << 40}}}
			if _, err := l.Reserve(ctx, g); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
}

func BenchmarkReserveSQLite64(b *testing.B)   { benchReserve(b, store.SQLite, 64) }
func BenchmarkReserveSQLite1(b *testing.B)    { benchReserve(b, store.SQLite, 1) }
func BenchmarkReservePostgres64(b *testing.B) { benchReserve(b, store.Postgres, 64) }

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
