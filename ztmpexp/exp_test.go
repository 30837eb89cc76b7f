package exp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"policydesk/store"
)

func TestInsertCost(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatal(err)
	}
	db.Migrate(ctx)
	db.Exec(ctx, `INSERT INTO ledger_accounts VALUES ('a',1,0,0,0,0,0,1),('b',1,0,0,0,0,0,1)`)
	seq := 0
	for _, mode := range []string{"multi", "prepared"} {
		start := time.Now()
		n := 0
		for batch := 0; batch < 500*64/R; batch++ {
			err := db.Tx(ctx, func(tx *store.Tx) error {
				if mode == "multi" {
					args := []any{}
					for i := 0; i < R; i++ {
						seq++
						args = append(args, seq, fmt.Sprintf("grant/x-%d", rand.Int64()), "a", "b", 5, nil, 2, nil, 3, "", []byte("0123456789abcdef0123456789abcdef"), 1)
					}
					_, err := tx.Exec(ctx, `INSERT INTO ledger_transfers VALUES `+strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?,?,?,?,?),", R), ","), args...)
					return err
				}
				st, err := tx.Prepare(ctx, `INSERT INTO ledger_transfers VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`)
				if err != nil {
					return err
				}
				for i := 0; i < R; i++ {
					seq++
					if _, err := st.ExecContext(ctx, seq, fmt.Sprintf("grant/x-%d", rand.Int64()), "a", "b", 5, nil, 2, nil, 3, "", []byte("0123456789abcdef0123456789abcdef"), 1); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			n += R
		}
		t.Logf("%s: %v per row incl commit", mode, time.Since(start)/time.Duration(n))
	}
}
const R = 8
