package portal

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"policydesk/auth"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/web"
)

// fenOf reads an amount in fen from the types templates pass.
func fenOf(v any) int64 {
	switch x := v.(type) {
	case money.Amount:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	case *money.Amount:
		if x != nil {
			return int64(*x)
		}
	}
	return 0
}

// fenText writes fen as yuan for people: 1,234.56 元.
func fenText(v any) string { return money.FormatGrouped(fenOf(v)) + " 元" }

// fenTextEn and fenWanEn are fenText and fenWan on English pages.
func fenTextEn(v any) string { return money.FormatGrouped(fenOf(v)) + " yuan" }
func fenWanEn(v any) string  { return money.FormatGrouped(fenOf(v)/10_000) + " ×10k yuan" }

// fenWan writes fen as 万元 with two decimals, rounded down: 8,629.40 万元.
func fenWan(v any) string {
	// fen/10000 is the amount in hundredths of 万元, which FormatGrouped
	// writes with two decimals as it does fen as yuan.
	return money.FormatGrouped(fenOf(v)/10_000) + " 万元"
}

// when writes a time in Beijing to the minute.
func when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return "—"
		}
		t = *x
	default:
		return "—"
	}
	if t.IsZero() {
		return "—"
	}
	return t.In(beijing).Format("2006-01-02 15:04")
}

// day writes a time in Beijing as a date.
func day(v any) string {
	s := when(v)
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

func has(list []string, v string) bool { return slices.Contains(list, v) }

// stateClass is the badge colour of a state.
func stateClass(state string) string {
	switch state {
	case desk.StatePaid, desk.StateApproved:
		return "st-ok"
	case desk.StateRejected, desk.StateWithdrawn, desk.StateObjectionUpheld, desk.StateClawedBack:
		return "st-no"
	case desk.StateReturned, desk.StateObjected, desk.StateWaitlisted:
		return "st-warn"
	case desk.StateDraft:
		return "st-draft"
	}
	return "st-run"
}

func sourceName(s string) string {
	switch s {
	case desk.SourceSelf:
		return "自行申报"
	case desk.SourceImported:
		return "名单导入"
	case desk.SourceReviewer:
		return "部门核实"
	}
	return s
}

func percent(part, whole int) string {
	if whole <= 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 1, 64) + "%" // a display ratio, not money
}

func (h *handlers) itemName(id string) string {
	if it := h.srv.Item(id); it != nil {
		return it.Name
	}
	return id
}

func (h *handlers) itemNameEn(id string) string {
	if it := h.srv.Item(id); it != nil && it.NameEn != "" {
		return it.NameEn
	}
	return h.itemName(id)
}

func (h *handlers) deptNamesEn(ids []string) string { return joinNames(ids, h.srv.DeptNameEn, ", ") }

func (h *handlers) deptNames(ids []string) string { return joinNames(ids, h.srv.DeptName, "、") }

func joinNames(ids []string, name func(string) string, sep string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = name(id)
	}
	return strings.Join(out, sep)
}

// reasonText names the engine's reason codes in Chinese.
func reasonText(codes []string) string {
	zh := map[string]string{
		"outside_etown": "未在亦庄新城实际经营", "penalty_within_3y": "近3年有重大行政处罚或刑事犯罪记录", "dishonesty_listed": "列入严重违法失信主体名单",
		"data_center_no_energy_review": "数据中心项目未获节能审查意见或年度能源消费报告", "below_threshold": "未达到申报门槛",
		"event_outside_policy_window": "事项不在政策有效期内", "policy_not_in_force": "政策不在有效期内", "already_granted": "已获支持，不可重复申请",
		"cap_reached": "已达支持上限", "pool_exhausted": "年度资金已用完", "overlap_topped_up": "同一项目已获其他支持（从优不重复）",
		"capped": "受上限限制", "not_ai_enterprise": "非人工智能企业",
	}
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		if t, ok := zh[c]; ok {
			out = append(out, t)
		} else if f, ok := strings.CutPrefix(c, "requirement_not_met:"); ok {
			out = append(out, "条件不满足："+f)
		} else {
			out = append(out, c)
		}
	}
	return strings.Join(out, "；")
}

