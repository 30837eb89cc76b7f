package policy_test

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"policydesk/money"
	"policydesk/policy"
)

// This file checks the engine against RULES.md with randomly drawn cases:
// general invariants (amount never negative, never above the formula, a cap
// or the pool; deterministic; monotone), and an independent model of the
// rules written from RULES.md alone, which must give the same status,
// amount, year, project and reasons for every claim.

const thisPolicy = "etown-ai-2024-29"

// fen of yuan amounts used below.
const (
	wan = 10000 * 100 // 1万元 in fen
)

var (
	windowFrom = mustParseDate("2024-11-24")
	windowTo   = mustParseDate("2027-12-31")
)

func mustParseDate(s string) policy.Date {
	d, err := policy.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// fatalfer is what both *testing.T and *rapid.T offer.
type fatalfer interface {
	Fatalf(format string, args ...any)
}

// ---- RULES.md §3, written out independently of the bundle ----

type ruleSpec struct {
	article  int
	review   bool
	external bool
	facts    []string // required claim facts
	mustTrue []string // bool facts that must be true
	inWindow []string // date facts inside the policy window (R4)
	year     string   // the yearly item's year fact
	requires []string // enterprise facts that must be true
	pool     bool     // an annual pool of 100,000,000 yuan
}

var rules = map[string]ruleSpec{
	"compute_voucher":          {article: 1, review: true, facts: []string{"year", "compute_fees"}, year: "year", pool: true},
	"domestic_compute_servers": {article: 2, facts: []string{"project", "domestic_server_amount", "listed_on_platform"}, mustTrue: []string{"listed_on_platform"}, requires: []string{"cloud_service_provider"}},
	"genai_filing":             {article: 3, facts: []string{"filing_date"}, inWindow: []string{"filing_date"}},
	"industry_model":           {article: 4, review: true, facts: []string{"project", "self_developed", "publicly_released"}, mustTrue: []string{"self_developed", "publicly_released"}},
	"dataset":                  {article: 5, review: true, facts: []string{"project"}},
	"data_firsts":              {article: 6, facts: []string{"events"}},
	"model_voucher":            {article: 8, facts: []string{"year", "contract_amount", "deployment", "scenario"}, year: "year", pool: true},
	"smart_transformation":     {article: 10, facts: []string{"project", "equipment_investment", "software_integration_investment"}},
	"major_project_matching":   {article: 11, review: true, facts: []string{"project", "year", "superior_funding"}, year: "year"},
	"rnd_investment":           {article: 12, review: true, external: true},
	"scale_up":                 {article: 13, facts: []string{"date"}, inWindow: []string{"date"}, requires: []string{"ai_enterprise"}},
	"specialized":              {article: 13, facts: []string{"tier", "date"}, inWindow: []string{"date"}, requires: []string{"ai_enterprise"}},
	"high_tech":                {article: 13, facts: []string{"date"}, inWindow: []string{"date"}, requires: []string{"ai_enterprise"}},
	"standard":                 {article: 14, facts: []string{"project", "level", "lead_drafter", "published"}, mustTrue: []string{"lead_drafter", "published"}},
	"talent_base":              {article: 16, review: true, facts: []string{"year", "recognized"}, mustTrue: []string{"recognized"}, year: "year"},
	"public_platform":          {article: 19, review: true, facts: []string{"project", "year"}, year: "year"},
	"event":                    {article: 20, facts: []string{"project", "scope", "cost", "organizer"}, mustTrue: []string{"organizer"}},
}

var itemIDs = func() []string {
	var ids []string
	for id := range rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}()

// Cap scopes as RULES.md §4 describes them.
const (
	perYear        = "enterprise_year"
	perEnterprise  = "enterprise"
	perProject     = "project"
	perProjectYear = "project_year"
	onceEnterprise = "once_enterprise"
	onceProject    = "once_project"
)

type capRule struct {
	scope  string
	limit  int64 // fen; unused for once scopes
	silent bool  // 晉級補差: cutting is not "capped"
}

func moneyFact(cl policy.Claim, name string) int64 { return cl.Facts[name].Money }

// ruleCaps are the caps of RULES.md §3 for a claim.
func ruleCaps(cl policy.Claim) []capRule {
	switch cl.Item {
	case "compute_voucher":
		return []capRule{{scope: perYear, limit: 2000 * wan}}
	case "model_voucher":
		return []capRule{{scope: perYear, limit: 500 * wan}}
	case "domestic_compute_servers", "smart_transformation":
		return []capRule{{scope: perProject, limit: 1000 * wan}}
	case "genai_filing", "scale_up", "high_tech":
		return []capRule{{scope: onceEnterprise}}
	case "industry_model", "dataset", "standard":
		return []capRule{{scope: onceProject}}
	case "data_firsts":
		return []capRule{{scope: perEnterprise, limit: 100 * wan}}
	case "major_project_matching":
		return []capRule{{scope: perProjectYear, limit: 2000 * wan}}
	case "public_platform":
		return []capRule{{scope: perProjectYear, limit: 1000 * wan}}
	case "talent_base":
		return []capRule{{scope: perYear, limit: 50 * wan}}
	case "specialized":
		return []capRule{{scope: perEnterprise, limit: specializedTier(cl), silent: true}}
	case "event":
		if cl.Facts["scope"].Str == "international" {
			return []capRule{{scope: perProject, limit: 100 * wan}}
		}
		return []capRule{{scope: perProject, limit: 50 * wan}}
	}
	return nil
}

func specializedTier(cl policy.Claim) int64 {
	if cl.Facts["tier"].Str == "national_little_giant" {
		return 50 * wan
	}
	return 20 * wan
}

// ruleFormula is the ceiling of RULES.md §3, exact.
func ruleFormula(cl policy.Claim) *big.Rat {
	r := func(n, d int64) *big.Rat { return big.NewRat(n, d) }
	mul := func(x, y *big.Rat) *big.Rat { return new(big.Rat).Mul(x, y) }
	m := func(name string) *big.Rat { return r(moneyFact(cl, name), 1) }
	switch cl.Item {
	case "compute_voucher":
		return mul(m("compute_fees"), r(30, 100))
	case "domestic_compute_servers":
		return mul(m("domestic_server_amount"), r(10, 100))
	case "genai_filing", "industry_model":
		return r(100*wan, 1)
	case "dataset":
		return r(200*wan, 1)
	case "data_firsts":
		sum := new(big.Rat)
		for _, e := range cl.Facts["events"].Records {
			sum.Add(sum, r(e["national_award"].Money, 1))
			sum.Add(sum, mul(r(e["beijing_award"].Money, 1), r(1, 2)))
		}
		return sum
	case "model_voucher":
		return mul(m("contract_amount"), r(50, 100))
	case "smart_transformation":
		e := m("equipment_investment")
		s := m("software_integration_investment")
		if lim := mul(e, r(30, 100)); s.Cmp(lim) > 0 {
			s = lim
		}
		return mul(new(big.Rat).Add(e, s), r(10, 100))
	case "major_project_matching":
		return m("superior_funding")
	case "scale_up", "high_tech":
		return r(30*wan, 1)
	case "specialized":
		return r(specializedTier(cl), 1)
	case "standard":
		return r(map[string]int64{"international": 100 * wan, "national": 50 * wan, "industry": 30 * wan, "local": 20 * wan, "group": 10 * wan}[cl.Facts["level"].Str], 1)
	case "talent_base":
		return r(50*wan, 1)
	case "public_platform":
		return r(1000*wan, 1)
	case "event":
		return mul(m("cost"), r(50, 100))
	}
	panic("no formula for " + cl.Item)
}

// ---- the model ----

type modelResult struct {
	status  policy.Status
	amount  int64
	ceiling int64
	year    int
	project string
	reasons []string
	missing []string
}

func floorRat(x *big.Rat) *big.Int { return new(big.Int).Div(x.Num(), x.Denom()) }

// claimYear and claimProject are the year and project a claim is counted in
// (RULES.md §1 "Year", §4 "a granted claim enters history with…").
func claimYear(c *policy.Case, cl policy.Claim) int {
	if y := rules[cl.Item].year; y != "" {
		if v, ok := cl.Facts[y]; ok {
			return int(v.Int)
		}
	}
	return c.Date.Year()
}

func claimProject(cl policy.Claim) string {
	if v, ok := cl.Facts["project"]; ok {
		return v.Str
	}
	return ""
}

// threeYearsBefore is d − 3 years, 29 February becoming 28 February (R2).
func threeYearsBefore(d policy.Date) policy.Date {
	t := d.Time()
	s := fmt.Sprintf("%04d-%02d-%02d", t.Year()-3, t.Month(), t.Day())
	if x, err := policy.ParseDate(s); err == nil {
		return x
	}
	return mustParseDate(fmt.Sprintf("%04d-%02d-28", t.Year()-3, t.Month()))
}

// model evaluates a case as RULES.md reads: claims in order, each seeing the
// grants of the claims before it.
func model(c *policy.Case) []modelResult {
	history := slices.Clone(c.History)
	for i := range history {
		if history[i].Year == 0 { // a grant without a year is of the evaluation date's year
			history[i].Year = c.Date.Year()
		}
	}
	type use struct {
		item   string
		year   int
		amount int64
	}
	var poolUse []use
	out := make([]modelResult, 0, len(c.Claims))
	for _, cl := range c.Claims {
		m := modelClaim(c, cl, history, func(item string, year int) (*big.Int, bool) {
			for _, p := range c.Pools {
				if p.Item == item && p.Year == year {
					left := big.NewInt(p.Remaining)
					for _, u := range poolUse {
						if u.item == item && u.year == year {
							left.Sub(left, big.NewInt(u.amount))
						}
					}
					return left, true
				}
			}
			return nil, false
		})
		out = append(out, m)
		if m.status == policy.Eligible && m.amount > 0 {
			history = append(history, policy.Grant{Policy: thisPolicy, Item: cl.Item, Year: m.year, Project: m.project, Amount: m.amount})
			if rules[cl.Item].pool {
				poolUse = append(poolUse, use{cl.Item, m.year, m.amount})
			}
		}
	}
	return out
}

func modelClaim(c *policy.Case, cl policy.Claim, history []policy.Grant, given func(string, int) (*big.Int, bool)) modelResult {
	spec := rules[cl.Item]
	res := modelResult{status: policy.Ineligible, year: claimYear(c, cl), project: claimProject(cl)}
	var fails, missing []string
	fail := func(r string) {
		if !slices.Contains(fails, r) {
			fails = append(fails, r)
		}
	}
	miss := func(f string) {
		if !slices.Contains(missing, f) {
			missing = append(missing, f)
		}
	}
	ent := func(name string) (policy.Value, bool) {
		if v, ok := c.Enterprise[name]; ok {
			return v, true
		}
		v, ok := cl.Facts[name]
		return v, ok
	}
	if c.Date < windowFrom || c.Date > windowTo {
		res.reasons = []string{"policy_not_in_force"}
		return res
	}
	// 附則.
	if v, ok := ent("in_etown"); !ok {
		miss("in_etown")
	} else if !v.Bool {
		fail("outside_etown")
	}
	if v, ok := ent("penalties"); !ok {
		miss("penalties")
	} else {
		since := threeYearsBefore(c.Date)
		for _, p := range v.Records {
			if k := p["kind"].Str; (k == "major_administrative" || k == "criminal") && p["date"].Date > since {
				fail("penalty_within_3y")
			}
		}
	}
	if v, ok := ent("serious_dishonesty_listed"); !ok {
		miss("serious_dishonesty_listed")
	} else if v.Bool {
		fail("dishonesty_listed")
	}
	if v, ok := ent("data_center_project"); ok && v.Bool {
		a, aok := ent("energy_review_approved")
		r, rok := ent("annual_energy_report")
		switch {
		case aok && a.Bool || rok && r.Bool:
		case !aok || !rok:
			if !aok {
				miss("energy_review_approved")
			}
			if !rok {
				miss("annual_energy_report")
			}
		default:
			fail("data_center_no_energy_review")
		}
	}
	if spec.external {
		if len(fails) > 0 {
			res.reasons, res.missing = fails, missing
			return res
		}
		if len(missing) > 0 { // §2: unknown global facts leave it incomplete
			res.status = policy.Incomplete
			res.missing = missing
			for _, f := range missing {
				res.reasons = append(res.reasons, "missing_fact:"+f)
			}
			return res
		}
		res.status = policy.External
		res.reasons = []string{"governed_by_etown_rnd_policy"}
		return res
	}
	for _, f := range spec.requires {
		if v, ok := ent(f); !ok {
			miss(f)
		} else if !v.Bool {
			fail("requirement_not_met:" + f)
		}
	}
	itemMissing := false
	for _, f := range spec.facts {
		v, ok := cl.Facts[f]
		if !ok {
			miss(f)
			itemMissing = true
			continue
		}
		if slices.Contains(spec.mustTrue, f) && !v.Bool {
			fail("requirement_not_met:" + f)
		}
		if slices.Contains(spec.inWindow, f) && (v.Date < windowFrom || v.Date > windowTo) {
			fail("event_outside_policy_window")
		}
		if f == spec.year && (v.Int < 2024 || v.Int > 2027) {
			fail("event_outside_policy_window")
		}
	}
	// 第十條: total investment (as spent) of 1,000,000 or more.
	if cl.Item == "smart_transformation" && !itemMissing &&
		moneyFact(cl, "equipment_investment")+moneyFact(cl, "software_integration_investment") < 100*wan {
		fail("below_threshold")
	}
	if len(fails) > 0 {
		res.reasons, res.missing = fails, missing
		return res
	}
	if len(missing) > 0 {
		res.status = policy.Incomplete
		res.missing = missing
		for _, f := range missing {
			res.reasons = append(res.reasons, "missing_fact:"+f)
		}
		return res
	}

	// Formula → caps net of history → R8 → pool → round down once.
	amt := ruleFormula(cl)
	res.ceiling = floorRat(amt).Int64()
	var reasons []string
	cutBy := ""
	zero := new(big.Rat)
	for _, cp := range ruleCaps(cl) {
		used, any := new(big.Int), false
		for _, h := range history {
			if h.Policy != thisPolicy || h.Item != cl.Item {
				continue
			}
			switch cp.scope {
			case perYear:
				if h.Year != res.year {
					continue
				}
			case perProject, onceProject:
				if h.Project != res.project {
					continue
				}
			case perProjectYear:
				if h.Project != res.project || h.Year != res.year {
					continue
				}
			}
			used.Add(used, big.NewInt(h.Amount))
			any = true
		}
		if cp.scope == onceEnterprise || cp.scope == onceProject {
			if any {
				amt, cutBy = zero, "already_granted"
			}
			continue
		}
		left := new(big.Int).Sub(big.NewInt(cp.limit), used)
		if left.Sign() < 0 {
			left.SetInt64(0)
		}
		switch {
		case left.Sign() == 0: // the cap is reached, whatever the formula
			amt = zero
			cutBy = "cap_reached"
			if cp.silent {
				cutBy = "already_granted"
			}
		case amt.Cmp(new(big.Rat).SetInt(left)) > 0:
			amt = new(big.Rat).SetInt(left)
			if !cp.silent {
				reasons = append(reasons, "capped")
			}
		}
	}
	if cutBy == "" && res.project != "" {
		other := new(big.Int)
		for _, h := range history {
			if h.Project == res.project && (h.Policy != thisPolicy || h.Item != cl.Item) {
				other.Add(other, big.NewInt(h.Amount))
			}
		}
		if other.Sign() > 0 {
			o := new(big.Rat).SetInt(other)
			if floorRat(amt).Cmp(other) > 0 { // in whole fen (R1)
				amt = new(big.Rat).Sub(amt, o)
				reasons = append(reasons, "overlap_topped_up")
			} else {
				amt, cutBy = zero, "overlap_topped_up"
			}
		}
	}
	if spec.pool && cutBy == "" {
		left, ok := given(cl.Item, res.year)
		if !ok {
			left = big.NewInt(10000 * wan)
			for _, h := range history {
				if h.Policy == thisPolicy && h.Year == res.year && h.Item == cl.Item {
					left.Sub(left, big.NewInt(h.Amount))
				}
			}
		}
		switch {
		case left.Sign() <= 0:
			amt, cutBy = zero, "pool_exhausted"
		case amt.Cmp(new(big.Rat).SetInt(left)) > 0:
			amt = new(big.Rat).SetInt(left)
			reasons = append(reasons, "pool_limited")
		}
	}
	amount := floorRat(amt).Int64()
	if amount == 0 && cutBy != "" {
		if !slices.Contains(reasons, cutBy) {
			reasons = append(reasons, cutBy)
		}
		res.reasons = reasons
		return res
	}
	res.status = policy.Eligible
	res.amount = amount
	res.reasons = reasons
	return res
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// checkModel compares engine results with the model, claim by claim.
func checkModel(t fatalfer, c *policy.Case, res []policy.Result) {
	want := model(c)
	for i, r := range res {
		m := want[i]
		if r.Status != m.status || r.Amount != m.amount || r.Year != m.year || r.Project != m.project ||
			!sameSet(r.Reasons, m.reasons) || !sameSet(r.Missing, m.missing) || (m.status == policy.Eligible && r.Formula != m.ceiling) || r.Ceiling != r.Amount {
			t.Fatalf("claim %d (%s): engine %s %s year %d project %q reasons %v missing %v ceiling %s;\nRULES.md model %s %s year %d project %q reasons %v missing %v ceiling %s\ncase: %s",
				i, r.Item, r.Status, money.Format(r.Amount), r.Year, r.Project, r.Reasons, r.Missing, money.Format(r.Formula),
				m.status, money.Format(m.amount), m.year, m.project, m.reasons, m.missing, money.Format(m.ceiling), caseYAML(c))
		}
	}
}

// ---- invariants that need no model ----

// satAdd adds without wrapping (history sums of absurd amounts saturate).
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// checkInvariants asserts what must hold of any evaluation.
func checkInvariants(t fatalfer, c *policy.Case, res []policy.Result) {
	if len(res) != len(c.Claims) {
		t.Fatalf("%d results for %d claims", len(res), len(c.Claims))
	}
	history := slices.Clone(c.History)
	for i := range history {
		if history[i].Year == 0 {
			history[i].Year = c.Date.Year()
		}
	}
	poolUsed := map[string]int64{}
	for i, r := range res {
		cl := c.Claims[i]
		spec := rules[cl.Item]
		where := fmt.Sprintf("claim %d (%s, %s, %s)", i, r.Item, r.Status, money.Format(r.Amount))
		switch {
		case r.Item != cl.Item:
			t.Fatalf("%s: result for item %s", where, cl.Item)
		case r.Amount < 0 || r.Formula < 0:
			t.Fatalf("%s: negative amount or formula %d", where, r.Formula)
		case r.Status != policy.Eligible && r.Amount != 0:
			t.Fatalf("%s: amount without eligibility", where)
		case r.Amount > r.Formula:
			t.Fatalf("%s: amount above the formula %s", where, money.Format(r.Formula))
		case r.Article != spec.article || r.ReviewRequired != spec.review:
			t.Fatalf("%s: article %d review %v, RULES.md says %d %v", where, r.Article, r.ReviewRequired, spec.article, spec.review)
		case r.Status == policy.External && !spec.external, spec.external && r.Status == policy.Eligible:
			t.Fatalf("%s: external status wrong", where)
		case (c.Date < windowFrom || c.Date > windowTo) && (r.Status != policy.Ineligible || !slices.Contains(r.Reasons, "policy_not_in_force")):
			t.Fatalf("%s: evaluated on %s, outside the policy window", where, c.Date)
		}
		if r.Status == policy.Incomplete {
			if len(r.Reasons) == 0 || len(r.Missing) == 0 {
				t.Fatalf("%s: incomplete without missing facts", where)
			}
			for _, reason := range r.Reasons {
				if !strings.HasPrefix(reason, "missing_fact:") {
					t.Fatalf("%s: incomplete with reason %s", where, reason)
				}
			}
		}
		if r.Status != policy.Eligible {
			continue
		}
		year, project := claimYear(c, cl), claimProject(cl)
		// Every cap, net of history and of the claims before.
		for _, cp := range ruleCaps(cl) {
			var used int64
			any := false
			for _, h := range history {
				if h.Policy != thisPolicy || h.Item != cl.Item {
					continue
				}
				if (cp.scope == perYear || cp.scope == perProjectYear) && h.Year != year {
					continue
				}
				if (cp.scope == perProject || cp.scope == perProjectYear || cp.scope == onceProject) && h.Project != project {
					continue
				}
				used = satAdd(used, h.Amount)
				any = true
			}
			if (cp.scope == onceEnterprise || cp.scope == onceProject) && any && r.Amount > 0 {
				t.Fatalf("%s: a once-only item paid again", where)
			}
			if cp.limit > 0 && r.Amount > max(cp.limit-used, 0) {
				t.Fatalf("%s: above the %s cap %s net of %s already granted", where, cp.scope, money.Format(cp.limit), money.Format(used))
			}
		}
		// The pool.
		if spec.pool {
			for _, p := range c.Pools {
				if p.Item == cl.Item && p.Year == year && r.Amount > max(p.Remaining-poolUsed[fmt.Sprint(cl.Item, year)], 0) {
					t.Fatalf("%s: above the pool's %s left", where, money.Format(p.Remaining-poolUsed[fmt.Sprint(cl.Item, year)]))
				}
			}
		}
		if r.Amount > 0 {
			history = append(history, policy.Grant{Policy: thisPolicy, Item: cl.Item, Year: year, Project: project, Amount: r.Amount})
			poolUsed[fmt.Sprint(cl.Item, year)] += r.Amount
		}
	}
}

// ---- generators ----

func days(from, to string) *rapid.Generator[policy.Date] {
	a, b := mustParseDate(from), mustParseDate(to)
	return rapid.Custom(func(t *rapid.T) policy.Date {
		return policy.Date(rapid.IntRange(int(a), int(b)).Draw(t, "day"))
	})
}

var (
	evalDates = rapid.OneOf(
		days("2024-11-24", "2027-12-31"), days("2024-11-24", "2027-12-31"), days("2024-11-24", "2027-12-31"),
		days("2023-01-01", "2029-12-31"),
		rapid.SampledFrom([]policy.Date{mustParseDate("2024-11-23"), mustParseDate("2024-11-24"), mustParseDate("2027-12-31"), mustParseDate("2028-01-01"), mustParseDate("2025-12-31"), mustParseDate("2026-01-01")}),
	)
	factDates = rapid.OneOf(days("2024-06-01", "2028-06-30"),
		rapid.SampledFrom([]policy.Date{mustParseDate("2024-11-23"), mustParseDate("2024-11-24"), mustParseDate("2027-12-31"), mustParseDate("2028-01-01")}))
	fenAmounts = rapid.OneOf(
		rapid.Int64Range(0, 1_000_000_000_000),
		rapid.Int64Range(0, 5000*wan),
		rapid.Int64Range(0, 1000),
		rapid.SampledFrom([]int64{0, 1, 3, 99, 100, 10 * wan, 20 * wan, 30 * wan, 50 * wan, 500 * wan, 100 * wan, 100*wan - 1, 1000 * wan, 2000 * wan, 2000*wan + 1, 6667 * wan, 1_000_000_000_000}),
	)
	years    = rapid.OneOf(rapid.IntRange(2024, 2027), rapid.IntRange(2024, 2027), rapid.IntRange(2023, 2028))
	projects = rapid.SampledFrom([]string{"P1", "P2", "P3"})
)

// sometimes is true with probability about 1/n.
func sometimes(t *rapid.T, n int, label string) bool { return rapid.IntRange(1, n).Draw(t, label) == 1 }

func boolVal(b bool) policy.Value   { return policy.Value{Type: policy.TypeBool, Bool: b} }
func fenVal(f int64) policy.Value   { return policy.Value{Type: policy.TypeMoney, Money: f} }
func strVal(s string) policy.Value  { return policy.Value{Type: policy.TypeString, Str: s} }
func enumVal(s string) policy.Value { return policy.Value{Type: policy.TypeEnum, Str: s} }
func yearVal(y int) policy.Value    { return policy.Value{Type: policy.TypeYear, Int: int64(y)} }
func dateVal(d policy.Date) policy.Value {
	return policy.Value{Type: policy.TypeDate, Date: d}
}

// mostlyTrue draws a bool fact that is usually true.
func mostlyTrue(t *rapid.T, label string) policy.Value { return boolVal(!sometimes(t, 8, label)) }

var enumValues = map[string][]string{
	"deployment": {"private", "cloud", "api", "appliance_software"},
	"scenario":   {"jiebang", "benchmark"},
	"tier":       {"beijing_specialized_sme", "national_little_giant"},
	"level":      {"international", "national", "industry", "local", "group"},
	"scope":      {"international", "domestic"},
	"kind":       {"first_registration", "first_listing", "first_transaction", "first_opening", "first_valuation", "first_on_balance_sheet", "first_certification"},
}

// drawClaim draws a claim of item with facts in their valid ranges, each
// sometimes absent.
func drawClaim(t *rapid.T, item string) policy.Claim {
	f := policy.Facts{}
	for _, name := range rules[item].facts {
		if sometimes(t, 15, "absent "+name) {
			continue
		}
		switch name {
		case "year":
			f[name] = yearVal(years.Draw(t, name))
		case "project":
			f[name] = strVal(projects.Draw(t, name))
		case "filing_date", "date":
			f[name] = dateVal(factDates.Draw(t, name))
		case "deployment", "scenario", "tier", "level", "scope":
			f[name] = enumVal(rapid.SampledFrom(enumValues[name]).Draw(t, name))
		case "listed_on_platform", "self_developed", "publicly_released", "lead_drafter", "published", "recognized", "organizer":
			f[name] = mostlyTrue(t, name)
		case "events":
			recs := []policy.Record{}
			for range rapid.IntRange(0, 3).Draw(t, "events") {
				rec := policy.Record{"kind": enumVal(rapid.SampledFrom(enumValues["kind"]).Draw(t, "kind"))}
				if !sometimes(t, 3, "no national") {
					rec["national_award"] = fenVal(fenAmounts.Draw(t, "national_award"))
				}
				if !sometimes(t, 3, "no beijing") {
					rec["beijing_award"] = fenVal(fenAmounts.Draw(t, "beijing_award"))
				}
				recs = append(recs, rec)
			}
			f[name] = policy.Value{Type: policy.TypeRecords, Records: recs}
		default: // money
			f[name] = fenVal(fenAmounts.Draw(t, name))
		}
	}
	// Any claim may name a project (R8) and be a data-centre project (附則).
	if _, ok := f["project"]; !ok && sometimes(t, 8, "claim project") {
		f["project"] = strVal(projects.Draw(t, "claim project"))
	}
	if sometimes(t, 10, "data centre") {
		f["data_center_project"] = boolVal(rapid.Bool().Draw(t, "dc"))
		if !sometimes(t, 3, "no review") {
			f["energy_review_approved"] = boolVal(rapid.Bool().Draw(t, "review"))
		}
		if !sometimes(t, 3, "no report") {
			f["annual_energy_report"] = boolVal(rapid.Bool().Draw(t, "report"))
		}
	}
	return policy.Claim{Item: item, Facts: f}
}

// drawEnterprise draws the enterprise's facts, some absent; penalties are
// often dated on the edge of the three years before date (R2).
func drawEnterprise(t *rapid.T, date policy.Date) policy.Facts {
	e := policy.Facts{}
	tri := func(name string, usual bool) {
		switch rapid.IntRange(0, 19).Draw(t, name) {
		case 0:
		case 1, 2:
			e[name] = boolVal(!usual)
		default:
			e[name] = boolVal(usual)
		}
	}
	tri("in_etown", true)
	tri("serious_dishonesty_listed", false)
	tri("ai_enterprise", true)
	tri("cloud_service_provider", true)
	if !sometimes(t, 20, "no penalties") {
		recs := []policy.Record{}
		if sometimes(t, 3, "penalised") {
			for range rapid.IntRange(1, 2).Draw(t, "penalties") {
				recs = append(recs, policy.Record{
					"date": dateVal(rapid.OneOf(days("2020-01-01", "2028-01-01"),
						rapid.SampledFrom([]policy.Date{threeYearsBefore(date) - 1, threeYearsBefore(date), threeYearsBefore(date) + 1})).Draw(t, "penalty date")),
					"kind": enumVal(rapid.SampledFrom([]string{"major_administrative", "criminal"}).Draw(t, "penalty kind")),
				})
			}
		}
		e["penalties"] = policy.Value{Type: policy.TypeRecords, Records: recs}
	}
	return e
}

// drawCase draws a whole valid case: enterprise, history of this and other
// policies, pools and 1–4 claims.
func drawCase(t *rapid.T) *policy.Case {
	c := &policy.Case{Date: evalDates.Draw(t, "date"), USCC: rapid.SampledFrom([]string{"91110302MA01AB3C7G", "91110115MA01FG5H9J", "91110302MA01CD4E89"}).Draw(t, "uscc")}
	c.Enterprise = drawEnterprise(t, c.Date)
	// Claims often repeat an item, and history often concerns the items
	// claimed, so that caps, once-only items and 晉級補差 come into play.
	focus := rapid.SampledFrom(itemIDs).Draw(t, "focus")
	anyItem := rapid.OneOf(rapid.SampledFrom(itemIDs), rapid.Just(focus))
	var claimItems []string
	for range rapid.IntRange(1, 4).Draw(t, "claims") {
		claimItems = append(claimItems, anyItem.Draw(t, "claim item"))
	}
	for i := range rapid.IntRange(0, 5).Draw(t, "history") {
		g := policy.Grant{
			Policy: rapid.SampledFrom([]string{thisPolicy, thisPolicy, thisPolicy, "etown-ai-2024-10", "beijing-other"}).Draw(t, fmt.Sprint("policy ", i)),
			Item:   rapid.OneOf(rapid.SampledFrom(itemIDs), rapid.SampledFrom(claimItems)).Draw(t, fmt.Sprint("item ", i)),
			Amount: fenAmounts.Draw(t, fmt.Sprint("amount ", i)),
		}
		if !sometimes(t, 6, "no year") {
			g.Year = years.Draw(t, fmt.Sprint("year ", i))
		}
		if !sometimes(t, 3, "no project") {
			g.Project = projects.Draw(t, fmt.Sprint("project ", i))
		}
		c.History = append(c.History, g)
	}
	for _, item := range []string{"compute_voucher", "model_voucher"} {
		for y := 2024; y <= 2027; y++ {
			if sometimes(t, 6, "pool") {
				c.Pools = append(c.Pools, policy.PoolLeft{Item: item, Year: y, Remaining: fenAmounts.Draw(t, "remaining")})
			}
		}
	}
	for _, item := range claimItems {
		c.Claims = append(c.Claims, drawClaim(t, item))
	}
	return c
}

// cloneCase copies a case deeply, so evaluation can be checked not to
// depend on (or change) shared state.
func cloneCase(c *policy.Case) *policy.Case {
	facts := func(f policy.Facts) policy.Facts {
		if f == nil {
			return nil
		}
		out := policy.Facts{}
		for k, v := range f {
			if v.Records != nil {
				recs := make([]policy.Record, len(v.Records))
				for i, r := range v.Records {
					recs[i] = policy.Record{}
					for rk, rv := range r {
						recs[i][rk] = rv
					}
				}
				v.Records = recs
			}
			out[k] = v
		}
		return out
	}
	d := *c
	d.Enterprise = facts(c.Enterprise)
	d.History = slices.Clone(c.History)
	d.Pools = slices.Clone(c.Pools)
	d.Claims = make([]policy.Claim, len(c.Claims))
	for i, cl := range c.Claims {
		d.Claims[i] = policy.Claim{Item: cl.Item, Facts: facts(cl.Facts)}
	}
	return &d
}

// ---- YAML rendering of a case (the case-file path) ----

func yamlValue(v policy.Value) string {
	switch v.Type {
	case policy.TypeMoney:
		return `"` + money.Format(v.Money) + `"`
	case policy.TypeYear, policy.TypeInt:
		return fmt.Sprint(v.Int)
	case policy.TypeBool:
		return fmt.Sprint(v.Bool)
	case policy.TypeDate:
		return v.Date.String()
	case policy.TypeString, policy.TypeEnum:
		return fmt.Sprintf("%q", v.Str)
	case policy.TypeRecords:
		var recs []string
		for _, r := range v.Records {
			recs = append(recs, yamlFacts(policy.Facts(r)))
		}
		return "[" + strings.Join(recs, ", ") + "]"
	}
	panic("type " + v.Type)
}

func yamlFacts(f policy.Facts) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+": "+yamlValue(f[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// caseYAML writes c as a case file.
func caseYAML(c *policy.Case) string {
	var b strings.Builder
	fmt.Fprintf(&b, "date: %s\n", c.Date)
	ent := policy.Facts{}
	for k, v := range c.Enterprise {
		ent[k] = v
	}
	fmt.Fprintf(&b, "enterprise: %s\n", strings.Replace(yamlFacts(ent), "{", "{uscc: "+c.USCC+", ", 1))
	if len(c.History) > 0 {
		b.WriteString("history:\n")
		for i, h := range c.History {
			b.WriteString("  - {")
			if h.Policy != thisPolicy || i%2 == 0 { // rows without policy are this policy's
				fmt.Fprintf(&b, "policy: %s, ", h.Policy)
			}
			fmt.Fprintf(&b, "item: %s, ", h.Item)
			if h.Year != 0 {
				fmt.Fprintf(&b, "year: %d, ", h.Year)
			}
			if h.Project != "" {
				fmt.Fprintf(&b, "project: %q, ", h.Project)
			}
			fmt.Fprintf(&b, "amount: %q}\n", money.Format(h.Amount))
		}
	}
	if len(c.Pools) > 0 {
		b.WriteString("pools:\n")
		for _, p := range c.Pools {
			fmt.Fprintf(&b, "  - {item: %s, year: %d, remaining: %q}\n", p.Item, p.Year, money.Format(p.Remaining))
		}
	}
	b.WriteString("claims:\n")
	for _, cl := range c.Claims {
		fmt.Fprintf(&b, "  - {item: %s, facts: %s}\n", cl.Item, yamlFacts(cl.Facts))
	}
	return b.String()
}

// ---- the properties ----

// TestPropertyEngineMatchesRules draws cases as structs and checks the
// invariants and the model, determinism, and that evaluation without a
// trace gives the same results.
func TestPropertyEngineMatchesRules(t *testing.T) {
	b := bundleFor(t)
	// Several seeds a run (rapid's default is 100 cases a Check): rare
	// paths such as 晉級補差 to nothing need a few hundred cases.
	for i := range 5 {
		t.Run(fmt.Sprint("seed", i), func(t *testing.T) { checkEngineMatchesRules(t, b) })
	}
}

func checkEngineMatchesRules(t *testing.T, b *policy.Bundle) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawCase(t)
		orig := cloneCase(c)
		res, err := b.Evaluate(c)
		if err != nil {
			t.Fatalf("valid case refused: %v\n%s", err, caseYAML(c))
		}
		if !reflect.DeepEqual(c, orig) {
			t.Fatalf("Evaluate changed its case")
		}
		checkInvariants(t, c, res)
		checkModel(t, c, res)

		again, err := b.Evaluate(c)
		if err != nil || !reflect.DeepEqual(res, again) {
			t.Fatalf("a second evaluation differs: %v", err)
		}
		fresh, err := b.Evaluate(cloneCase(orig))
		if err != nil || !reflect.DeepEqual(res, fresh) {
			t.Fatalf("evaluating a copy differs: %v", err)
		}
		bare, err := b.EvaluateNoTrace(c)
		if err != nil || len(bare) != len(res) {
			t.Fatalf("EvaluateNoTrace: %v", err)
		}
		for i := range res {
			withTrace := res[i]
			if len(withTrace.Trace) == 0 {
				t.Fatalf("claim %d has no trace", i)
			}
			withTrace.Trace = nil
			if !reflect.DeepEqual(withTrace, bare[i]) {
				t.Fatalf("claim %d: EvaluateNoTrace differs:\n%+v\n%+v", i, withTrace, bare[i])
			}
			if v := b.View(&res[i], policy.English); v.Amount != money.Format(res[i].Amount) || v.Status != res[i].Status {
				t.Fatalf("view of claim %d: %+v", i, v)
			}
		}
	})
}

// TestPropertyCaseFilePath writes drawn cases as YAML case files: parsing
// gives back the same case, and the same results.
func TestPropertyCaseFilePath(t *testing.T) {
	b := bundleFor(t)
	rapid.Check(t, func(t *rapid.T) {
		c := drawCase(t)
		src := caseYAML(c)
		pcs, err := b.ParseCases([]byte(src))
		if err != nil || len(pcs) != 1 || pcs[0].Err != nil {
			t.Fatalf("case file refused: %v %v\n%s", err, pcs, src)
		}
		p := pcs[0].Case
		if p.Date != c.Date || p.USCC != c.USCC || !reflect.DeepEqual(p.Enterprise, c.Enterprise) ||
			!reflect.DeepEqual(p.History, c.History) || !reflect.DeepEqual(p.Pools, c.Pools) || !reflect.DeepEqual(p.Claims, c.Claims) {
			t.Fatalf("parsed case differs:\n%s\nparsed %+v\nwant   %+v", src, *p, *c)
		}
		r1, err1 := b.Evaluate(c)
		r2, err2 := b.Evaluate(p)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(r1, r2) {
			t.Fatalf("results differ between struct and case file: %v %v", err1, err2)
		}
	})
}

var moneyFacts = map[string][]string{
	"compute_voucher":          {"compute_fees"},
	"model_voucher":            {"contract_amount"},
	"domestic_compute_servers": {"domestic_server_amount"},
	"smart_transformation":     {"equipment_investment"},
	"event":                    {"cost"},
	"major_project_matching":   {"superior_funding"},
}

// TestPropertyMonotone: raising a money fact never lowers the amount of a
// single-claim case.
func TestPropertyMonotone(t *testing.T) {
	b := bundleFor(t)
	items := slices.Sorted(func(yield func(string) bool) {
		for k := range moneyFacts {
			if !yield(k) {
				return
			}
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		c := drawCase(t)
		item := rapid.SampledFrom(items).Draw(t, "item")
		cl := drawClaim(t, item)
		fact := rapid.SampledFrom(moneyFacts[item]).Draw(t, "fact")
		if _, ok := cl.Facts[fact]; !ok {
			cl.Facts[fact] = fenVal(0)
		}
		c.Claims = []policy.Claim{cl}
		low, err := b.Evaluate(c)
		if err != nil {
			t.Fatal(err)
		}
		higher := cloneCase(c)
		v := higher.Claims[0].Facts[fact]
		v.Money += rapid.OneOf(rapid.Int64Range(1, 100), fenAmounts).Draw(t, "raise")
		higher.Claims[0].Facts[fact] = v
		high, err := b.Evaluate(higher)
		if err != nil {
			t.Fatal(err)
		}
		if high[0].Amount < low[0].Amount {
			t.Fatalf("%s: raising %s to %s lowered the amount from %s to %s\n%s", item, fact, money.Format(v.Money),
				money.Format(low[0].Amount), money.Format(high[0].Amount), caseYAML(c))
		}
		if high[0].Formula < low[0].Formula {
			t.Fatalf("%s: raising %s lowered the ceiling", item, fact)
		}
	})
}

// TestPropertyComputeVoucherRounding: for an eligible enterprise, the
// compute voucher is min(⌊fees × 30 / 100⌋, 20,000,000 yuan less the year's
// grants, the pool left), in integers computed here.
func TestPropertyComputeVoucherRounding(t *testing.T) {
	b := bundleFor(t)
	ok := policy.Facts{"in_etown": boolVal(true), "serious_dishonesty_listed": boolVal(false), "penalties": {Type: policy.TypeRecords, Records: []policy.Record{}}}
	rapid.Check(t, func(t *rapid.T) {
		year := rapid.IntRange(2024, 2027).Draw(t, "year")
		date := days(fmt.Sprintf("%d-01-01", year), fmt.Sprintf("%d-12-31", year)).Draw(t, "date")
		if date < windowFrom {
			date = windowFrom
		}
		fees := rapid.OneOf(fenAmounts, rapid.Int64Range(0, 10_000)).Draw(t, "fees")
		c := &policy.Case{Date: date, USCC: "91110302MA01AB3C7G", Enterprise: ok,
			Claims: []policy.Claim{{Item: "compute_voucher", Facts: policy.Facts{"year": yearVal(year), "compute_fees": fenVal(fees)}}}}
		var used int64
		for i := range rapid.IntRange(0, 3).Draw(t, "history") {
			g := policy.Grant{Policy: thisPolicy, Item: "compute_voucher", Year: rapid.IntRange(2024, 2027).Draw(t, fmt.Sprint("hy", i)),
				Amount: rapid.Int64Range(0, 1500*wan).Draw(t, fmt.Sprint("ha", i))}
			if g.Year == year {
				used += g.Amount
			}
			c.History = append(c.History, g)
		}
		// The exact amount is fees×30/100 fen; it is compared exactly with
		// each limit (fees×30 > limit×100) and rounded down once at the end.
		want := fees * 30 / 100  // fees ≤ 10^12 fen: no overflow
		frac := fees*30%100 != 0 // a fraction of a fen remains until a cut
		exactAbove := func(limit int64) bool { return want > limit || want == limit && frac }
		reason := ""
		if left := max(2000*wan-used, 0); left == 0 {
			want, reason, frac = 0, "cap_reached", false
		} else if exactAbove(left) {
			want, reason, frac = left, "capped", false
		}
		if rapid.Bool().Draw(t, "pool") {
			rem := rapid.OneOf(rapid.Int64Range(0, 3000*wan), rapid.Just(int64(0))).Draw(t, "remaining")
			c.Pools = []policy.PoolLeft{{Item: "compute_voucher", Year: year, Remaining: rem}}
			if reason != "cap_reached" && (rem == 0 || exactAbove(rem)) {
				want, reason = rem, "pool_limited"
				if rem == 0 {
					reason = "pool_exhausted"
				}
			}
		}
		res, err := b.Evaluate(c)
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		if r.Amount != want || r.Formula != fees*30/100 {
			t.Fatalf("fees %s, %s used in %d: amount %s ceiling %s, want %s ceiling %s", money.Format(fees), money.Format(used), year,
				money.Format(r.Amount), money.Format(r.Formula), money.Format(want), money.Format(fees*30/100))
		}
		if reason != "" && !slices.Contains(r.Reasons, reason) {
			t.Fatalf("reasons %v, want %s", r.Reasons, reason)
		}
		wantStatus := policy.Eligible
		if want == 0 && (reason == "cap_reached" || reason == "pool_exhausted") {
			wantStatus = policy.Ineligible
		}
		if r.Status != wantStatus {
			t.Fatalf("status %s, want %s (reasons %v)", r.Status, wantStatus, r.Reasons)
		}
	})
}

// TestHistoryWithoutPolicyIsThisPolicys: RULES.md §4 says history rows
// without policy are this policy's. A Grant built in Go with Policy "" is
// such a row.
func TestHistoryWithoutPolicyIsThisPolicys(t *testing.T) {
	b := bundleFor(t)
	c := &policy.Case{Date: mustParseDate("2025-06-30"), USCC: "91110302MA01AB3C7G",
		Enterprise: policy.Facts{"in_etown": boolVal(true), "serious_dishonesty_listed": boolVal(false), "penalties": {Type: policy.TypeRecords, Records: []policy.Record{}}},
		History:    []policy.Grant{{Item: "compute_voucher", Year: 2025, Amount: 1500 * wan}},
		Claims:     []policy.Claim{{Item: "compute_voucher", Facts: policy.Facts{"year": yearVal(2025), "compute_fees": fenVal(3000 * wan)}}}}
	res, err := b.Evaluate(c)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Amount != 500*wan {
		t.Fatalf("a Grant with Policy \"\" is not counted as this policy's history: amount %s, want 5000000.00", money.Format(res[0].Amount))
	}
}

// TestHistorySumDoesNotWrap: history amounts are summed without wrapping;
// 93 grants of 999,999,999,999,999.99 yuan exhaust the yearly cap.
func TestHistorySumDoesNotWrap(t *testing.T) {
	b := bundleFor(t)
	var src strings.Builder
	src.WriteString("date: 2025-06-30\nenterprise: {uscc: 91110302MA01AB3C7G, in_etown: true, serious_dishonesty_listed: false, penalties: []}\nhistory:\n")
	for range 93 {
		src.WriteString("  - {item: compute_voucher, year: 2025, amount: \"999999999999999.99\"}\n")
	}
	src.WriteString("claims:\n  - {item: compute_voucher, facts: {year: 2025, compute_fees: \"100000000\"}}\n")
	pcs, err := b.ParseCases([]byte(src.String()))
	if err != nil || pcs[0].Err != nil {
		t.Fatalf("%v %v", err, pcs)
	}
	res, err := b.Evaluate(pcs[0].Case)
	if err != nil {
		return // refusing the case whole is fine
	}
	if res[0].Amount != 0 {
		t.Fatalf("history sum wraps int64; paid %s above a cap already exhausted (%v)", money.Format(res[0].Amount), res[0].Reasons)
	}
}
