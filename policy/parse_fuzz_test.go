package policy_test

import (
	"os"
	"path/filepath"
	"testing"

	"policydesk/policy"
)

// FuzzCases feeds arbitrary bytes to the case parser and the engine: no
// panic, and every result keeps the invariants.
func FuzzCases(f *testing.F) {
	files, _ := policy.CaseFiles([]string{filepath.Join("..", "policies", "etown-ai-2024-29", "tests")})
	for i, p := range files {
		if i%3 == 0 {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("date: 2025-06-30\nenterprise: {uscc: 91110302MA01AB3C7G}\nclaims: [{item: compute_voucher, facts: {year: 2025, compute_fees: '1.5'}}]\n"))
	f.Add([]byte(`{"date":"2025-06-30","enterprise":{"uscc":"91110302MA01AB3C7G","in_etown":true,"penalties":[]},"claims":[{"item":"event","facts":{"cost":"9e9"}}]}`))
	b := loadDefault(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := b.ParseCases(data)
		if err != nil {
			if _, ok := err.(*policy.InputError); !ok {
				t.Fatalf("parse error without a code: %v", err)
			}
			return
		}
		for _, pc := range cases {
			if pc.Err != nil {
				if pc.Err.Code == "" || pc.Err.Message == "" {
					t.Fatalf("input error without code or message: %+v", pc.Err)
				}
				continue
			}
			res, err := b.Evaluate(pc.Case)
			if err != nil {
				continue
			}
			for _, r := range res {
				if r.Amount < 0 || r.Amount > r.Formula || r.Ceiling != r.Amount || (r.Status != policy.Eligible && r.Amount != 0) {
					t.Fatalf("invariant broken: %+v", r)
				}
				_ = b.View(&r, policy.Chinese)
			}
		}
	})
}

// FuzzDateText: accepted dates round-trip.
func FuzzDateText(f *testing.F) {
	for _, s := range []string{"2025-06-30", "2024-02-29", "2025-02-29", "0000-00-00", "2025-6-3", "９９９９-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := policy.ParseDate(s)
		if err == nil && d.String() != s {
			t.Fatalf("%q parsed as %s", s, d)
		}
	})
}
