package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"policydesk/money"

	"gopkg.in/yaml.v3"
)

// LoadError lists every problem found in a bundle, each at file:line with
// the item it concerns. A bundle with any problem does not load.
type LoadError struct {
	Problems []Problem
}

// Problem is one reason a bundle does not load.
type Problem struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Item string `json:"item,omitempty"`
	Msg  string `json:"message"`
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s:%d", p.File, p.Line)
	if p.Item != "" {
		s += ": item " + p.Item
	}
	return s + ": " + p.Msg
}

func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy bundle does not load (%d problem(s)):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

type loader struct {
	fsys     fs.FS
	problems []Problem
}

func (l *loader) add(item string, err error) {
	var pe *posError
	if errors.As(err, &pe) {
		l.problems = append(l.problems, Problem{File: pe.file, Line: pe.line, Item: item, Msg: pe.msg})
		return
	}
	l.problems = append(l.problems, Problem{Item: item, Msg: err.Error()})
}

func (l *loader) addAt(file string, line int, item, format string, args ...any) {
	l.problems = append(l.problems, Problem{File: file, Line: line, Item: item, Msg: fmt.Sprintf(format, args...)})
}

// LoadDir loads the bundle in directory dir.
func LoadDir(dir string) (*Bundle, error) { return Load(os.DirFS(dir)) }

// Load reads policy.yaml, articles.yaml and items/*.yaml from fsys, checks
// them and compiles every CEL expression. Any problem fails the whole load
// with a *LoadError.
func Load(fsys fs.FS) (*Bundle, error) {
	l := &loader{fsys: fsys}
	b := &Bundle{
		itemIndex:  map[string]*Item{},
		poolIndex:  map[string]*Pool{},
		deptIndex:  map[string]*Department{},
		artIndex:   map[int]*Article{},
		entFacts:   map[string]*FactSpec{},
		claimFacts: map[string]*FactSpec{},
		poolByItem: map[string]*Pool{},
	}
	if root, err := l.read("policy.yaml"); err != nil {
		l.add("", err)
	} else {
		l.policy(b, root)
	}
	if root, err := l.read("articles.yaml"); err != nil {
		l.add("", err)
	} else {
		l.articles(b, root)
	}
	files, err := fs.Glob(fsys, "items/*.yaml")
	if err != nil || len(files) == 0 {
		l.addAt("items/", 0, "", "no item files (items/*.yaml)")
	}
	sort.Strings(files)
	for _, f := range files {
		root, err := l.read(f)
		if err != nil {
			l.add("", err)
			continue
		}
		if it := l.item(b, f, root); it != nil {
			if _, dup := b.itemIndex[it.ID]; dup {
				l.addAt(f, it.Line, it.ID, "item id given twice")
				continue
			}
			b.Items = append(b.Items, it)
			b.itemIndex[it.ID] = it
		}
	}
	if len(l.problems) == 0 {
		l.crossCheck(b)
	}
	if len(l.problems) == 0 {
		for _, it := range b.Items {
			l.compile(b, it)
		}
	}
	if len(l.problems) > 0 {
		return nil, &LoadError{Problems: l.problems}
	}
	return b, nil
}

func (l *loader) read(name string) (*yaml.Node, error) {
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		return nil, &posError{file: name, msg: "cannot read: " + err.Error()}
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, &posError{file: name, msg: "not valid YAML: " + err.Error()}
	}
	if resolve(&n) == nil {
		return nil, &posError{file: name, msg: "empty file"}
	}
	return &n, nil
}

