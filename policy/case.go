package policy

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Case is one evaluation request (RULES.md §5): an enterprise on a date,
// its history and the pools, and the claims to evaluate in order. Case
// files add expectations.
type Case struct {
	Name       string
	Date       Date
	USCC       string
	Enterprise Facts
	History    []Grant
	Pools      []PoolLeft
	Claims     []Claim

	Expect      []Expectation
	ExpectError string
	File        string
	Line        int
}

// Grant is a grant already made to the enterprise (history).
type Grant struct {
	Policy  string `json:"policy"`
	Item    string `json:"item"`
	Year    int    `json:"year,omitempty"`
	Project string `json:"project,omitempty"`
	Amount  int64  `json:"amount"`
}

// PoolLeft says what is left in an annual pool.
type PoolLeft struct {
	Item      string
	Year      int
	Remaining int64
}

// Claim asks for one item with the claim's facts.
type Claim struct {
	Item  string
	Facts Facts
}

// Expectation is what a case file expects of one result.
type Expectation struct {
	Item           string
	Status         string
	Amount         *int64
	ReviewRequired *bool
	Reasons        []string
	Line           int
}

// maxRawNodes bounds the values one document may expand to: YAML aliases
// can make a few lines stand for billions of nodes.
const maxRawNodes = 200_000

// toRaw converts a YAML node into a Raw value, keeping scalar text.
func toRaw(n *yaml.Node, depth int) (Raw, *InputError) {
	budget := maxRawNodes
	return toRawBudget(n, depth, &budget)
}

func toRawBudget(n *yaml.Node, depth int, budget *int) (Raw, *InputError) {
	if depth > 32 {
		return Raw{}, inputErr(CodeInvalidCase, "", "嵌套层级过深", "nesting too deep")
	}
	if *budget--; *budget < 0 {
		return Raw{}, inputErr(CodeInvalidCase, "", "输入展开后过大(别名过多)", "input too large once aliases are expanded")
	}
	n = resolve(n)
	if n == nil {
		return Raw{IsNull: true}, nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		quoted := n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0
		r := Raw{Scalar: n.Value, Quoted: quoted}
		if !quoted {
			switch n.Tag {
			case "!!null":
				r.IsNull = true
			case "!!bool":
				r.IsBool = true
			case "!!int", "!!float":
				r.IsNum = true
			}
		}
		return r, nil
	case yaml.SequenceNode:
		r := Raw{IsList: true, List: make([]Raw, 0, len(n.Content))}
		for _, c := range n.Content {
			v, err := toRawBudget(c, depth+1, budget)
			if err != nil {
				return Raw{}, err
			}
			r.List = append(r.List, v)
		}
		return r, nil
	case yaml.MappingNode:
		r := Raw{IsMap: true, Map: make(map[string]Raw, len(n.Content)/2)}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k.Value == "<<" {
				v, err := toRawBudget(n.Content[i+1], depth+1, budget)
				if err != nil {
					return Raw{}, err
				}
				for kk, vv := range v.Map {
					if _, set := r.Map[kk]; !set {
						r.Map[kk] = vv
					}
				}
				continue
			}
			v, err := toRawBudget(n.Content[i+1], depth+1, budget)
			if err != nil {
				return Raw{}, err
			}
			r.Map[k.Value] = v
		}
		return r, nil
	}
	return Raw{IsNull: true}, nil
}

// ParseCases reads one case, or a list under `cases:`, from YAML or JSON.
// A document that is not a case at all fails with code invalid_case; the
// cases are returned with, for each, either its parsed form or the input
// error that refuses it whole.
func (b *Bundle) ParseCases(data []byte) ([]ParsedCase, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, inputErr(CodeInvalidCase, "", "无法解析输入(应为 YAML 或 JSON):%v", "cannot parse input (expected YAML or JSON): %v", oneLine(err.Error()))
	}
	top := resolve(&root)
	if top == nil || top.Kind != yaml.MappingNode {
		return nil, inputErr(CodeInvalidCase, "", "输入应为一个案例对象", "input must be a case object")
	}
	var nodes []*yaml.Node
	if m, _ := asMap("", top, nil); m != nil && m.has("cases") {
		seq, err := m.seq("cases")
		if err != nil {
			return nil, inputErr(CodeInvalidCase, "cases", "cases 应为列表", "cases must be a list")
		}
		nodes = seq
	} else {
		nodes = []*yaml.Node{top}
	}
	out := make([]ParsedCase, 0, len(nodes))
	for i, n := range nodes {
		c, err := b.parseCase(n, i)
		out = append(out, ParsedCase{Case: c, Err: err})
	}
	return out, nil
}

// ParsedCase is a case and the input error that refuses it, if any.
type ParsedCase struct {
	Case *Case
	Err  *InputError
}

