package policy_test

import (
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"policydesk/policy"
	"policydesk/uscc"
)

// genClaim draws a claim of a random computed item with facts in range.
func genClaim(t *rapid.T, b *policy.Bundle, item string) policy.Claim {
	money := func(label string) policy.Value {
		return policy.Value{Type: policy.TypeMoney, Money: rapid.Int64Range(0, 1_000_000_000_00).Draw(t, label)}
	}
	year := policy.Value{Type: policy.TypeYear, Int: int64(rapid.IntRange(2023, 2028).Draw(t, "year"))}
	date := func(label string) policy.Value {
		d := policy.Date(rapid.IntRange(19900, 21200).Draw(t, label)) // 2024-06 … 2028-01
		return policy.Value{Type: policy.TypeDate, Date: d}
	}
	boolean := func(label string) policy.Value {
		return policy.Value{Type: policy.TypeBool, Bool: rapid.IntRange(0, 9).Draw(t, label) > 0}
	}
	str := func(label string) policy.Value {
		return policy.Value{Type: policy.TypeString, Str: rapid.SampledFrom([]string{"P1", "P2", "P3"}).Draw(t, label)}
	}
	f := policy.Facts{}
	it := b.Item(item)
	for _, fs := range it.Facts {
		if rapid.IntRange(0, 19).Draw(t, "absent "+fs.Name) == 0 {
			continue // sometimes missing
		}
		switch fs.Type {
		case policy.TypeMoney:
			f[fs.Name] = money(fs.Name)
		case policy.TypeYear:
			f[fs.Name] = year
		case policy.TypeDate:
			f[fs.Name] = date(fs.Name)
		case policy.TypeBool:
			f[fs.Name] = boolean(fs.Name)
		case policy.TypeString:
			f[fs.Name] = str(fs.Name)
		case policy.TypeEnum:
			f[fs.Name] = policy.Value{Type: policy.TypeEnum, Str: rapid.SampledFrom(fs.Values).Draw(t, fs.Name)}
		case policy.TypeRecords:
			n := rapid.IntRange(0, 3).Draw(t, "events")
			recs := make([]policy.Record, n)
			for i := range recs {
				recs[i] = policy.Record{"kind": {Type: policy.TypeEnum, Str: "first_listing"},
					"national_award": money("national"), "beijing_award": money("beijing")}
			}
			f[fs.Name] = policy.Value{Type: policy.TypeRecords, Records: recs}
		}
	}
	return policy.Claim{Item: item, Facts: f}
}

func genCase(t *rapid.T, b *policy.Bundle) *policy.Case {
	var computed []string
	for _, it := range b.Items {
		computed = append(computed, it.ID)
	}
	c := &policy.Case{
		Date: policy.Date(rapid.IntRange(20000, 21200).Draw(t, "date")),
		USCC: uscc.Complete("91110302MA01AB3C7"),
		Enterprise: policy.Facts{
			"in_etown":                  {Type: policy.TypeBool, Bool: rapid.IntRange(0, 9).Draw(t, "in") > 0},
			"serious_dishonesty_listed": {Type: policy.TypeBool, Bool: rapid.IntRange(0, 19).Draw(t, "dis") == 0},
			"penalties":                 {Type: policy.TypeRecords, Records: []policy.Record{}},
			"ai_enterprise":             {Type: policy.TypeBool, Bool: rapid.Bool().Draw(t, "ai")},
			"cloud_service_provider":    {Type: policy.TypeBool, Bool: rapid.Bool().Draw(t, "cloud")},
		},
	}
	for i := range rapid.IntRange(0, 4).Draw(t, "history") {
		item := rapid.SampledFrom(computed).Draw(t, fmt.Sprint("hitem", i))
		pol := rapid.SampledFrom([]string{b.ID, b.ID, "other-policy"}).Draw(t, fmt.Sprint("hpol", i))
		c.History = append(c.History, policy.Grant{Policy: pol, Item: item, Year: rapid.IntRange(2024, 2027).Draw(t, fmt.Sprint("hy", i)),
			Project: rapid.SampledFrom([]string{"", "P1", "P2"}).Draw(t, fmt.Sprint("hp", i)), Amount: rapid.Int64Range(0, 30_000_000_00).Draw(t, fmt.Sprint("ha", i))})
	}
	if rapid.Bool().Draw(t, "pools") {
		c.Pools = []policy.PoolLeft{{Item: "compute_voucher", Year: rapid.IntRange(2024, 2027).Draw(t, "py"), Remaining: rapid.Int64Range(0, 100_000_000_00).Draw(t, "pr")}}
	}
	for i := range rapid.IntRange(1, 4).Draw(t, "claims") {
		c.Claims = append(c.Claims, genClaim(t, b, rapid.SampledFrom(computed).Draw(t, fmt.Sprint("item", i))))
	}
	return c
}

// capLimit is the amount each scope allows at most, independently of the
// engine's arithmetic (RULES.md §3), in fen.
var capLimit = map[string]int64{
	"compute_voucher": 20_000_000_00, "model_voucher": 5_000_000_00, "domestic_compute_servers": 10_000_000_00,
	"genai_filing": 1_000_000_00, "industry_model": 1_000_000_00, "dataset": 2_000_000_00, "data_firsts": 1_000_000_00,
	"smart_transformation": 10_000_000_00, "major_project_matching": 20_000_000_00, "scale_up": 300_000_00,
	"specialized": 500_000_00, "high_tech": 300_000_00, "standard": 1_000_000_00, "talent_base": 500_000_00,
	"public_platform": 10_000_000_00, "event": 1_000_000_00,
}

