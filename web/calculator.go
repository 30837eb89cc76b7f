package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"policydesk/auth"
	"policydesk/policy"
)

// calcUSCC stands in for the enterprise's credit code when a visitor
// leaves it empty: the calculator estimates, it does not apply.
const calcUSCC = "91110302MA01AB3C7G"

// calcForm is the calculator's form, as posted and as shown again.
type calcForm struct {
	Item   *itemView
	Date   string
	USCC   string
	Values url.Values
}

// value returns a posted value for a field name, for re-filling the form.
func (f calcForm) value(name string) string { return f.Values.Get(name) }

type calcResult struct {
	View    policy.ResultView
	Status  string   // 符合条件…
	Class   string   // ok, no, partial
	Missing []string // labels of the facts still needed
}

type calcPage struct {
	pageData
	Items  []*itemView
	Ent    []*factView
	Form   calcForm
	Result *calcResult
	Error  *ErrorBody
}

func (s *Server) calcDefaults(r *http.Request) calcForm {
	today := policy.DateOf(s.cfg.Now())
	b := s.deps.Bundle
	if !b.InForce.Contains(today) && today > b.InForce.Until {
		today = b.InForce.Until
	}
	return calcForm{Date: today.String(), Values: url.Values{}}
}

// handleCalculator shows the form: with ?item=ID, that item's facts too.
func (s *Server) handleCalculator(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	form := s.calcDefaults(r)
	if id := r.URL.Query().Get("item"); id != "" {
		form.Item = s.catOf(r).item(id)
		if form.Item == nil {
			return errUnknownItem(id)
		}
	}
	// Sensible defaults: most visitors operate in the zone, clean.
	form.Values.Set("ent.in_etown", "true")
	form.Values.Set("ent.serious_dishonesty_listed", "false")
	if p.Role == auth.RoleEnterprise {
		form.USCC = p.Enterprise
	}
	return s.render(w, r, http.StatusOK, "calculator", calcPage{pageData: s.page(r, p, "政策计算器", "calculator"),
		Items: s.catOf(r).items, Ent: s.catOf(r).entFacts, Form: form})
}

func errUnknownItem(id string) error {
	return &policy.InputError{Code: policy.CodeUnknownItem, Message: "未知支持事项 " + id, MessageEn: "unknown item " + id, Path: "item"}
}

// handleCalculate evaluates the posted form with the engine and shows the
// result and its trace beside the form. Works without JavaScript.
func (s *Server) handleCalculate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errTooLarge(64 << 10)
	}
	form := calcForm{Values: r.PostForm, Date: strings.TrimSpace(r.PostForm.Get("date")), USCC: strings.TrimSpace(r.PostForm.Get("uscc"))}
	form.Item = s.catOf(r).item(r.PostForm.Get("item"))
	page := calcPage{pageData: s.page(r, p, "政策计算器", "calculator"), Items: s.catOf(r).items, Ent: s.catOf(r).entFacts, Form: form}
	if form.Item == nil {
		return errUnknownItem(r.PostForm.Get("item"))
	}
	doc := s.caseFromForm(form)
	lang := LangOf(r.Context())
	res, err := s.evaluate(doc, lang)
	if err != nil {
		var ie *policy.InputError
		if errors.As(err, &ie) {
			page.Error = &ErrorBody{Code: ie.Code, Message: s.pathLabels(form.Item, ie.Message), MessageEn: ie.MessageEn, Field: ie.Path}
			if lang == policy.English && ie.MessageEn != "" {
				page.Error.Message = ie.MessageEn
			}
			return s.render(w, r, http.StatusBadRequest, "calculator", page)
		}
		return err
	}
	if len(res) == 1 {
		page.Result = &calcResult{View: res[0], Status: statusLabel(res[0].Status), Class: statusClass(res[0])}
		for _, m := range res[0].Missing {
			page.Result.Missing = append(page.Result.Missing, s.factLabel(form.Item, m))
		}
	}
	return s.render(w, r, http.StatusOK, "calculator", page)
}

func statusLabel(st policy.Status) string {
	switch st {
	case policy.Eligible:
		return "符合条件"
	case policy.Ineligible:
		return "不符合条件"
	case policy.Incomplete:
		return "信息不全"
	case policy.External:
		return "按其他政策办理"
	}
	return string(st)
}

func statusClass(v policy.ResultView) string {
	switch v.Status {
	case policy.Eligible:
		return "ok"
	case policy.Incomplete:
		return "partial"
	}
	return "no"
}