func (l *loader) policy(b *Bundle, root *yaml.Node) {
	const f = "policy.yaml"
	m, err := asMap(f, root, []string{"id", "doc_number", "title", "title_en", "issuer", "issued", "in_force", "supersedes", "interpreter", "departments", "enterprise_facts", "claim_facts", "eligibility", "pools"})
	if err != nil {
		l.add("", err)
		return
	}
	var e error
	b.ID, e = m.str("id", true)
	l.check("", e)
	b.DocNumber, _ = m.str("doc_number", false)
	b.Title, _ = m.str("title", false)
	b.TitleEn, _ = m.str("title_en", false)
	b.Issuer, _ = m.str("issuer", false)
	b.Interpreter, _ = m.str("interpreter", false)
	b.Issued, e = m.date("issued", false)
	l.check("", e)
	if w, err := asMap(f, m.vals["in_force"], []string{"from", "until"}); err != nil {
		l.add("", err)
	} else {
		b.InForce.From, e = w.date("from", true)
		l.check("", e)
		b.InForce.Until, e = w.date("until", true)
		l.check("", e)
		if b.InForce.Until < b.InForce.From {
			l.addAt(f, w.node.Line, "", "in_force: until is before from")
		}
	}
	sup, err := m.seq("supersedes")
	l.check("", err)
	for _, n := range sup {
		sm, err := asMap(f, n, []string{"id", "doc_number", "repealed_from"})
		if err != nil {
			l.add("", err)
			continue
		}
		var s Supersession
		s.ID, e = sm.str("id", true)
		l.check("", e)
		s.DocNumber, _ = sm.str("doc_number", false)
		s.RepealedFrom, e = sm.date("repealed_from", false)
		l.check("", e)
		b.Supersedes = append(b.Supersedes, s)
	}
	deps, err := m.seq("departments")
	l.check("", err)
	for _, n := range deps {
		dm, err := asMap(f, n, []string{"id", "name", "name_en"})
		if err != nil {
			l.add("", err)
			continue
		}
		var d Department
		d.ID, e = dm.str("id", true)
		l.check("", e)
		d.Name, e = dm.str("name", true)
		l.check("", e)
		d.NameEn, _ = dm.str("name_en", false)
		if _, dup := b.deptIndex[d.ID]; dup {
			l.addAt(f, dm.node.Line, "", "department %q given twice", d.ID)
			continue
		}
		b.Departments = append(b.Departments, d)
		b.deptIndex[d.ID] = &b.Departments[len(b.Departments)-1]
	}
	// Re-point the index after the slice stopped growing.
	for i := range b.Departments {
		b.deptIndex[b.Departments[i].ID] = &b.Departments[i]
	}
	b.EnterpriseFacts = l.facts(f, "", m.vals["enterprise_facts"])
	for _, fs := range b.EnterpriseFacts {
		b.entFacts[fs.Name] = fs
	}
	b.ClaimFacts = l.facts(f, "", m.vals["claim_facts"])
	for _, fs := range b.ClaimFacts {
		b.claimFacts[fs.Name] = fs
	}
	rules, err := m.seq("eligibility")
	l.check("", err)
	for _, n := range rules {
		rm, err := asMap(f, n, []string{"rule", "fact", "kinds", "years", "any", "reason", "section", "article", "reading"})
		if err != nil {
			l.add("", err)
			continue
		}
		r := &EligibilityRule{Line: rm.node.Line}
		r.Rule, e = rm.str("rule", true)
		l.check("", e)
		r.Fact, e = rm.str("fact", true)
		l.check("", e)
		r.Reason, e = rm.str("reason", true)
		l.check("", e)
		r.Kinds, _ = rm.strs("kinds")
		r.Any, _ = rm.strs("any")
		r.Years, e = rm.integer("years", false)
		l.check("", e)
		r.Section, _ = rm.str("section", false)
		r.Reading, _ = rm.str("reading", false)
		switch r.Rule {
		case "require_true", "require_false":
		case "no_recent_records":
			if r.Years <= 0 {
				l.addAt(f, r.Line, "", "no_recent_records needs years > 0")
			}
		case "require_any_if":
			if len(r.Any) == 0 {
				l.addAt(f, r.Line, "", "require_any_if needs any: [facts]")
			}
		default:
			l.addAt(f, r.Line, "", "unknown eligibility rule %q", r.Rule)
		}
		b.Eligibility = append(b.Eligibility, r)
	}
	pools, err := m.seq("pools")
	l.check("", err)
	for _, n := range pools {
		pm, err := asMap(f, n, []string{"id", "name", "name_en", "article", "annual"})
		if err != nil {
			l.add("", err)
			continue
		}
		p := &Pool{}
		p.ID, e = pm.str("id", true)
		l.check("", e)
		p.Name, _ = pm.str("name", false)
		p.NameEn, _ = pm.str("name_en", false)
		p.Article, e = pm.integer("article", true)
		l.check("", e)
		p.Annual = l.param(f, "", "annual", TypeMoney, pm.vals["annual"], true)
		if _, dup := b.poolIndex[p.ID]; dup {
			l.addAt(f, pm.node.Line, "", "pool %q given twice", p.ID)
			continue
		}
		b.Pools = append(b.Pools, p)
		b.poolIndex[p.ID] = p
	}
}

