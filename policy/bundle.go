// Package policy is policydesk's rules engine: it loads a policy bundle
// (typed YAML with CEL predicates and formulas), type-checks it, and
// evaluates claims exactly as shared/policy/RULES.md reads 京技管發〔2024〕29號,
// with a trace that cites the article behind every step.
//
// The package is pure: no database, no network, no clock. Callers pass the
// evaluation date, the enterprise's facts, its grant history and what is left
// in the pools.
package policy

import (
	"github.com/google/cel-go/cel"
)

// FactType is the type of a fact.
type FactType string

// Fact types of the bundle schema.
const (
	TypeMoney   FactType = "money"   // yuan with ≤2 decimals, held as fen
	TypeYear    FactType = "year"    // a calendar year
	TypeInt     FactType = "int"     // a whole number
	TypeBool    FactType = "bool"    // true or false
	TypeString  FactType = "string"  // free text, e.g. a project name
	TypeEnum    FactType = "enum"    // one of Values
	TypeDate    FactType = "date"    // YYYY-MM-DD
	TypeRecords FactType = "records" // a list of records with Fields
	TypeRatio   FactType = "ratio"   // parameters only: an exact ratio n/d
)

// FactSpec declares a fact: its type, allowed values and labels.
type FactSpec struct {
	Name       string
	Type       FactType
	Label      string
	LabelEn    string
	Optional   bool     // absent is not a missing fact
	MustBeTrue bool     // bool facts: false gives requirement_not_met:<name>
	InWindow   bool     // date facts: must fall inside the policy window (R4)
	Values     []string // enum
	Labels     []string // enum: a label per value
	Fields     []*FactSpec
	File       string
	Line       int
}

// Field returns the record field named name.
func (f *FactSpec) Field(name string) *FactSpec {
	for _, x := range f.Fields {
		if x.Name == name {
			return x
		}
	}
	return nil
}

// Department is a 責任部門.
type Department struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	NameEn string `json:"name_en"`
}

// Window is a closed date interval.
type Window struct {
	From  Date `json:"from"`
	Until Date `json:"until"`
}

// Contains reports whether d is inside the window, both ends included.
func (w Window) Contains(d Date) bool { return d >= w.From && d <= w.Until }

// Supersession records an earlier policy this one repeals.
type Supersession struct {
	ID           string `json:"id"`
	DocNumber    string `json:"doc_number"`
	RepealedFrom Date   `json:"repealed_from"`
}

// DatedValue is one value of a parameter, in force from From (and until
// Until, when set) like OpenFisca's dated parameters.
type DatedValue struct {
	From  Date
	Until Date // 0: until replaced
	Raw   string
	Rat   Rat // money in fen, ratios, ints: all exact
	Line  int
}

// Parameter is a named, dated value used by formulas and caps.
type Parameter struct {
	Name   string
	Type   FactType // money, ratio or int
	Values []DatedValue
	File   string
	Line   int
}

// At returns the value in force on d.
func (p *Parameter) At(d Date) (DatedValue, bool) {
	for i := len(p.Values) - 1; i >= 0; i-- {
		v := p.Values[i]
		if v.From <= d && (v.Until == 0 || d <= v.Until) {
			return v, true
		}
	}
	return DatedValue{}, false
}

// Pool is an annual budget shared by all claims of an item (算力券, 模型券).
type Pool struct {
	ID      string
	Name    string
	NameEn  string
	Article int
	Annual  *Parameter
}

// Article is one article of the policy.
type Article struct {
	Number      int      `json:"number"`
	Chapter     string   `json:"chapter"`
	Title       string   `json:"title"`
	Departments []string `json:"departments"`
	Monetary    bool     `json:"monetary"`
	Text        string   `json:"text"`
	Items       []string `json:"items,omitempty"`
}

// Section is an unnumbered part of the policy (總體目標, 保障措施, 附則).
type Section struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// EligibilityRule is one global condition of 附則.
type EligibilityRule struct {
	Rule    string // require_true, require_false, no_recent_records, require_any_if
	Fact    string
	Kinds   []string
	Years   int
	Any     []string
	Reason  string
	Section string
	Reading string
	Line    int
}

