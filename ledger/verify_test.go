package ledger

import (
	"context"
	"testing"

	"policydesk/store"
	"policydesk/store/storetest"
)

// Verify finds what a bug or a hand-edit of the database would leave.
func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name  string
		check string
		sql   string
	}{
		{"balance edited", "balance", `UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE key = 'sink'`},
		{"gap in seq", "sequence", `INSERT INTO ledger_transfers (` + transferColumns + `) SELECT last_seq + 2, 'rogue', 'src', 'sink', 1, NULL, 0, NULL, 0, '', hash, 1 FROM ledger_meta, ledger_transfers WHERE seq = 1`},
		{"overspend by a rogue entry", "bound", `INSERT INTO ledger_transfers (` + transferColumns + `) SELECT last_seq + 1, 'rogue', 'box', 'sink', 5000, NULL, 0, NULL, 0, '', hash, 1 FROM ledger_meta, ledger_transfers WHERE seq = 1`},
		{"pending resolved by a stranger", "pending", `INSERT INTO ledger_transfers (` + transferColumns + `) SELECT last_seq + 1, 'rogue', 'src', 'sink', 100, 'hold', 4, NULL, 0, '', hash, 1 FROM ledger_meta, ledger_transfers WHERE seq = 1`},
		{"grant without its cap reservation", "grant", `INSERT INTO ledger_transfers (` + transferColumns + `) SELECT last_seq + 1, 'grant/rogue', 'src', 'payable/E', 1, NULL, 2, NULL, 3, '{"enterprise":"E","item":"i","year":2025,"caps":[{"Key":"cap","Limit":500}]}', hash, 1 FROM ledger_meta, ledger_transfers WHERE seq = 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				l := open(t, db, Options{})
				fixture(t, l)
				l.CreateAccounts(ctx, []Account{{Key: "payable/E", Code: AccountPayable}})
				mustVerify(t, db)
				l.Close()
				if _, err := db.Exec(ctx, tt.sql); err != nil {
					t.Fatal(err)
				}
				r, err := Verify(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, p := range r.Problems {
					found = found || p.Check == tt.check
				}
				if r.OK() || !found {
					t.Errorf("verify after %q: %+v; want a %q problem", tt.name, r.Problems, tt.check)
				}
			})
		})
	}
}