func (l *loader) check(item string, err error) {
	if err != nil {
		l.add(item, err)
	}
}

var factKeys = []string{"type", "label", "label_en", "optional", "must_be_true", "in_window", "values", "labels", "fields"}

// facts reads an ordered mapping of fact specs.
func (l *loader) facts(file, item string, n *yaml.Node) []*FactSpec {
	if n == nil {
		return nil
	}
	m, err := asMap(file, n, nil)
	if err != nil {
		l.add(item, err)
		return nil
	}
	var out []*FactSpec
	for _, name := range m.keys {
		if fs := l.fact(file, item, name, m.vals[name]); fs != nil {
			out = append(out, fs)
		}
	}
	return out
}

func (l *loader) fact(file, item, name string, n *yaml.Node) *FactSpec {
	fm, err := asMap(file, n, factKeys)
	if err != nil {
		l.add(item, err)
		return nil
	}
	fs := &FactSpec{Name: name, File: file, Line: fm.node.Line}
	t, err := fm.str("type", true)
	l.check(item, err)
	fs.Type = FactType(t)
	fs.Label, _ = fm.str("label", false)
	fs.LabelEn, _ = fm.str("label_en", false)
	var e error
	fs.Optional, e = fm.boolean("optional")
	l.check(item, e)
	fs.MustBeTrue, e = fm.boolean("must_be_true")
	l.check(item, e)
	fs.InWindow, e = fm.boolean("in_window")
	l.check(item, e)
	fs.Values, _ = fm.strs("values")
	fs.Labels, _ = fm.strs("labels")
	if !validIdent(name) {
		l.addAt(file, fs.Line, item, "fact name %q is not an identifier (a-z, 0-9, _)", name)
	}
	switch fs.Type {
	case TypeMoney, TypeYear, TypeInt, TypeBool, TypeString, TypeDate:
	case TypeEnum:
		if len(fs.Values) == 0 {
			l.addAt(file, fs.Line, item, "enum fact %s has no values", name)
		}
		if len(fs.Labels) > 0 && len(fs.Labels) != len(fs.Values) {
			l.addAt(file, fs.Line, item, "enum fact %s: %d labels for %d values", name, len(fs.Labels), len(fs.Values))
		}
	case TypeRecords:
		fs.Fields = l.facts(file, item, fm.vals["fields"])
		if len(fs.Fields) == 0 {
			l.addAt(file, fs.Line, item, "records fact %s has no fields", name)
		}
		for _, sub := range fs.Fields {
			if sub.Type == TypeRecords {
				l.addAt(file, sub.Line, item, "records inside records are not supported")
			}
		}
	default:
		l.addAt(file, fs.Line, item, "fact %s: unknown type %q (money, year, int, bool, string, enum, date, records)", name, t)
	}
	if fs.MustBeTrue && fs.Type != TypeBool {
		l.addAt(file, fs.Line, item, "fact %s: must_be_true needs type bool", name)
	}
	if fs.InWindow && fs.Type != TypeDate {
		l.addAt(file, fs.Line, item, "fact %s: in_window needs type date", name)
	}
	return fs
}

