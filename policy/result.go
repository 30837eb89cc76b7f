package policy

import (
	"fmt"
	"slices"

	"policydesk/money"
)

// ResultView is a Result as the API and the CLI print it: amounts as yuan
// strings with two decimals, the trace rendered in one language.
type ResultView struct {
	Item           string     `json:"item"`
	Name           string     `json:"name"`
	Status         Status     `json:"status"`
	Amount         string     `json:"amount"`
	Ceiling        string     `json:"ceiling"` // the most the rules allow
	Formula        string     `json:"formula"` // the item's formula before caps, history and pool
	Reasons        []string   `json:"reasons"`
	Missing        []string   `json:"missing,omitempty"`
	ReviewRequired bool       `json:"review_required"`
	Article        int        `json:"article"`
	Departments    []string   `json:"departments"`
	Year           int        `json:"year,omitempty"`
	Project        string     `json:"project,omitempty"`
	Trace          []StepView `json:"trace"`
}

// StepView is one rendered step.
type StepView struct {
	Step    StepKind    `json:"step"`
	Article int         `json:"article,omitempty"`
	Ref     string      `json:"ref,omitempty"`
	Text    string      `json:"text"`
	Before  *string     `json:"before,omitempty"`
	After   *string     `json:"after,omitempty"`
	Params  []ParamView `json:"params,omitempty"`
}

// ParamView is a parameter value used, with its date.
type ParamView struct {
	Name  string   `json:"name"`
	Type  FactType `json:"type"`
	Value string   `json:"value"`
	From  Date     `json:"from"`
}

// View renders r in lang.
func (b *Bundle) View(r *Result, lang Lang) ResultView {
	it := b.itemIndex[r.Item]
	v := ResultView{
		Item: r.Item, Status: r.Status, Amount: money.Format(r.Amount), Ceiling: money.Format(r.Ceiling), Formula: money.Format(r.Formula),
		Reasons: r.Reasons, Missing: r.Missing, ReviewRequired: r.ReviewRequired, Article: r.Article,
		Year: r.Year, Project: r.Project, Trace: make([]StepView, 0, len(r.Trace)),
	}
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	if it != nil {
		v.Name = Hans(it.Name)
		if lang == English && it.NameEn != "" {
			v.Name = it.NameEn
		}
		v.Departments = slices.Clone(it.Departments)
	}
	for _, s := range r.Trace {
		sv := StepView{Step: s.Kind, Article: s.Article, Ref: s.Ref(lang), Text: s.Text(b, it, lang)}
		switch s.Kind {
		case StepCap, StepOverlap, StepPool:
			bf, af := money.Format(s.Before), money.Format(s.After)
			sv.Before, sv.After = &bf, &af
		case StepFormula:
			af := money.Format(s.After)
			sv.After = &af
			for _, p := range s.Params {
				val := p.Value.String()
				if p.Type == TypeMoney {
					val = money.Format(p.Value.Floor())
				}
				sv.Params = append(sv.Params, ParamView{Name: p.Name, Type: p.Type, Value: val, From: p.From})
			}
		}
		v.Trace = append(v.Trace, sv)
	}
	return v
}

// Explain writes a result for a person, one step a line.
func (b *Bundle) Explain(r *Result, lang Lang) string {
	v := b.View(r, lang)
	var s string
	head := map[Lang]string{Chinese: "%s(%s,%s):%s,金额 %s 元", English: "%s (%s, %s): %s, amount %s yuan"}[lang]
	s = fmt.Sprintf(head, v.Name, v.Item, ArticleName(v.Article, lang), statusText(v.Status, lang), money.FormatGrouped(r.Amount))
	if len(v.Reasons) > 0 {
		s += fmt.Sprintf(map[Lang]string{Chinese: "  原因:%v", English: "  reasons: %v"}[lang], v.Reasons)
	}
	s += "\n"
	for i, st := range v.Trace {
		s += fmt.Sprintf("  %d. %s\n", i+1, st.Text)
	}
	return s
}

func statusText(s Status, lang Lang) string {
	if lang == English {
		return string(s)
	}
	switch s {
	case Eligible:
		return "符合条件"
	case Ineligible:
		return "不符合条件"
	case Incomplete:
		return "信息不全"
	case External:
		return "按其他政策办理"
	}
	return string(s)
}