// caseFromForm turns the form into a case (RULES.md §5). Empty fields are
// left out, so the engine answers incomplete and names what is missing.
func (s *Server) caseFromForm(f calcForm) EvaluateRequest {
	code := f.USCC
	if code == "" {
		code = calcUSCC
	}
	ent := map[string]any{"uscc": code}
	for _, fv := range s.cat.entFacts {
		if v, ok := formValue(fv, f.Values, fv.Field); ok {
			ent[fv.Name] = v
		}
	}
	facts := map[string]any{}
	for _, fv := range f.Item.FactViews {
		if v, ok := formValue(fv, f.Values, fv.Field); ok {
			facts[fv.Name] = v
		}
	}
	return EvaluateRequest{Date: f.Date, Enterprise: ent, Claims: []EvaluateClaim{{Item: f.Item.ID, Facts: facts}}}
}

// formValue reads one fact from the form as the JSON value a case holds.
func formValue(fv *factView, vals url.Values, name string) (any, bool) {
	if fv.Input == "records" {
		var recs []any
		for _, i := range fv.Rows {
			rec := map[string]any{}
			for _, sub := range fv.Sub {
				if v, ok := formValue(sub, vals, name+"."+strconv.Itoa(i)+"."+sub.Name); ok {
					rec[sub.Name] = v
				}
			}
			if len(rec) > 0 {
				recs = append(recs, rec)
			}
		}
		if recs == nil {
			recs = []any{}
		}
		return recs, true
	}
	raw := strings.TrimSpace(vals.Get(name))
	if raw == "" {
		return nil, false
	}
	switch policy.FactType(fv.Type) {
	case policy.TypeBool:
		return raw == "true", raw == "true" || raw == "false"
	case policy.TypeYear, policy.TypeInt:
		return json.Number(raw), isInteger(raw)
	case policy.TypeMoney:
		// Visitors type 2,000,000 or 200万; the engine wants plain yuan.
		return normaliseYuan(raw), true
	}
	return raw, true
}

func isInteger(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// normaliseYuan removes thousands separators and reads a 万 suffix; the
// engine checks the rest (and refuses what is still not an amount).
func normaliseYuan(s string) string {
	s = strings.NewReplacer(",", "", "，", "", " ", "", "元", "").Replace(s)
	if w, ok := strings.CutSuffix(s, "万"); ok {
		ip, fp, _ := strings.Cut(w, ".")
		if isInteger(ip) && len(fp) <= 4 && (fp == "" || isInteger(fp)) {
			fp += strings.Repeat("0", 4-len(fp))
			n := strings.TrimLeft(ip+fp, "0")
			if n == "" {
				n = "0"
			}
			return n
		}
	}
	return s
}

// evaluate runs one case through the engine: the same path as the API.
func (s *Server) evaluate(req EvaluateRequest, lang policy.Lang) ([]policy.ResultView, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	b := s.deps.Bundle
	cases, err := b.ParseCases(data)
	if err != nil {
		return nil, err
	}
	if len(cases) != 1 {
		return nil, &policy.InputError{Code: policy.CodeInvalidCase, Message: "一次只能评估一个案例", MessageEn: "one case at a time"}
	}
	if cases[0].Err != nil {
		return nil, cases[0].Err
	}
	res, err := b.Evaluate(cases[0].Case)
	if err != nil {
		return nil, err
	}
	out := make([]policy.ResultView, 0, len(res))
	for i := range res {
		out = append(out, b.View(&res[i], lang))
	}
	return out, nil
}

// factLabel names a fact of the item or of the enterprise for people.
func (s *Server) factLabel(it *itemView, name string) string {
	for _, f := range it.Facts {
		if f.Name == name {
			return f.Label
		}
	}
	for _, f := range s.cat.doc.EnterpriseFacts {
		if f.Name == name {
			return f.Label
		}
	}
	return name
}

var casePath = regexp.MustCompile(`(?:claims\[\d+\]\.facts|enterprise)\.([a-z_][a-z0-9_]*)(\[\d+\](?:\.[a-z_][a-z0-9_]*)?)?`)

// pathLabels replaces the engine's paths in a message (claims[0].facts.X,
// enterprise.X) by the labels visitors saw on the form.
func (s *Server) pathLabels(it *itemView, msg string) string {
	return casePath.ReplaceAllStringFunc(msg, func(m string) string {
		sub := casePath.FindStringSubmatch(m)
		return "「" + s.factLabel(it, sub[1]) + "」" + sub[2]
	})
}