func validIdent(s string) bool {
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '_') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// param reads a dated parameter: {type, values: [{from, until?, value}]}
// (or, for pools, the list of dated values alone).
func (l *loader) param(file, item, name string, typ FactType, n *yaml.Node, bare bool) *Parameter {
	p := &Parameter{Name: name, Type: typ, File: file}
	var seq []*yaml.Node
	if bare {
		rn := resolve(n)
		if rn == nil || rn.Kind != yaml.SequenceNode {
			l.add(item, errAt(file, rn, "%s: expected a list of dated values [{from, value}]", name))
			return p
		}
		p.Line = rn.Line
		seq = rn.Content
	} else {
		pm, err := asMap(file, n, []string{"type", "values"})
		if err != nil {
			l.add(item, err)
			return p
		}
		p.Line = pm.node.Line
		t, err := pm.str("type", true)
		l.check(item, err)
		p.Type = FactType(t)
		switch p.Type {
		case TypeMoney, TypeRatio, TypeInt:
		default:
			l.addAt(file, p.Line, item, "parameter %s: type must be money, ratio or int, not %q", name, t)
			return p
		}
		seq, err = pm.seq("values")
		l.check(item, err)
	}
	if len(seq) == 0 {
		l.addAt(file, p.Line, item, "parameter %s has no dated values", name)
	}
	for _, vn := range seq {
		vm, err := asMap(file, vn, []string{"from", "until", "value"})
		if err != nil {
			l.add(item, err)
			continue
		}
		dv := DatedValue{Line: vm.node.Line}
		var e error
		dv.From, e = vm.date("from", true)
		l.check(item, e)
		dv.Until, e = vm.date("until", false)
		l.check(item, e)
		dv.Raw, e = vm.str("value", true)
		l.check(item, e)
		switch p.Type {
		case TypeMoney:
			fen, err := money.Parse(dv.Raw)
			if err != nil {
				l.addAt(file, dv.Line, item, "parameter %s: %q is not an amount in yuan", name, dv.Raw)
			}
			dv.Rat = RatInt(fen)
		case TypeRatio:
			r, err := ParseRatio(dv.Raw)
			if err != nil {
				l.addAt(file, dv.Line, item, "parameter %s: %v", name, err)
			}
			dv.Rat = r
		case TypeInt:
			r, err := ParseRatio(dv.Raw)
			if err != nil || !r.IsInt() {
				l.addAt(file, dv.Line, item, "parameter %s: %q is not a whole number", name, dv.Raw)
			}
			dv.Rat = r
		}
		if dv.Until != 0 && dv.Until < dv.From {
			l.addAt(file, dv.Line, item, "parameter %s: until %s is before from %s", name, dv.Until, dv.From)
		}
		p.Values = append(p.Values, dv)
	}
	sort.SliceStable(p.Values, func(i, j int) bool { return p.Values[i].From < p.Values[j].From })
	for i := 1; i < len(p.Values); i++ {
		prev, cur := p.Values[i-1], p.Values[i]
		if cur.From == prev.From {
			l.addAt(file, cur.Line, item, "parameter %s: two values from %s (lines %d and %d) overlap", name, cur.From, prev.Line, cur.Line)
		} else if prev.Until != 0 && prev.Until >= cur.From {
			l.addAt(file, cur.Line, item, "parameter %s: value from %s overlaps the value of line %d, in force until %s", name, cur.From, prev.Line, prev.Until)
		}
	}
	return p
}

var itemKeys = []string{"id", "name", "name_en", "article", "departments", "review", "pool", "year_fact", "project_fact", "enterprise_requires", "facts", "parameters", "conditions", "ceiling", "caps", "external", "materials"}

