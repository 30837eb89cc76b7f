package policy

import (
	"errors"
	"math"
	"slices"
	"time"

	"github.com/google/cel-go/common/types"
)

// Status of a result (RULES.md §5).
type Status string

// Statuses.
const (
	Eligible   Status = "eligible"
	Ineligible Status = "ineligible"
	Incomplete Status = "incomplete"
	External   Status = "external"
)

// Reason codes of outcomes (RULES.md §4).
const (
	ReasonCapped            = "capped"
	ReasonCapReached        = "cap_reached"
	ReasonOverlap           = "overlap_topped_up"
	ReasonPoolLimited       = "pool_limited"
	ReasonPoolExhausted     = "pool_exhausted"
	ReasonAlreadyGranted    = "already_granted"
	ReasonNotInForce        = "policy_not_in_force"
	ReasonOutsideWindow     = "event_outside_policy_window"
	ReasonRequirementPrefix = "requirement_not_met:"
	ReasonMissingPrefix     = "missing_fact:"
)

// Result is the outcome for one claim.
type Result struct {
	Item   string
	Status Status
	Amount int64 // fen, 0 unless eligible
	// Ceiling is the most the rules allow (RULES.md §3): the amount of an
	// eligible claim, which a reviewer may lower but not exceed; 0 for
	// any other status.
	Ceiling        int64
	Formula        int64 // fen: the item's formula, before caps, history and pool
	Reasons        []string
	Missing        []string // facts the claim still needs
	ReviewRequired bool
	Article        int
	Year           int
	Project        string
	Trace          []Step
}

// Evaluate runs every claim of c in order; each claim sees the grants of
// the claims before it, as history and as pool use. An amount that cannot
// be represented (int64 overflow in a formula) refuses the case whole.
func (b *Bundle) Evaluate(c *Case) ([]Result, error) {
	return b.evaluate(c, false)
}

// EvaluateNoTrace is Evaluate without explanations, for bulk matching where
// only amounts and missing facts are wanted.
func (b *Bundle) EvaluateNoTrace(c *Case) ([]Result, error) {
	return b.evaluate(c, true)
}