// TestInvariants: amounts are never negative, are 0 unless eligible, never
// exceed the formula, any cap or the pool, and evaluation is deterministic.
func TestInvariants(t *testing.T) {
	b := loadDefault(t)
	rapid.Check(t, func(t *rapid.T) {
		c := genCase(t, b)
		res, err := b.Evaluate(c)
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		again, _ := b.Evaluate(c)
		if !reflect.DeepEqual(res, again) {
			t.Fatal("two evaluations differ")
		}
		granted := map[string]int64{}
		for i, r := range res {
			if r.Amount < 0 || r.Formula < 0 || r.Ceiling != r.Amount {
				t.Fatalf("negative amount %+v", r)
			}
			if r.Status != policy.Eligible && r.Amount != 0 {
				t.Fatalf("%s is %s with amount %d", r.Item, r.Status, r.Amount)
			}
			if r.Amount > r.Formula {
				t.Fatalf("%s: amount %d above the formula %d", r.Item, r.Amount, r.Formula)
			}
			if lim, ok := capLimit[r.Item]; ok && r.Amount > lim {
				t.Fatalf("%s: amount %d above the item's cap %d", r.Item, r.Amount, lim)
			}
			if r.Item == "compute_voucher" && r.Status == policy.Eligible {
				// The per-year cap holds with history and earlier claims.
				var used int64
				for _, h := range c.History {
					if h.Policy == b.ID && h.Item == "compute_voucher" && h.Year == r.Year {
						used += h.Amount
					}
				}
				used += granted[fmt.Sprint("cv", r.Year)]
				if r.Amount > 0 && used+r.Amount > 20_000_000_00 {
					t.Fatalf("claim %d: compute vouchers %d + %d exceed 20,000,000 in %d", i, used, r.Amount, r.Year)
				}
				for _, p := range c.Pools {
					if p.Year == r.Year && r.Amount+granted[fmt.Sprint("pool", r.Year)] > p.Remaining {
						t.Fatalf("claim %d: pool %d exceeded", i, p.Remaining)
					}
				}
				granted[fmt.Sprint("cv", r.Year)] += r.Amount
				granted[fmt.Sprint("pool", r.Year)] += r.Amount
			}
		}
	})
}

// TestMonotone: more money in never gives less money out (single claims).
func TestMonotone(t *testing.T) {
	b := loadDefault(t)
	money := map[string]string{"compute_voucher": "compute_fees", "model_voucher": "contract_amount", "domestic_compute_servers": "domestic_server_amount",
		"smart_transformation": "equipment_investment", "event": "cost", "major_project_matching": "superior_funding"}
	items := []string{"compute_voucher", "model_voucher", "domestic_compute_servers", "smart_transformation", "event", "major_project_matching"}
	rapid.Check(t, func(t *rapid.T) {
		c := genCase(t, b)
		item := rapid.SampledFrom(items).Draw(t, "mono item")
		cl := genClaim(t, b, item)
		fact := money[item]
		v, ok := cl.Facts[fact]
		if !ok {
			return
		}
		c.Claims = []policy.Claim{cl}
		r1, err := b.Evaluate(c)
		if err != nil {
			t.Fatal(err)
		}
		more := policy.Claim{Item: item, Facts: policy.Facts{}}
		for k, x := range cl.Facts {
			more.Facts[k] = x
		}
		v.Money += rapid.Int64Range(0, 100_000_000_00).Draw(t, "more")
		more.Facts[fact] = v
		c.Claims = []policy.Claim{more}
		r2, err := b.Evaluate(c)
		if err != nil {
			t.Fatal(err)
		}
		if r2[0].Amount < r1[0].Amount {
			t.Fatalf("%s: raising %s lowered the amount %d → %d", item, fact, r1[0].Amount, r2[0].Amount)
		}
	})
}

// TestComputeVoucherArithmetic checks 30% rounded down once against
// integer arithmetic done here.
func TestComputeVoucherArithmetic(t *testing.T) {
	b := loadDefault(t)
	rapid.Check(t, func(t *rapid.T) {
		fees := rapid.Int64Range(0, 200_000_000_00).Draw(t, "fees")
		c := &policy.Case{Date: 20269, USCC: uscc.Complete("91110302MA01AB3C7"), // 2025-06-30
			Enterprise: policy.Facts{"in_etown": {Type: policy.TypeBool, Bool: true}, "serious_dishonesty_listed": {Type: policy.TypeBool},
				"penalties": {Type: policy.TypeRecords, Records: []policy.Record{}}},
			Claims: []policy.Claim{{Item: "compute_voucher", Facts: policy.Facts{"year": {Type: policy.TypeYear, Int: 2025}, "compute_fees": {Type: policy.TypeMoney, Money: fees}}}}}
		res, err := b.Evaluate(c)
		if err != nil {
			t.Fatal(err)
		}
		want := min(fees*30/100, 20_000_000_00)
		if res[0].Amount != want {
			t.Fatalf("fees %d: amount %d, want %d", fees, res[0].Amount, want)
		}
	})
}