func (l *loader) item(b *Bundle, file string, root *yaml.Node) *Item {
	m, err := asMap(file, root, itemKeys)
	if err != nil {
		// Name the item in the problem even when a key is wrong.
		id := strings.TrimSuffix(path.Base(file), ".yaml")
		if loose, lerr := asMap(file, root, nil); lerr == nil {
			if v, _ := loose.str("id", false); v != "" {
				id = v
			}
		}
		l.add(id, err)
		return nil
	}
	it := &Item{File: file, Line: m.node.Line, factIndex: map[string]*FactSpec{}, paramIndex: map[string]*Parameter{}}
	var e error
	it.ID, e = m.str("id", true)
	l.check("", e)
	id := it.ID
	if want := strings.TrimSuffix(path.Base(file), ".yaml"); id != "" && id != want {
		l.addAt(file, m.line("id"), id, "item id %q does not match its file name %s", id, path.Base(file))
	}
	it.Name, e = m.str("name", true)
	l.check(id, e)
	it.NameEn, _ = m.str("name_en", false)
	it.Article, e = m.integer("article", true)
	l.check(id, e)
	it.Departments, e = m.strs("departments")
	l.check(id, e)
	it.Review, e = m.boolean("review")
	l.check(id, e)
	it.Pool, _ = m.str("pool", false)
	it.YearFact, _ = m.str("year_fact", false)
	it.ProjectFact, _ = m.str("project_fact", false)
	it.EnterpriseRequires, _ = m.strs("enterprise_requires")
	it.External, _ = m.str("external", false)
	it.Ceiling, _ = m.str("ceiling", false)
	it.CeilingLine = m.line("ceiling")
	if len(it.Departments) == 0 {
		l.addAt(file, m.node.Line, id, "no departments (責任部門)")
	}
	for _, d := range it.Departments {
		if b.deptIndex[d] == nil {
			l.addAt(file, m.line("departments"), id, "unknown department %q", d)
		}
	}
	it.Facts = l.facts(file, id, m.vals["facts"])
	for _, f := range it.Facts {
		if _, dup := it.factIndex[f.Name]; dup {
			l.addAt(file, f.Line, id, "fact %s declared twice", f.Name)
		}
		it.factIndex[f.Name] = f
	}
	if pn := m.vals["parameters"]; pn != nil {
		pm, err := asMap(file, pn, nil)
		if err != nil {
			l.add(id, err)
		} else {
			for _, name := range pm.keys {
				p := l.param(file, id, name, "", pm.vals[name], false)
				if !validIdent(name) {
					l.addAt(file, p.Line, id, "parameter name %q is not an identifier", name)
				}
				if it.factIndex[name] != nil {
					l.addAt(file, p.Line, id, "parameter %s has the name of a fact", name)
				}
				it.Parameters = append(it.Parameters, p)
				it.paramIndex[name] = p
			}
		}
	}
	conds, err := m.seq("conditions")
	l.check(id, err)
	for _, n := range conds {
		cm, err := asMap(file, n, []string{"when", "reason", "reading"})
		if err != nil {
			l.add(id, err)
			continue
		}
		c := &Condition{Line: cm.node.Line}
		c.When, e = cm.str("when", true)
		l.check(id, e)
		c.Reason, e = cm.str("reason", true)
		l.check(id, e)
		c.Reading, _ = cm.str("reading", false)
		it.Conditions = append(it.Conditions, c)
	}
	caps, err := m.seq("caps")
	l.check(id, err)
	for _, n := range caps {
		cm, err := asMap(file, n, []string{"scope", "amount", "reading", "reason_cut", "reason_zero", "ledger_limit"})
		if err != nil {
			l.add(id, err)
			continue
		}
		c := &Cap{Line: cm.node.Line, ReasonCut: "capped", ReasonZero: "cap_reached"}
		c.Scope, _ = cm.str("scope", false)
		c.Amount, _ = cm.str("amount", false)
		c.Reading, _ = cm.str("reading", false)
		c.LedgerLimit, _ = cm.str("ledger_limit", false)
		if cm.has("reason_cut") {
			c.ReasonCut, _ = cm.str("reason_cut", false)
		}
		if cm.has("reason_zero") {
			c.ReasonZero, _ = cm.str("reason_zero", false)
		}
		once := c.Scope == ScopeOnceEnterprise || c.Scope == ScopeOnceProject
		if once && !cm.has("reason_zero") {
			c.ReasonZero = "already_granted"
		}
		switch {
		case c.Scope == "":
			l.addAt(file, c.Line, id, "cap without a scope (one of %s)", strings.Join(capScopes, ", "))
		case !slices.Contains(capScopes, c.Scope):
			l.addAt(file, c.Line, id, "cap scope %q is not one of %s", c.Scope, strings.Join(capScopes, ", "))
		case once && c.Amount != "":
			l.addAt(file, c.Line, id, "a %s cap takes no amount", c.Scope)
		case !once && c.Amount == "":
			l.addAt(file, c.Line, id, "a %s cap needs an amount", c.Scope)
		}
		if (c.Scope == ScopeProject || c.Scope == ScopeProjectYear || c.Scope == ScopeOnceProject) && it.ProjectFact == "" {
			l.addAt(file, c.Line, id, "a %s cap needs the item's project_fact", c.Scope)
		}
		it.Caps = append(it.Caps, c)
	}
	mats, err := m.seq("materials")
	l.check(id, err)
	for _, n := range mats {
		mm, err := asMap(file, n, []string{"id", "name", "name_en"})
		if err != nil {
			l.add(id, err)
			continue
		}
		var mt Material
		mt.ID, _ = mm.str("id", true)
		mt.Name, _ = mm.str("name", true)
		mt.NameEn, _ = mm.str("name_en", false)
		it.Materials = append(it.Materials, mt)
	}
	if it.External == "" && it.Ceiling == "" {
		l.addAt(file, m.node.Line, id, "item has neither a ceiling formula nor external: <reason>")
	}
	if it.External != "" && (it.Ceiling != "" || len(it.Caps) > 0) {
		l.addAt(file, m.node.Line, id, "an external item has no formula or caps")
	}
	return it
}

