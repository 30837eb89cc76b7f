package web

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"policydesk/money"
	"policydesk/policy"
)

// The policy bundle is written in Traditional Chinese, as the policy file
// is; pages and the API show Simplified Chinese. The catalog converts every
// text once, at startup (hans, hans.go), and keeps the result.

// PolicyDoc is GET /api/v1/policy: the whole policy in Simplified Chinese,
// with English names where the bundle has them.
type PolicyDoc struct {
	ID              string          `json:"id"`
	DocNumber       string          `json:"doc_number"`
	Title           string          `json:"title"`
	TitleEn         string          `json:"title_en"`
	Issuer          string          `json:"issuer"`
	Issued          string          `json:"issued" doc:"YYYY-MM-DD"`
	InForceFrom     string          `json:"in_force_from" doc:"YYYY-MM-DD"`
	InForceUntil    string          `json:"in_force_until" doc:"YYYY-MM-DD"`
	Sections        []SectionDoc    `json:"sections"`
	Departments     []DepartmentDoc `json:"departments"`
	Articles        []ArticleDoc    `json:"articles"`
	Items           []ItemDoc       `json:"items"`
	EnterpriseFacts []FactDoc       `json:"enterprise_facts"`
	Pools           []PoolDoc       `json:"pools"`
}

// SectionDoc is an unnumbered part of the policy (总体目标, 保障措施, 附则).
type SectionDoc struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// DepartmentDoc is a 责任部门.
type DepartmentDoc struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	NameEn string `json:"name_en"`
}

// ArticleDoc is one article.
type ArticleDoc struct {
	Number      int      `json:"number"`
	Name        string   `json:"name" doc:"第N条"`
	Chapter     string   `json:"chapter"`
	Title       string   `json:"title"`
	Text        string   `json:"text"`
	Departments []string `json:"departments"`
	Monetary    bool     `json:"monetary" doc:"false: the article grants services, not money"`
	Items       []string `json:"items"`
}

// ItemDoc is a 支持事项.
type ItemDoc struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	NameEn      string        `json:"name_en"`
	Article     int           `json:"article"`
	Departments []string      `json:"departments"`
	Review      bool          `json:"review_required" doc:"经评审认定"`
	Pool        string        `json:"pool,omitempty"`
	Summary     string        `json:"summary" doc:"the amount at a glance, e.g. 按30%，最高2000万元"`
	Facts       []FactDoc     `json:"facts"`
	Materials   []MaterialDoc `json:"materials"`
	Parameters  []ParamDoc    `json:"parameters"`
}

// FactDoc is a fact a claim or an enterprise needs.
type FactDoc struct {
	Name     string    `json:"name"`
	Type     string    `json:"type" doc:"money, year, int, bool, string, enum, date or records"`
	Label    string    `json:"label"`
	LabelEn  string    `json:"label_en"`
	Optional bool      `json:"optional"`
	Values   []string  `json:"values,omitempty" doc:"enum: the allowed values"`
	Labels   []string  `json:"labels,omitempty" doc:"enum: a label per value"`
	Fields   []FactDoc `json:"fields,omitempty" doc:"records: the fields of each record"`
}

// MaterialDoc is a document to prepare.
type MaterialDoc struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	NameEn string `json:"name_en"`
}

// ParamDoc is a parameter's value in force today.
type ParamDoc struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Type  string `json:"type" doc:"money (yuan), ratio or int"`
	Value string `json:"value"`
	Text  string `json:"text" doc:"for people: 30%, 2000万元"`
	From  string `json:"from" doc:"in force from YYYY-MM-DD"`
}

// PoolDoc is an annual pool.
type PoolDoc struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	NameEn  string `json:"name_en"`
	Article int    `json:"article"`
	Annual  string `json:"annual" doc:"yuan a year"`
	Text    string `json:"text"`
}

// catalog is the policy as pages show it.
type catalog struct {
	doc      PolicyDoc
	json     []byte
	goals    string
	articles []*articleView
	chapters []*chapterView
	items    []*itemView
	itemByID map[string]*itemView
	depts    map[string]string // id → Simplified name
	entFacts []*factView
}

type chapterView struct {
	Title    string
	Articles []*articleView
}

type articleView struct {
	ArticleDoc
	DeptNames []string
	ItemViews []*itemView
}

type itemView struct {
	ItemDoc
	ArticleName string
	DeptNames   []string
	Rate        string
	Max         string
	FactViews   []*factView
}

// factView is a fact as a form field.
type factView struct {
	FactDoc
	Field   string // the form field's name: ent.NAME, f.NAME, or NAME inside records
	Input   string // text, number, date, select, records
	Hint    string
	Options []option
	Sub     []*factView
	Rows    []int // records: the row numbers of the form
}

type option struct{ Value, Label string }

// fallbackEnumLabels name enum values the bundle leaves without labels.
var fallbackEnumLabels = map[string]string{
	"major_administrative": "重大行政处罚",
	"criminal":             "刑事犯罪",
}