// Cap scopes (RULES.md §4 "How history meets a cap").
const (
	ScopeEnterpriseYear = "enterprise_year" // same item and year
	ScopeEnterprise     = "enterprise"      // same item, any year
	ScopeProject        = "project"         // same item and project, cumulative
	ScopeProjectYear    = "project_year"    // same item, project and year
	ScopeOnceEnterprise = "once_enterprise" // any history of the item
	ScopeOnceProject    = "once_project"    // any history of the item and project
)

var capScopes = []string{ScopeEnterpriseYear, ScopeEnterprise, ScopeProject, ScopeProjectYear, ScopeOnceEnterprise, ScopeOnceProject}

// Cap limits an item's amount, net of history in its scope.
type Cap struct {
	Scope      string
	Amount     string // CEL, type rat (fen); empty for once scopes
	Reading    string
	ReasonCut  string // reason when the cap cuts the amount; "" for none
	ReasonZero string // reason when nothing is left
	// LedgerLimit is the limit of the cap's ledger account, when it differs
	// from Amount (晉級補差: the group can pay at most the top tier).
	LedgerLimit string
	Line        int
	prog        cel.Program
	ledgerProg  cel.Program
}

// Condition is a CEL predicate; when false the claim is ineligible with Reason.
type Condition struct {
	When    string
	Reason  string
	Reading string
	Line    int
	prog    cel.Program
}

// Material is a document an applicant prepares for an item.
type Material struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	NameEn string `json:"name_en"`
}

// Item is a 支援事項: something an enterprise may be granted.
type Item struct {
	ID                 string
	Name               string
	NameEn             string
	Article            int
	Departments        []string
	Review             bool
	Pool               string
	YearFact           string
	ProjectFact        string
	EnterpriseRequires []string
	Facts              []*FactSpec
	Parameters         []*Parameter
	Conditions         []*Condition
	Ceiling            string
	CeilingLine        int
	Caps               []*Cap
	External           string // reason code when the item is computed elsewhere
	Materials          []Material
	File               string
	Line               int

	factIndex  map[string]*FactSpec
	paramIndex map[string]*Parameter
	vars       []string       // CEL variable names in activation order
	varIndex   map[string]int // name → index in vars
	ceilProg   cel.Program
	ceilParams []*Parameter // parameters the ceiling formula uses
}

// Fact returns the item's fact spec named name.
func (it *Item) Fact(name string) *FactSpec { return it.factIndex[name] }

// Param returns the item's parameter named name.
func (it *Item) Param(name string) *Parameter { return it.paramIndex[name] }

// Bundle is a loaded, checked policy.
type Bundle struct {
	ID              string
	DocNumber       string
	Title           string
	TitleEn         string
	Issuer          string
	Issued          Date
	InForce         Window
	Supersedes      []Supersession
	Interpreter     string
	Departments     []Department
	EnterpriseFacts []*FactSpec
	ClaimFacts      []*FactSpec
	Eligibility     []*EligibilityRule
	Pools           []*Pool
	Articles        []*Article
	Sections        []*Section
	Items           []*Item

	itemIndex  map[string]*Item
	poolIndex  map[string]*Pool
	deptIndex  map[string]*Department
	artIndex   map[int]*Article
	entFacts   map[string]*FactSpec
	claimFacts map[string]*FactSpec
	poolByItem map[string]*Pool
}

// Item returns the item with id, or nil.
func (b *Bundle) Item(id string) *Item { return b.itemIndex[id] }

// Pool returns the pool with id, or nil.
func (b *Bundle) Pool(id string) *Pool { return b.poolIndex[id] }

// Department returns the department with id, or nil.
func (b *Bundle) Department(id string) *Department { return b.deptIndex[id] }

// Article returns article n, or nil.
func (b *Bundle) Article(n int) *Article { return b.artIndex[n] }

// EnterpriseFact returns the enterprise fact spec named name, or nil.
func (b *Bundle) EnterpriseFact(name string) *FactSpec { return b.entFacts[name] }

// Years returns the calendar years the policy is in force (2024–2027).
func (b *Bundle) Years() (from, to int) { return b.InForce.From.Year(), b.InForce.Until.Year() }