func (l *loader) articles(b *Bundle, root *yaml.Node) {
	const f = "articles.yaml"
	m, err := asMap(f, root, []string{"articles", "sections"})
	if err != nil {
		l.add("", err)
		return
	}
	arts, err := m.seq("articles")
	l.check("", err)
	for _, n := range arts {
		am, err := asMap(f, n, []string{"number", "chapter", "title", "departments", "monetary", "text"})
		if err != nil {
			l.add("", err)
			continue
		}
		a := &Article{}
		var e error
		a.Number, e = am.integer("number", true)
		l.check("", e)
		a.Chapter, _ = am.str("chapter", false)
		a.Title, _ = am.str("title", false)
		a.Text, e = am.str("text", true)
		l.check("", e)
		a.Departments, _ = am.strs("departments")
		a.Monetary, e = am.boolean("monetary")
		l.check("", e)
		for _, d := range a.Departments {
			if b.deptIndex[d] == nil {
				l.addAt(f, am.line("departments"), "", "article %d: unknown department %q", a.Number, d)
			}
		}
		if _, dup := b.artIndex[a.Number]; dup {
			l.addAt(f, am.node.Line, "", "article %d given twice", a.Number)
			continue
		}
		b.Articles = append(b.Articles, a)
		b.artIndex[a.Number] = a
	}
	secs, err := m.seq("sections")
	l.check("", err)
	for _, n := range secs {
		sm, err := asMap(f, n, []string{"id", "title", "text"})
		if err != nil {
			l.add("", err)
			continue
		}
		s := &Section{}
		s.ID, _ = sm.str("id", true)
		s.Title, _ = sm.str("title", false)
		s.Text, _ = sm.str("text", false)
		b.Sections = append(b.Sections, s)
	}
}