func buildCatalog(b *policy.Bundle) *catalog {
	h := hans
	today := policy.DateOf(time.Now())
	if !b.InForce.Contains(today) {
		today = b.InForce.From
		if policy.DateOf(time.Now()) > b.InForce.Until {
			today = b.InForce.Until
		}
	}
	c := &catalog{itemByID: map[string]*itemView{}, depts: map[string]string{}}
	d := PolicyDoc{
		ID: b.ID, DocNumber: h(b.DocNumber), Title: h(b.Title), TitleEn: b.TitleEn, Issuer: h(b.Issuer),
		Issued: b.Issued.String(), InForceFrom: b.InForce.From.String(), InForceUntil: b.InForce.Until.String(),
	}
	for _, dep := range b.Departments {
		d.Departments = append(d.Departments, DepartmentDoc{ID: dep.ID, Name: h(dep.Name), NameEn: dep.NameEn})
		c.depts[dep.ID] = h(dep.Name)
	}
	deptNames := func(ids []string) []string {
		out := make([]string, 0, len(ids))
		for _, id := range ids {
			if n := c.depts[id]; n != "" {
				out = append(out, n)
			} else {
				out = append(out, id)
			}
		}
		return out
	}
	for _, s := range b.Sections {
		d.Sections = append(d.Sections, SectionDoc{ID: s.ID, Title: h(s.Title), Text: h(s.Text)})
		if s.ID == "goals" {
			c.goals = h(s.Text)
		}
	}
	for _, f := range b.EnterpriseFacts {
		fd := factDoc(f)
		d.EnterpriseFacts = append(d.EnterpriseFacts, fd)
		c.entFacts = append(c.entFacts, factViewOf(fd, "ent."))
	}
	for _, it := range b.Items {
		iv := &itemView{ItemDoc: ItemDoc{
			ID: it.ID, Name: h(it.Name), NameEn: it.NameEn, Article: it.Article, Departments: slices.Clone(it.Departments),
			Review: it.Review, Pool: it.Pool, Facts: []FactDoc{}, Materials: []MaterialDoc{}, Parameters: []ParamDoc{},
		}}
		iv.ArticleName = policy.ArticleName(it.Article, policy.Chinese)
		iv.DeptNames = deptNames(it.Departments)
		enumLabels := map[string]string{}
		for _, f := range it.Facts {
			fd := factDoc(f)
			iv.Facts = append(iv.Facts, fd)
			iv.FactViews = append(iv.FactViews, factViewOf(fd, "f."))
			for i, v := range fd.Values {
				if i < len(fd.Labels) {
					enumLabels[v] = fd.Labels[i]
				}
			}
		}
		for _, m := range it.Materials {
			iv.Materials = append(iv.Materials, MaterialDoc{ID: m.ID, Name: h(m.Name), NameEn: m.NameEn})
		}
		var maxMoney int64 = -1
		for _, p := range it.Parameters {
			v, ok := p.At(today)
			if !ok {
				continue
			}
			pd := ParamDoc{Name: p.Name, Label: paramLabel(p.Name, enumLabels), Type: string(p.Type), From: v.From.String()}
			switch p.Type {
			case policy.TypeMoney:
				pd.Value = money.Format(v.Rat.Floor())
				pd.Text = money.Wan(v.Rat.Floor())
				if p.Name != "threshold" && v.Rat.Floor() > maxMoney {
					maxMoney = v.Rat.Floor()
				}
			case policy.TypeRatio:
				pd.Value = v.Rat.String()
				pd.Text = v.Rat.Percent()
				if p.Name == "rate" {
					iv.Rate = pd.Text
				}
			default:
				pd.Value = v.Rat.String()
				pd.Text = pd.Value
			}
			iv.Parameters = append(iv.Parameters, pd)
		}
		if maxMoney >= 0 {
			iv.Max = money.Wan(maxMoney)
		}
		switch {
		case iv.Rate != "" && iv.Max != "":
			iv.Summary = "按 " + iv.Rate + "，最高 " + iv.Max
		case iv.Rate != "":
			iv.Summary = "按 " + iv.Rate
		case iv.Max != "":
			iv.Summary = "最高 " + iv.Max
		}
		d.Items = append(d.Items, iv.ItemDoc)
		c.items = append(c.items, iv)
		c.itemByID[it.ID] = iv
	}
	for _, a := range b.Articles {
		ad := ArticleDoc{Number: a.Number, Name: policy.ArticleName(a.Number, policy.Chinese), Chapter: h(a.Chapter),
			Title: h(a.Title), Text: h(a.Text), Departments: slices.Clone(a.Departments), Monetary: a.Monetary, Items: []string{}}
		av := &articleView{DeptNames: deptNames(a.Departments)}
		for _, it := range c.items {
			if it.Article == a.Number {
				ad.Items = append(ad.Items, it.ID)
				av.ItemViews = append(av.ItemViews, it)
			}
		}
		av.ArticleDoc = ad
		d.Articles = append(d.Articles, ad)
		c.articles = append(c.articles, av)
	}
	c.chapters = chaptersOf(c.articles)
	for _, p := range b.Pools {
		pd := PoolDoc{ID: p.ID, Name: h(p.Name), NameEn: p.NameEn, Article: p.Article}
		if v, ok := p.Annual.At(today); ok {
			pd.Annual = money.Format(v.Rat.Floor())
			pd.Text = "每年 " + bigYuan(v.Rat.Floor())
		}
		d.Pools = append(d.Pools, pd)
	}
	c.doc = d
	c.json, _ = json.Marshal(d)
	return c
}

