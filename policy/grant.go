package policy

import (
	"strconv"
)

// LedgerCap is a cap as the ledger enforces it: the key of a cap account
// and its limit in fen. The engine decides amounts; the ledger makes sure
// that, whatever races happen between decisions, no cap is ever overspent.
type LedgerCap struct {
	Key   string
	Limit int64
	Scope string
}

// CapKey names the ledger account of a cap scope.
func CapKey(scope, uscc, item string, year int, project string) string {
	y := strconv.Itoa(year)
	switch scope {
	case ScopeEnterpriseYear:
		return "cap/" + uscc + "/" + item + "/" + y
	case ScopeEnterprise:
		return "cap/" + uscc + "/" + item
	case ScopeProject:
		return "cap/" + uscc + "/" + item + "/p/" + project
	case ScopeProjectYear:
		return "cap/" + uscc + "/" + item + "/p/" + project + "/" + y
	case ScopeOnceEnterprise:
		return "cap/" + uscc + "/" + item + "/once"
	case ScopeOnceProject:
		return "cap/" + uscc + "/" + item + "/once/p/" + project
	}
	return ""
}

// GrantTerms are what the ledger needs to reserve a grant of an item.
type GrantTerms struct {
	Item    string
	Pool    string // "" when the item has no annual pool
	Year    int
	Project string
	Caps    []LedgerCap
}

// Terms computes the pool, year, project and cap accounts of a claim of
// item by enterprise uscc on date. Once-only caps are given the item's
// ceiling as limit; caps whose amount depends on the ceiling (晉級補差)
// take their ledger_limit, the most the group can ever pay.
func (b *Bundle) Terms(item, uscc string, date Date, facts Facts) (GrantTerms, error) {
	it := b.itemIndex[item]
	if it == nil {
		return GrantTerms{}, inputErr(CodeUnknownItem, "item", "未知的支持事项 %q", "unknown item %q", item)
	}
	t := GrantTerms{Item: it.ID, Year: date.Year()}
	if p := b.poolByItem[it.ID]; p != nil {
		t.Pool = p.ID
	}
	if it.YearFact != "" {
		if v, ok := facts[it.YearFact]; ok {
			t.Year = int(v.Int)
		}
	}
	if it.ProjectFact != "" {
		t.Project = facts[it.ProjectFact].Str
	} else if v, ok := facts["project"]; ok {
		t.Project = v.Str
	}
	if it.External != "" || it.ceilProg == nil {
		return t, nil
	}
	for _, f := range it.Facts {
		if _, ok := facts[f.Name]; !ok && !f.Optional {
			return t, inputErr(CodeInvalidValue, f.Name, "缺少事实 %s", "missing fact %s", f.Name)
		}
	}
	c := Case{Date: date, USCC: uscc, Enterprise: Facts{}}
	cl := Claim{Item: it.ID, Facts: facts}
	st := evalState{b: b, c: &c, noTrace: true}
	st.bind(it, &cl, date)
	ceil, err := evalRat(it.ceilProg, &st.act)
	if err != nil {
		return t, evalErr(err)
	}
	st.act.vals[it.varIndex["ceiling"]] = RatInt(max(ceil.Floor(), 0))
	for _, cp := range it.Caps {
		lc := LedgerCap{Key: CapKey(cp.Scope, uscc, it.ID, t.Year, t.Project), Scope: cp.Scope}
		switch {
		case cp.ledgerProg != nil:
			v, err := evalRat(cp.ledgerProg, &st.act)
			if err != nil {
				return t, evalErr(err)
			}
			lc.Limit = v.Floor()
		case cp.prog != nil:
			v, err := evalRat(cp.prog, &st.act)
			if err != nil {
				return t, evalErr(err)
			}
			lc.Limit = v.Floor()
		default:
			lc.Limit = max(ceil.Floor(), 0)
		}
		t.Caps = append(t.Caps, lc)
	}
	return t, nil
}