// crossCheck verifies references between files.
func (l *loader) crossCheck(b *Bundle) {
	for _, p := range b.Pools {
		if b.artIndex[p.Article] == nil {
			l.addAt("policy.yaml", p.Annual.Line, "", "pool %s cites article %d, which does not exist", p.ID, p.Article)
		}
		l.coverage("policy.yaml", "", p.Annual, b.InForce)
	}
	for _, r := range b.Eligibility {
		facts := append([]string{r.Fact}, r.Any...)
		for _, f := range facts {
			if b.entFacts[f] == nil && b.claimFacts[f] == nil {
				l.addAt("policy.yaml", r.Line, "", "eligibility rule names unknown fact %q", f)
			}
		}
		if r.Rule == "no_recent_records" {
			fs := b.entFacts[r.Fact]
			if fs == nil || fs.Type != TypeRecords || fs.Field("date") == nil {
				l.addAt("policy.yaml", r.Line, "", "no_recent_records needs a records fact with a date field")
			}
		}
	}
	for _, it := range b.Items {
		a := b.artIndex[it.Article]
		switch {
		case a == nil:
			l.addAt(it.File, it.Line, it.ID, "article %d does not exist in articles.yaml", it.Article)
		case !a.Monetary:
			l.addAt(it.File, it.Line, it.ID, "article %d is marked non-monetary and cannot carry an item", it.Article)
		default:
			a.Items = append(a.Items, it.ID)
		}
		if it.Pool != "" {
			p := b.poolIndex[it.Pool]
			if p == nil {
				l.addAt(it.File, it.Line, it.ID, "unknown pool %q", it.Pool)
			} else {
				b.poolByItem[it.ID] = p
			}
			if it.YearFact == "" {
				l.addAt(it.File, it.Line, it.ID, "an item with an annual pool needs a year_fact")
			}
		}
		if it.YearFact != "" {
			if f := it.factIndex[it.YearFact]; f == nil || f.Type != TypeYear {
				l.addAt(it.File, it.Line, it.ID, "year_fact %q is not a fact of type year", it.YearFact)
			}
		}
		if it.ProjectFact != "" {
			if f := it.factIndex[it.ProjectFact]; f == nil || f.Type != TypeString {
				l.addAt(it.File, it.Line, it.ID, "project_fact %q is not a fact of type string", it.ProjectFact)
			}
		}
		for _, r := range it.EnterpriseRequires {
			if f := b.entFacts[r]; f == nil || f.Type != TypeBool {
				l.addAt(it.File, it.Line, it.ID, "enterprise_requires names %q, which is not a bool enterprise fact", r)
			}
		}
		for _, f := range it.Facts {
			if cf := b.claimFacts[f.Name]; cf != nil && cf.Type == f.Type {
				continue // the item makes a policy-wide claim fact its own (project)
			}
			if b.entFacts[f.Name] != nil || b.claimFacts[f.Name] != nil {
				l.addAt(it.File, f.Line, it.ID, "fact %s hides a policy-wide fact of the same name", f.Name)
			}
		}
		for _, p := range it.Parameters {
			l.coverage(it.File, it.ID, p, b.InForce)
		}
	}
	for _, a := range b.Articles {
		if a.Monetary && len(a.Items) == 0 {
			l.addAt("articles.yaml", 0, "", "article %d is monetary but no item cites it", a.Number)
		}
	}
}

// coverage checks that a parameter has a value on every day the policy is
// in force, so evaluation never meets an undefined parameter.
func (l *loader) coverage(file, item string, p *Parameter, w Window) {
	if len(p.Values) == 0 {
		return
	}
	if p.Values[0].From > w.From {
		l.addAt(file, p.Line, item, "parameter %s has no value from %s to %s", p.Name, w.From, p.Values[0].From-1)
	}
	for i, v := range p.Values {
		if v.Until == 0 || v.Until >= w.Until {
			continue
		}
		if i+1 == len(p.Values) || p.Values[i+1].From > v.Until+1 {
			l.addAt(file, v.Line, item, "parameter %s has no value after %s", p.Name, v.Until)
		}
	}
}