func (b *Bundle) evaluate(c *Case, noTrace bool) ([]Result, error) {
	st := evalState{b: b, c: c, history: slices.Clone(c.History), noTrace: noTrace}
	for i := range st.history {
		if st.history[i].Policy == "" {
			st.history[i].Policy = b.ID // rows without a policy are this policy's
		}
		if st.history[i].Year == 0 {
			// A grant without a year is of the evaluation date's year, as a
			// granted claim without a year fact enters history (§4).
			st.history[i].Year = c.Date.Year()
		}
	}
	out := make([]Result, 0, len(c.Claims))
	for i := range c.Claims {
		r, err := st.claim(&c.Claims[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		if r.Status == Eligible && r.Amount > 0 {
			st.history = append(st.history, Grant{Policy: b.ID, Item: r.Item, Year: r.Year, Project: r.Project, Amount: r.Amount})
			if p := b.poolByItem[r.Item]; p != nil {
				st.inCase = append(st.inCase, poolUse{pool: p.ID, year: r.Year, amount: r.Amount})
			}
		}
	}
	return out, nil
}

type poolUse struct {
	pool   string
	year   int
	amount int64
}

type evalState struct {
	noTrace bool
	b       *Bundle
	c       *Case
	history []Grant
	inCase  []poolUse
	act     activation
}

// step appends s to the trace unless tracing is off.
func (st *evalState) step(tr []Step, s Step) []Step {
	if st.noTrace {
		return tr
	}
	return append(tr, s)
}

// entFact finds an enterprise fact on the enterprise, or else on the claim.
func (st *evalState) entFact(cl *Claim, name string) (Value, bool) {
	if v, ok := st.c.Enterprise[name]; ok {
		return v, true
	}
	v, ok := cl.Facts[name]
	return v, ok
}

var errOverflow = &InputError{Code: CodeInvalidMoney, Message: "金额超出可计算范围", MessageEn: "amount out of the computable range"}

func (st *evalState) claim(cl *Claim) (Result, error) {
	b := st.b
	it := b.itemIndex[cl.Item]
	date := st.c.Date
	r := Result{Item: it.ID, Status: Ineligible, ReviewRequired: it.Review, Article: it.Article}
	r.Year = date.Year()
	if it.YearFact != "" {
		if v, ok := cl.Facts[it.YearFact]; ok {
			r.Year = int(v.Int)
		}
	}
	if it.ProjectFact != "" {
		r.Project = cl.Facts[it.ProjectFact].Str
	} else if v, ok := cl.Facts["project"]; ok {
		r.Project = v.Str // R8 applies to any claim that names a project
	}
	var tr []Step
	if !st.noTrace {
		tr = make([]Step, 0, 10)
	}

	// 附則: in force from 2024-11-24 to 2027-12-31.
	if !b.InForce.Contains(date) {
		r.Reasons = append(r.Reasons, ReasonNotInForce)
		r.Trace = st.step(tr, Step{Kind: StepInForce, Section: "supplementary", Fail: true, Date: date, Date2: b.InForce.From, Date3: b.InForce.Until})
		return r, nil
	}
	tr = st.step(tr, Step{Kind: StepInForce, Section: "supplementary", Date: date, Date2: b.InForce.From, Date3: b.InForce.Until})

	var missing []string
	addMissing := func(f string) {
		if !slices.Contains(missing, f) {
			missing = append(missing, f)
		}
	}
	fail := func(reason string) {
		if !slices.Contains(r.Reasons, reason) {
			r.Reasons = append(r.Reasons, reason)
		}
	}

	// 附則: global eligibility.
	for _, rule := range b.Eligibility {
		s := Step{Kind: StepEligibility, Section: rule.Section, Reading: rule.Reading, Fact: rule.Fact, Reason: rule.Reason}
		switch rule.Rule {
		case "require_true", "require_false":
			v, ok := st.entFact(cl, rule.Fact)
			if !ok {
				addMissing(rule.Fact)
				s.Missing = true
			} else if v.Bool != (rule.Rule == "require_true") {
				fail(rule.Reason)
				s.Fail = true
			}
		case "no_recent_records":
			v, ok := st.entFact(cl, rule.Fact)
			if !ok {
				addMissing(rule.Fact)
				s.Missing = true
				break
			}
			since := date.AddYears(-rule.Years)
			s.Date2 = since
			for _, rec := range v.Records {
				if !slices.Contains(rule.Kinds, rec["kind"].Str) {
					continue
				}
				if rec["date"].Date > since {
					fail(rule.Reason)
					s.Fail = true
					s.Date = rec["date"].Date
					break
				}
			}
		case "require_any_if":
			v, ok := st.entFact(cl, rule.Fact)
			if !ok || !v.Bool {
				continue // not a data-centre project: the rule does not apply
			}
			anyTrue, absent := false, []string{}
			for _, f := range rule.Any {
				fv, ok := st.entFact(cl, f)
				switch {
				case !ok:
					absent = append(absent, f)
				case fv.Bool:
					anyTrue = true
				}
			}
			if anyTrue {
				break
			}
			if len(absent) > 0 {
				for _, f := range absent {
					addMissing(f)
				}
				s.Missing = true
			} else {
				fail(rule.Reason)
				s.Fail = true
			}
		}
		tr = st.step(tr, s)
	}

	if it.External != "" {
		// Governed elsewhere, but only for an enterprise that may receive
		// anything at all: unknown global facts leave it incomplete.
		if st.endEarly(&r, tr, it, missing) {
			return r, nil
		}
		r.Status = External
		r.Reasons = append(r.Reasons, it.External)
		r.Trace = st.step(tr, Step{Kind: StepExternal, Article: it.Article, Reason: it.External})
		return r, nil
	}

	// Item requirements.
	for _, f := range it.EnterpriseRequires {
		v, ok := st.entFact(cl, f)
		switch {
		case !ok:
			addMissing(f)
		case !v.Bool:
			fail(ReasonRequirementPrefix + f)
			tr = st.step(tr, Step{Kind: StepRequirement, Article: it.Article, Fact: f, Fail: true})
		default:
			tr = st.step(tr, Step{Kind: StepRequirement, Article: it.Article, Fact: f})
		}
	}
	yFrom, yTo := b.Years()
	for _, f := range it.Facts {
		v, ok := cl.Facts[f.Name]
		if !ok {
			if !f.Optional {
				addMissing(f.Name)
			}
			continue
		}
		switch {
		case f.MustBeTrue:
			if !v.Bool {
				fail(ReasonRequirementPrefix + f.Name)
			}
			tr = st.step(tr, Step{Kind: StepRequirement, Article: it.Article, Fact: f.Name, Fail: !v.Bool})
		case f.InWindow:
			in := b.InForce.Contains(v.Date)
			if !in {
				fail(ReasonOutsideWindow)
			}
			tr = st.step(tr, Step{Kind: StepWindow, Article: it.Article, Reading: "R4", Fact: f.Name, Date: v.Date, Date2: b.InForce.From, Date3: b.InForce.Until, Fail: !in})
		case f.Type == TypeYear:
			in := v.Int >= int64(yFrom) && v.Int <= int64(yTo)
			if !in {
				fail(ReasonOutsideWindow)
			}
			tr = st.step(tr, Step{Kind: StepYear, Article: it.Article, Fact: f.Name, N: v.Int, N2: int64(yFrom), N3: int64(yTo), Fail: !in})
		}
	}
	// Conditions need the item's own facts only: a definite failure (below
	// the threshold) is reported even while enterprise facts are missing.
	itemMissing := false
	for _, f := range missing {
		if it.factIndex[f] != nil {
			itemMissing = true
		}
	}
	if !itemMissing && len(it.Conditions) > 0 {
		st.bind(it, cl, date)
		for _, c := range it.Conditions {
			ok, err := evalBool(c.prog, &st.act)
			if err != nil {
				if len(missing) > 0 {
					continue // the condition needs a fact still missing
				}
				return r, evalErr(err)
			}
			if !ok {
				fail(c.Reason)
			}
			tr = st.step(tr, Step{Kind: StepCondition, Article: it.Article, Reading: c.Reading, Expr: c.When, Reason: c.Reason, Fail: !ok})
		}
	}
	if st.endEarly(&r, tr, it, missing) {
		return r, nil
	}

	// Formula, rounded down once (R1); the later steps subtract whole fen,
	// so rounding here equals rounding at the end.
	if len(it.Conditions) == 0 || itemMissing {
		st.bind(it, cl, date)
	}
	exact, err := evalRat(it.ceilProg, &st.act)
	if err != nil {
		return r, evalErr(err)
	}
	if exact.Cmp(Rat{0, 1}) < 0 {
		exact = Rat{0, 1}
	}
	r.Formula = exact.Floor()
	tr = st.step(tr, Step{Kind: StepFormula, Article: it.Article, Reading: "R1", Expr: it.Ceiling, Exact: exact, After: r.Formula, Params: st.paramUses(it, date)})
	st.act.vals[it.varIndex["ceiling"]] = RatInt(r.Formula)

	// The amount stays exact through caps, R8 and the pool, and is rounded
	// down once at the end (RULES.md §4 order): a formula of 20,000,000.001
	// is cut by a 20,000,000 cap, and says so.
	amt := exact
	cutBy := "" // the reason to give if a later step leaves nothing
	cut := func(to int64) { amt = RatInt(to) }
	above := func(limit int64) bool { return amt.Cmp(RatInt(limit)) > 0 }
	isZero := func() bool { return amt.num == 0 }
	// Item caps, net of this policy's history in their scope.
	for _, c := range it.Caps {
		s := Step{Kind: StepCap, Article: it.Article, Reading: c.Reading, Scope: c.Scope, Before: amt.Floor()}
		used, any := st.used(it, c.Scope, r.Year, r.Project)
		s.Used = used
		if c.Scope == ScopeOnceEnterprise || c.Scope == ScopeOnceProject {
			if any {
				cut(0)
				cutBy = c.ReasonZero
			}
			s.After = amt.Floor()
			s.Fail = any
			tr = st.step(tr, s)
			if any {
				break
			}
			continue
		}
		limitR, err := evalRat(c.prog, &st.act)
		if err != nil {
			return r, evalErr(err)
		}
		limit := limitR.Floor()
		s.Limit = limit
		left := max(limit-used, 0)
		switch {
		case left == 0:
			// The cap is reached: nothing more, whatever the formula.
			cut(0)
			cutBy = c.ReasonZero
		case above(left):
			cut(left)
			if c.ReasonCut != "" {
				fail(c.ReasonCut)
			}
		}
		s.After = amt.Floor()
		tr = st.step(tr, s)
		if isZero() && cutBy != "" {
			break
		}
	}

	// R8 從優不重復: support for the same project under another item or
	// another policy is deducted.
	if cutBy == "" && r.Project != "" {
		var other int64
		for _, h := range st.history {
			if h.Project == r.Project && (h.Policy != b.ID || h.Item != it.ID) {
				other = satAdd(other, h.Amount)
			}
		}
		if other > 0 {
			s := Step{Kind: StepOverlap, Section: "supplementary", Reading: "R8", Before: amt.Floor(), Used: other}
			// Compared in whole fen (R1): 500.005 less 500.00 leaves
			// nothing to pay, not half a fen.
			if amt.Floor() > other {
				amt, _ = amt.Plus(RatInt(-other))
				fail(ReasonOverlap)
			} else {
				cut(0)
				cutBy = ReasonOverlap
			}
			s.After = amt.Floor()
			tr = st.step(tr, s)
		}
	}

	// Pool remaining, first come first served.
	if p := b.poolByItem[it.ID]; p != nil && cutBy == "" {
		left, given := st.poolLeft(p, r.Year, date)
		s := Step{Kind: StepPool, Article: p.Article, Before: amt.Floor(), Limit: left, Given: given, N: int64(r.Year)}
		switch {
		case left <= 0:
			cut(0)
			cutBy = ReasonPoolExhausted
		case above(left):
			cut(left)
			fail(ReasonPoolLimited)
		}
		s.After = amt.Floor()
		tr = st.step(tr, s)
	}

	amount := amt.Floor() // R1: round down once
	if amount == 0 && cutBy != "" {
		r.Status = Ineligible
		fail(cutBy)
		r.Trace = tr
		return r, nil
	}
	r.Status = Eligible
	r.Amount, r.Ceiling = amount, amount
	if it.Review {
		tr = st.step(tr, Step{Kind: StepReview, Article: it.Article, After: amount})
	}
	r.Trace = st.step(tr, Step{Kind: StepResult, Article: it.Article, After: amount})
	return r, nil
}

// endEarly ends a claim before its formula: ineligible when a rule failed
// (a definite failure wins over missing facts), else incomplete when facts
// are missing. It reports whether it ended the claim.
func (st *evalState) endEarly(r *Result, tr []Step, it *Item, missing []string) bool {
	switch {
	case len(r.Reasons) > 0:
		r.Missing, r.Trace = missing, tr
	case len(missing) > 0:
		r.Status, r.Missing = Incomplete, missing
		for _, f := range missing {
			r.Reasons = append(r.Reasons, ReasonMissingPrefix+f)
		}
		r.Trace = st.step(tr, Step{Kind: StepMissing, Article: it.Article, List: missing})
	default:
		return false
	}
	return true
}

func evalErr(err error) error {
	if errors.Is(err, ErrOverflow) || err != nil {
		return errOverflow
	}
	return nil
}

// used sums this policy's history of the item in a cap's scope, and says
// whether any row matched.
func (st *evalState) used(it *Item, scope string, year int, project string) (int64, bool) {
	var sum int64
	any := false
	for _, h := range st.history {
		if h.Policy != st.b.ID || h.Item != it.ID {
			continue
		}
		switch scope {
		case ScopeEnterpriseYear:
			if h.Year != year {
				continue
			}
		case ScopeProject, ScopeOnceProject:
			if h.Project != project {
				continue
			}
		case ScopeProjectYear:
			if h.Project != project || h.Year != year {
				continue
			}
		}
		sum = satAdd(sum, h.Amount)
		any = true
	}
	return sum, any
}

// satAdd adds non-negative amounts, saturating at the largest int64: a
// history that sums beyond it has used up any cap.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// poolLeft is what the pool has left for year: the given remaining less
// this case's earlier grants, or else the annual budget less this
// enterprise's grants from it that year.
func (st *evalState) poolLeft(p *Pool, year int, date Date) (int64, bool) {
	for _, pl := range st.c.Pools {
		if (pl.Item == p.ID || st.b.poolByItem[pl.Item] == p) && pl.Year == year {
			var used int64
			for _, u := range st.inCase {
				if u.pool == p.ID && u.year == year {
					used = satAdd(used, u.amount)
				}
			}
			return max(pl.Remaining-used, 0), true
		}
	}
	budget, _ := p.Annual.At(date)
	var used int64
	for _, h := range st.history {
		if h.Policy == st.b.ID && h.Year == year && st.b.poolByItem[h.Item] == p {
			used = satAdd(used, h.Amount)
		}
	}
	return max(budget.Rat.Floor()-used, 0), false
}

// bind fills the CEL activation for a claim.
func (st *evalState) bind(it *Item, cl *Claim, date Date) {
	if cap(st.act.vals) < len(it.vars) {
		st.act.vals = make([]any, len(it.vars))
	}
	st.act.vals = st.act.vals[:len(it.vars)]
	st.act.index = it.varIndex
	for i, name := range it.vars {
		st.act.vals[i] = nil
		if f := it.factIndex[name]; f != nil {
			if v, ok := cl.Facts[name]; ok {
				st.act.vals[i] = celValue(f, v)
			}
			continue
		}
		if p := it.paramIndex[name]; p != nil {
			dv, _ := p.At(date)
			if p.Type == TypeInt {
				st.act.vals[i] = types.Int(dv.Rat.Floor())
			} else {
				st.act.vals[i] = dv.Rat
			}
			continue
		}
		if f := st.b.entFacts[name]; f != nil {
			if v, ok := st.entFact(cl, name); ok {
				st.act.vals[i] = celValue(f, v)
			}
		}
	}
}

func celValue(f *FactSpec, v Value) any {
	switch f.Type {
	case TypeMoney:
		return RatInt(v.Money)
	case TypeYear, TypeInt:
		return types.Int(v.Int)
	case TypeBool:
		return types.Bool(v.Bool)
	case TypeString, TypeEnum:
		return types.String(v.Str)
	case TypeDate:
		return v.Date.Time().In(time.UTC)
	case TypeRecords:
		out := make([]map[string]any, len(v.Records))
		for i, rec := range v.Records {
			m := make(map[string]any, len(f.Fields))
			for _, fs := range f.Fields {
				if fs.Type != TypeMoney {
					continue
				}
				m[fs.Name] = RatInt(rec[fs.Name].Money) // absent optional amounts are 0
			}
			out[i] = m
		}
		return out
	}
	return nil
}

// paramUses lists the parameters in force on date, with their dates.
func (st *evalState) paramUses(it *Item, date Date) []ParamUse {
	out := make([]ParamUse, 0, len(it.ceilParams))
	for _, p := range it.ceilParams {
		dv, _ := p.At(date)
		out = append(out, ParamUse{Name: p.Name, Type: p.Type, Value: dv.Rat, From: dv.From})
	}
	return out
}