// factText writes a stored fact value for people, using the field's labels.
func factText(f *web.FactField, raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "—"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	return valueText(f, v)
}

func valueText(f *web.FactField, v any) string {
	switch x := v.(type) {
	case bool:
		if x {
			return "是"
		}
		return "否"
	case json.Number:
		if policy.FactType(f.Type) == policy.TypeMoney {
			return yuanText(x.String())
		}
		return x.String()
	case string:
		for _, o := range f.Options {
			if o.Value == x {
				return o.Label
			}
		}
		if policy.FactType(f.Type) == policy.TypeMoney {
			return yuanText(x)
		}
		return x
	case []any:
		if len(x) == 0 {
			return "无"
		}
		var recs []string
		for _, rec := range x {
			m, ok := rec.(map[string]any)
			if !ok {
				continue
			}
			var parts []string
			for _, sub := range f.Sub {
				if sv, ok := m[sub.Name]; ok {
					parts = append(parts, sub.Label+"："+valueText(sub, sv))
				}
			}
			recs = append(recs, strings.Join(parts, "，"))
		}
		return strings.Join(recs, "；")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// yuanText writes plain yuan text ("1500000.5") grouped: 1,500,000.50 元.
func yuanText(s string) string {
	if f, err := money.Parse(s); err == nil {
		return money.FormatGrouped(f) + " 元"
	}
	return s
}

// formValues turns stored facts into form values for the "field" template:
// prefix+NAME for scalars, prefix+NAME.i.SUB for records.
func formValues(fields []*web.FactField, facts map[string]json.RawMessage) map[string][]string {
	vals := map[string][]string{}
	for _, f := range fields {
		raw, ok := facts[f.Name]
		if !ok {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			continue
		}
		if f.Input == "records" {
			list, _ := v.([]any)
			for i, rec := range list {
				m, _ := rec.(map[string]any)
				for _, sub := range f.Sub {
					if sv, ok := m[sub.Name]; ok {
						vals[f.Field+"."+strconv.Itoa(i)+"."+sub.Name] = []string{scalarText(sv)}
					}
				}
			}
			continue
		}
		vals[f.Field] = []string{scalarText(v)}
	}
	return vals
}

func scalarText(v any) string {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// withRows returns fields whose records offer room for n records and one
// more, so that editing never drops a stored record.
func withRows(fields []*web.FactField, facts map[string]json.RawMessage) []*web.FactField {
	out := make([]*web.FactField, 0, len(fields))
	for _, f := range fields {
		if f.Input != "records" {
			out = append(out, f)
			continue
		}
		var list []json.RawMessage
		_ = json.Unmarshal(facts[f.Name], &list)
		if len(list)+1 <= len(f.Rows) {
			out = append(out, f)
			continue
		}
		c := *f
		c.Rows = nil
		for i := range len(list) + 1 {
			c.Rows = append(c.Rows, i)
		}
		out = append(out, &c)
	}
	return out
}

// factsFromForm reads the facts a form showed (listed in "shown") as JSON
// values; empty fields are left out, records are always sent (an empty
// list declares none).
func factsFromForm(fields []*web.FactField, vals map[string][]string) map[string]json.RawMessage {
	shown := map[string]bool{}
	for _, n := range vals["shown"] {
		shown[n] = true
	}
	out := map[string]json.RawMessage{}
	for _, f := range fields {
		if !shown[f.Field] {
			continue
		}
		v, ok := web.FormFact(f, vals)
		if !ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		out[f.Name] = b
	}
	return out
}

// roleLabel names a role (auth.Role or the desk's role text) in Chinese.
func roleLabel(v any) string {
	var r string
	switch x := v.(type) {
	case auth.Role:
		r = string(x)
	case string:
		r = x
	}
	switch r {
	case desk.RoleSystem:
		return "系统"
	case desk.RolePublic:
		return "公众"
	}
	return auth.Role(r).Label()
}