func (b *Bundle) parseCase(n *yaml.Node, index int) (*Case, *InputError) {
	n = resolve(n)
	c := &Case{Line: n.Line, Name: "case " + strconv.Itoa(index+1)}
	raw, ierr := toRaw(n, 0)
	if ierr != nil {
		return c, ierr
	}
	if !raw.IsMap {
		return c, inputErr(CodeInvalidCase, "", "案例应为键值对象", "a case must be a mapping")
	}
	if nm, ok := raw.Map["name"]; ok && !nm.IsNull {
		c.Name = nm.Scalar
	}
	// Expectations are read first so that a refused case still knows what
	// it expected.
	if e, ok := raw.Map["expect_error"]; ok {
		c.ExpectError = e.Scalar
	}
	if ex, ok := raw.Map["expect"]; ok {
		c.Expect = parseExpect(ex, n)
	}
	return c, b.fillCase(c, raw)
}

// Request parses the evaluation part of a case from a Raw mapping; it is
// what the API and the CLI call.
func (b *Bundle) fillCase(c *Case, raw Raw) *InputError {
	d, ok := raw.Map["date"]
	if !ok || d.IsNull || d.IsList || d.IsMap {
		return inputErr(CodeInvalidDate, "date", "缺少评估日期 date(YYYY-MM-DD)", "missing evaluation date (YYYY-MM-DD)")
	}
	date, err := ParseDate(strings.TrimSpace(d.Scalar))
	if err != nil {
		return inputErr(CodeInvalidDate, "date", "评估日期不是有效日期(YYYY-MM-DD):%q", "evaluation date is not a valid YYYY-MM-DD date: %q", d.Scalar)
	}
	c.Date = date
	ent, ok := raw.Map["enterprise"]
	if !ok || !ent.IsMap {
		return inputErr(CodeInvalidUSCC, "enterprise.uscc", "缺少企业及其统一社会信用代码", "missing the enterprise and its credit code")
	}
	code := ent.Map["uscc"]
	if code.IsList || code.IsMap || code.IsNull || code.Scalar == "" {
		return inputErr(CodeInvalidUSCC, "enterprise.uscc", "缺少统一社会信用代码", "missing the credit code")
	}
	if e := ValidateUSCC(code.Scalar, "enterprise.uscc"); e != nil {
		return e
	}
	c.USCC = code.Scalar
	c.Enterprise = Facts{}
	for _, spec := range b.EnterpriseFacts {
		r, ok := ent.Map[spec.Name]
		if !ok || r.IsNull { // null is unknown, like absent ([] means none)
			continue
		}
		v, e := ConvertFact(spec, r, "enterprise."+spec.Name)
		if e != nil {
			return e
		}
		c.Enterprise[spec.Name] = v
	}
	if h, ok := raw.Map["history"]; ok && !h.IsNull {
		if !h.IsList {
			return inputErr(CodeInvalidValue, "history", "history 应为列表", "history must be a list")
		}
		for i, row := range h.List {
			g, e := b.parseGrant(row, "history["+strconv.Itoa(i)+"]")
			if e != nil {
				return e
			}
			c.History = append(c.History, g)
		}
	}
	if p, ok := raw.Map["pools"]; ok && !p.IsNull {
		if !p.IsList {
			return inputErr(CodeInvalidValue, "pools", "pools 应为列表", "pools must be a list")
		}
		for i, row := range p.List {
			pl, e := b.parsePool(row, "pools["+strconv.Itoa(i)+"]")
			if e != nil {
				return e
			}
			c.Pools = append(c.Pools, pl)
		}
	}
	cl, ok := raw.Map["claims"]
	if !ok || cl.IsNull {
		return nil
	}
	if !cl.IsList {
		return inputErr(CodeInvalidValue, "claims", "claims 应为列表", "claims must be a list")
	}
	for i, row := range cl.List {
		claim, e := b.ParseClaim(row, "claims["+strconv.Itoa(i)+"]")
		if e != nil {
			return e
		}
		c.Claims = append(c.Claims, claim)
	}
	return nil
}

// ParseClaim checks one claim {item, facts} against the item's facts.
// Facts the item does not know are ignored; facts of the wrong type are
// refused.
func (b *Bundle) ParseClaim(row Raw, path string) (Claim, *InputError) {
	if !row.IsMap {
		return Claim{}, inputErr(CodeInvalidValue, path, "%s 应为 {item, facts}", "%s must be {item, facts}", path)
	}
	itemRaw := row.Map["item"]
	it := b.Item(strings.TrimSpace(itemRaw.Scalar))
	if it == nil || itemRaw.IsList || itemRaw.IsMap {
		return Claim{}, inputErr(CodeUnknownItem, path+".item", "未知的支持事项 %q", "unknown item %q", itemRaw.Scalar)
	}
	cl := Claim{Item: it.ID, Facts: Facts{}}
	fr, ok := row.Map["facts"]
	if !ok || fr.IsNull {
		return cl, nil
	}
	if !fr.IsMap {
		return Claim{}, inputErr(CodeInvalidValue, path+".facts", "facts 应为键值对象", "facts must be a mapping")
	}
	for name, r := range fr.Map {
		spec := it.factIndex[name]
		if spec == nil {
			spec = b.claimFacts[name]
		}
		if spec == nil {
			spec = b.entFacts[name] // an enterprise fact given on the claim
		}
		if spec == nil {
			continue
		}
		if r.IsNull { // null is unknown, like absent
			continue
		}
		v, e := ConvertFact(spec, r, path+".facts."+name)
		if e != nil {
			return Claim{}, e
		}
		cl.Facts[name] = v
	}
	return cl, nil
}

