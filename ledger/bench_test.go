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

// BenchmarkSQLiteWriteCeiling measures what SQLite itself can store of the
// ledger's reservations, with everything in the ledger's favour: only the
// rows a reservation writes (its two transfers, its payable and cap
// accounts), in multi-row statements, no fsync at all, one goroutine, no
// validation and no idempotency lookups. batch=64 is the largest batch 64
// clients with one request each can form; batch=1024 shows what larger
// transactions would give. The ledger writes at least this much for each
// reservation, so no batching strategy of it can beat the "full" figures.
// The other layouts show what each part of it costs: without the account
// upserts (balances kept elsewhere) and without the index that finds an
// enterprise's grants.
//
//	go test -run XXX -bench SQLiteWriteCeiling -benchtime 102400x ./ledger
func BenchmarkSQLiteWriteCeiling(b *testing.B) {
	for _, c := range []struct {
		name             string
		perTx            int
		accounts, grants bool
	}{
		{"batch=64/full", 64, true, true},
		{"batch=1024/full", 1024, true, true},
		{"batch=64/no-account-rows", 64, false, true},
		{"batch=64/no-grants-index", 64, true, false},
		{"batch=64/transfers-only", 64, false, false},
	} {
		b.Run(c.name, func(b *testing.B) { writeCeiling(b, c.perTx, c.accounts, c.grants) })
	}
}

func writeCeiling(b *testing.B, perTx int, accounts, grantsIndex bool) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.DSN(b, store.SQLite)+"?synchronous=normal")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if !grantsIndex {
		if _, err := db.Exec(ctx, `DROP INDEX ledger_transfers_grants`); err != nil {
			b.Fatal(err)
		}
	}
	const chunk = 64 // reservations per statement: 128 rows of each table
	insT, upsA := writeQuery(transferRows, 2*chunk), writeQuery(accountRows, 2*chunk)
	hash := make([]byte, 32)
	terms := `{"enterprise":"E00000","item":"compute_voucher","year":2025,"project":"p1","pool":"hot","caps":[{"Key":"cap/E00000/compute_voucher/2025","Limit":200000000}]}`
	rng := rand.New(rand.NewPCG(1, 2))
	seq := int64(0)
	b.ResetTimer()
	for done := 0; done < b.N; done += perTx {
		err := db.TxUnsynced(ctx, func(tx *store.Tx) error {
			for c := 0; c < perTx; c += chunk {
				var ts, as []any
				seen := map[string]bool{} // an upsert may not touch a key twice
				for len(seen) < chunk {
					e := fmt.Sprintf("E%05d", rng.IntN(10_000))
					if seen[e] {
						continue
					}
					seen[e] = true
					amount, capKey := 1+rng.Int64N(100_000), ItemCapKey(e, "compute_voucher", 2025)
					grant := fmt.Sprintf("grant/g%d", seq)
					ts = append(ts, seq+1, grant, "pool/hot/2025", PayableKey(e), amount, nil, int64(Pending), nil, TransferGrant, terms, hash, seq,
						seq+2, grant+"/cap/"+capKey, capKey, "sys/cap_used", amount, nil, int64(Pending), nil, TransferGrantCap, "g", hash, seq)
					if accounts {
						as = append(as, PayableKey(e), 3, 0, 0, 0, amount, 0, 0, capKey, 5, 1, amount, 0, 0, int64(1)<<40, 0)
					}
					seq += 2
				}
				if _, err := tx.Exec(ctx, insT, ts...); err != nil {
					return err
				}
				if accounts {
					if _, err := tx.Exec(ctx, upsA, as...); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := (b.N + perTx - 1) / perTx * perTx
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "reservations/s")
}