func factDoc(f *policy.FactSpec) FactDoc {
	fd := FactDoc{Name: f.Name, Type: string(f.Type), Label: hans(f.Label), LabelEn: f.LabelEn, Optional: f.Optional}
	if fd.Label == "" {
		fd.Label = f.Name
	}
	if f.Type == policy.TypeEnum {
		fd.Values = slices.Clone(f.Values)
		for i, v := range f.Values {
			l := v
			if i < len(f.Labels) {
				l = hans(f.Labels[i])
			} else if fl, ok := fallbackEnumLabels[v]; ok {
				l = fl
			}
			fd.Labels = append(fd.Labels, l)
		}
	}
	for _, sub := range f.Fields {
		fd.Fields = append(fd.Fields, factDoc(sub))
	}
	return fd
}

// recordRows is how many records a form offers for a records fact.
const recordRows = 3

func factViewOf(fd FactDoc, prefix string) *factView {
	fv := &factView{FactDoc: fd, Field: prefix + fd.Name}
	switch policy.FactType(fd.Type) {
	case policy.TypeMoney:
		fv.Input, fv.Hint = "text", "元，至多两位小数"
	case policy.TypeYear:
		fv.Input, fv.Hint = "number", "年份，如 2025"
	case policy.TypeInt:
		fv.Input = "number"
	case policy.TypeDate:
		fv.Input = "date"
	case policy.TypeBool:
		fv.Input = "select"
		fv.Options = []option{{"true", "是"}, {"false", "否"}}
	case policy.TypeEnum:
		fv.Input = "select"
		for i, v := range fd.Values {
			fv.Options = append(fv.Options, option{v, fd.Labels[i]})
		}
	case policy.TypeRecords:
		fv.Input = "records"
		for _, sub := range fd.Fields {
			fv.Sub = append(fv.Sub, factViewOf(sub, ""))
		}
		for i := range recordRows {
			fv.Rows = append(fv.Rows, i)
		}
	default:
		fv.Input = "text"
	}
	return fv
}

// paramLabel names a parameter in Chinese: the label of the enum value it
// is named after (专精特新 tiers, standard levels), else a common name.
func paramLabel(name string, enumLabels map[string]string) string {
	if l, ok := enumLabels[name]; ok {
		return l + "支持金额"
	}
	if stem, ok := strings.CutSuffix(name, "_cap"); ok {
		if l, ok := enumLabels[stem]; ok {
			return l + "上限"
		}
	}
	labels := map[string]string{
		"rate": "支持比例", "award": "支持金额", "threshold": "投资门槛", "software_share": "软件投入计入比例上限",
		"yearly_cap": "每年上限", "enterprise_cap": "每家单位上限", "project_cap": "每个项目上限",
		"project_year_cap": "每个项目每年上限", "national_match": "国家奖励配套比例", "beijing_match": "北京市奖励配套比例",
	}
	if l, ok := labels[name]; ok {
		return l
	}
	return name
}

// chaptersOf groups articles, in order, by their chapter.
func chaptersOf(articles []*articleView) []*chapterView {
	var out []*chapterView
	for _, av := range articles {
		if len(out) == 0 || out[len(out)-1].Title != av.Chapter {
			out = append(out, &chapterView{Title: av.Chapter})
		}
		last := out[len(out)-1]
		last.Articles = append(last.Articles, av)
	}
	return out
}

func (c *catalog) item(id string) *itemView { return c.itemByID[id] }

// deptName returns a department's Simplified name.
func (c *catalog) deptName(id string) string {
	if n, ok := c.depts[id]; ok {
		return n
	}
	return id
}

// deptNameEn names a department in English, when the bundle does.
func (c *catalog) deptNameEn(id string) string {
	for _, d := range c.doc.Departments {
		if d.ID == id && d.NameEn != "" {
			return d.NameEn
		}
	}
	return c.deptName(id)
}

// bigYuan writes a budget for people: whole 亿元 as 亿, else as money.Wan.
func bigYuan(fen int64) string {
	const yi = 100_000_000 * 100
	if fen > 0 && fen%yi == 0 {
		return strconv.FormatInt(fen/yi, 10) + "亿元"
	}
	return money.Wan(fen)
}