func (b *Bundle) parseGrant(row Raw, path string) (Grant, *InputError) {
	if !row.IsMap {
		return Grant{}, inputErr(CodeInvalidValue, path, "%s 应为 {item, year, project, amount}", "%s must be {item, year, project, amount}", path)
	}
	g := Grant{Policy: b.ID}
	if p := row.Map["policy"]; !p.IsNull && p.Scalar != "" {
		g.Policy = strings.TrimSpace(p.Scalar)
	}
	g.Item = strings.TrimSpace(row.Map["item"].Scalar)
	if g.Policy == b.ID && b.Item(g.Item) == nil {
		return Grant{}, inputErr(CodeUnknownItem, path+".item", "历史记录中的支持事项 %q 未知", "unknown item %q in history", g.Item)
	}
	if y, ok := row.Map["year"]; ok && !y.IsNull {
		n, err := strconv.Atoi(strings.TrimSpace(y.Scalar))
		if err != nil || y.IsList || y.IsMap {
			return Grant{}, inputErr(CodeInvalidValue, path+".year", "年度应为整数:%q", "year must be a whole number: %q", y.Scalar)
		}
		g.Year = n
	}
	if p, ok := row.Map["project"]; ok && !p.IsNull {
		g.Project = strings.TrimSpace(p.Scalar)
	}
	a, ok := row.Map["amount"]
	if !ok || a.IsNull {
		return Grant{}, inputErr(CodeInvalidMoney, path+".amount", "缺少金额", "missing amount")
	}
	fen, v := ConvertFact(&FactSpec{Type: TypeMoney}, a, path+".amount")
	if v != nil {
		return Grant{}, v
	}
	g.Amount = fen.Money
	return g, nil
}

func (b *Bundle) parsePool(row Raw, path string) (PoolLeft, *InputError) {
	if !row.IsMap {
		return PoolLeft{}, inputErr(CodeInvalidValue, path, "%s 应为 {item, year, remaining}", "%s must be {item, year, remaining}", path)
	}
	var p PoolLeft
	p.Item = strings.TrimSpace(row.Map["item"].Scalar)
	if b.Item(p.Item) == nil && b.Pool(p.Item) == nil {
		return PoolLeft{}, inputErr(CodeUnknownItem, path+".item", "资金池的支持事项 %q 未知", "unknown pool item %q", p.Item)
	}
	if b.poolByItem[p.Item] == nil && b.Pool(p.Item) == nil {
		return PoolLeft{}, inputErr(CodeInvalidValue, path+".item", "支持事项 %q 没有年度资金池", "item %q has no annual pool", p.Item)
	}
	y := row.Map["year"]
	n, err := strconv.Atoi(strings.TrimSpace(y.Scalar))
	if err != nil || y.IsList || y.IsMap {
		return PoolLeft{}, inputErr(CodeInvalidValue, path+".year", "年度应为整数:%q", "year must be a whole number: %q", y.Scalar)
	}
	p.Year = n
	fen, v := ConvertFact(&FactSpec{Type: TypeMoney}, row.Map["remaining"], path+".remaining")
	if v != nil {
		return PoolLeft{}, v
	}
	p.Remaining = fen.Money
	return p, nil
}

func parseExpect(ex Raw, n *yaml.Node) []Expectation {
	var out []Expectation
	for _, e := range ex.List {
		var x Expectation
		x.Item = e.Map["item"].Scalar
		x.Status = e.Map["status"].Scalar
		if a, ok := e.Map["amount"]; ok && !a.IsNull {
			if v, err := ConvertFact(&FactSpec{Type: TypeMoney}, a, "expect.amount"); err == nil {
				m := v.Money
				x.Amount = &m
			} else {
				m := int64(-1) // never matches: a malformed expectation fails
				x.Amount = &m
			}
		}
		if r, ok := e.Map["review_required"]; ok && !r.IsNull {
			v := r.Scalar == "true"
			x.ReviewRequired = &v
		}
		for _, r := range e.Map["reasons"].List {
			x.Reasons = append(x.Reasons, r.Scalar)
		}
		out = append(out, x)
	}
	return out
}
