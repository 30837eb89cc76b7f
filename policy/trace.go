package policy

import (
	"strconv"
	"strings"

	"policydesk/money"
)

// StepKind names a step of a trace.
type StepKind string

// Trace steps, in the order RULES.md §4 applies them.
const (
	StepInForce     StepKind = "in_force"
	StepEligibility StepKind = "eligibility"
	StepExternal    StepKind = "external"
	StepRequirement StepKind = "requirement"
	StepWindow      StepKind = "window"
	StepYear        StepKind = "year"
	StepCondition   StepKind = "condition"
	StepMissing     StepKind = "missing"
	StepFormula     StepKind = "formula"
	StepCap         StepKind = "cap"
	StepOverlap     StepKind = "overlap"
	StepPool        StepKind = "pool"
	StepReview      StepKind = "review"
	StepResult      StepKind = "result"
)

// Step is one step of an explanation. It holds numbers, not text, so that
// evaluating stays fast; Text renders it in Chinese or English on demand.
type Step struct {
	Kind    StepKind
	Article int    // 第N條, 0 when the step rests on a section
	Section string // "supplementary" (附則) when not an article
	Reading string // R1…R8 of RULES.md
	Fact    string
	Reason  string
	Fail    bool
	Missing bool
	Date    Date
	Date2   Date
	Date3   Date
	N       int64
	N2      int64
	N3      int64
	Expr    string
	Exact   Rat
	Before  int64
	After   int64
	Used    int64
	Limit   int64
	Given   bool
	Scope   string
	List    []string
	Params  []ParamUse
}

// ParamUse is a parameter value applied by a formula, with the date it has
// been in force from.
type ParamUse struct {
	Name  string
	Type  FactType
	Value Rat
	From  Date
}

// Display writes the value for people: amounts in yuan, ratios in percent.
func (p ParamUse) Display() string {
	switch p.Type {
	case TypeMoney:
		return yuan(p.Value.Floor())
	case TypeRatio:
		return p.Value.Percent()
	}
	return p.Value.String()
}

// Lang selects the language of explanations.
type Lang string

// Languages.
const (
	Chinese Lang = "zh"
	English Lang = "en"
)

var cnDigits = []string{"", "一", "二", "三", "四", "五", "六", "七", "八", "九"}

// ArticleName writes 第N条 (or "Art. N").
func ArticleName(n int, lang Lang) string {
	if lang == English {
		return "Art. " + strconv.Itoa(n)
	}
	var s string
	switch {
	case n < 10:
		s = cnDigits[n]
	case n == 10:
		s = "十"
	case n < 20:
		s = "十" + cnDigits[n-10]
	default:
		s = cnDigits[n/10] + "十" + cnDigits[n%10]
	}
	return "第" + s + "条"
}

func yuan(fen int64) string { return money.FormatGrouped(fen) }

// Ref writes where a step comes from: 第一条, 附则, with the reading.
func (s Step) Ref(lang Lang) string {
	var ref string
	switch {
	case s.Article > 0:
		ref = ArticleName(s.Article, lang)
	case s.Section == "supplementary":
		ref = map[Lang]string{Chinese: "附则", English: "Supplementary provisions"}[lang]
	}
	if s.Reading != "" {
		if ref != "" {
			ref += ", "
		}
		ref += s.Reading
	}
	return ref
}

var scopeText = map[string][2]string{
	ScopeEnterpriseYear: {"每家企业每年", "per enterprise per year"},
	ScopeEnterprise:     {"每家企业累计", "per enterprise in total"},
	ScopeProject:        {"每个项目累计", "per project in total"},
	ScopeProjectYear:    {"每个项目每年", "per project per year"},
	ScopeOnceEnterprise: {"每家企业一次", "once per enterprise"},
	ScopeOnceProject:    {"每个项目一次", "once per project"},
}

var reasonText = map[string][2]string{
	"outside_etown":                {"未在亦庄新城225平方公里范围内实际经营", "does not actually operate within Yizhuang New Town"},
	"penalty_within_3y":            {"近3年有重大行政处罚或刑事犯罪记录", "a major administrative penalty or criminal record within 3 years"},
	"dishonesty_listed":            {"列入严重违法失信主体名单", "on the list of seriously dishonest entities"},
	"data_center_no_energy_review": {"数据中心项目未获得节能审查意见或年度能源消费报告", "data-centre project without energy review or annual energy report"},
	"below_threshold":              {"未达到申报门槛", "below the threshold"},
}

// Text renders the step for people.
func (s Step) Text(b *Bundle, it *Item, lang Lang) string {
	zh := lang != English
	pick := func(c, e string) string {
		if zh {
			return c
		}
		return e
	}
	label := func(f string) string { return b.factLabel(it, f, lang) }
	var t string
	switch s.Kind {
	case StepInForce:
		if s.Fail {
			t = pick("评估日 "+s.Date.String()+" 不在政策有效期 "+s.Date2.String()+" 至 "+s.Date3.String()+" 内,不予支持。",
				"Evaluation date "+s.Date.String()+" is outside the policy's term "+s.Date2.String()+" to "+s.Date3.String()+".")
		} else {
			t = pick("评估日 "+s.Date.String()+" 在政策有效期 "+s.Date2.String()+" 至 "+s.Date3.String()+" 内。",
				"Evaluation date "+s.Date.String()+" is within the policy's term "+s.Date2.String()+" to "+s.Date3.String()+".")
		}
	case StepEligibility:
		rt := reasonText[s.Reason]
		switch {
		case s.Missing:
			t = pick("缺少事实「"+label(s.Fact)+"」,无法判断适用范围。", "Fact "+s.Fact+" is missing; eligibility cannot be decided.")
		case s.Fail && s.Fact == "penalties":
			t = pick(rt[0]+"("+s.Date.String()+" 晚于 "+s.Date2.String()+"),不予支持。", "Record dated "+s.Date.String()+", after "+s.Date2.String()+": "+rt[1]+".")
		case s.Fail:
			t = pick(rt[0]+",不予支持。", rt[1]+": not eligible.")
		case s.Fact == "penalties":
			t = pick("自 "+s.Date2.String()+" 起无重大行政处罚和刑事犯罪记录。", "No major administrative penalty or criminal record after "+s.Date2.String()+".")
		case s.Reason == "dishonesty_listed":
			t = pick("符合:未"+label(s.Fact)+"。", "Met: not "+s.Fact+".")
		default:
			t = pick("符合:"+label(s.Fact)+"。", "Met: "+s.Fact+".")
		}
	case StepExternal:
		t = pick("本事项按经开区研发投入有关支持政策办理,不在本政策中计算。", "This item is governed by the zone's R&D investment policy and is not computed here.")
	case StepRequirement:
		if s.Fail {
			t = pick("条件不满足:"+label(s.Fact)+"。", "Requirement not met: "+s.Fact+".")
		} else {
			t = pick("条件满足:"+label(s.Fact)+"。", "Requirement met: "+s.Fact+".")
		}
	case StepWindow:
		if s.Fail {
			t = pick(label(s.Fact)+" "+s.Date.String()+" 不在政策有效期内(新增须在 "+s.Date2.String()+" 至 "+s.Date3.String()+" 之间)。",
				s.Fact+" "+s.Date.String()+" is outside the policy's term ("+s.Date2.String()+" to "+s.Date3.String()+").")
		} else {
			t = pick(label(s.Fact)+" "+s.Date.String()+" 在政策有效期内。", s.Fact+" "+s.Date.String()+" is within the policy's term.")
		}
	case StepYear:
		y := strconv.FormatInt(s.N, 10)
		r := strconv.FormatInt(s.N2, 10) + "–" + strconv.FormatInt(s.N3, 10)
		if s.Fail {
			t = pick("年度 "+y+" 不在政策年度 "+r+" 内。", "Year "+y+" is outside the policy's years "+r+".")
		} else {
			t = pick("年度 "+y+" 在政策年度 "+r+" 内。", "Year "+y+" is within the policy's years "+r+".")
		}
	case StepCondition:
		if s.Fail {
			t = pick("未满足条件 "+s.Expr+"("+reasonText[s.Reason][0]+")。", "Condition "+s.Expr+" is not met ("+s.Reason+").")
		} else {
			t = pick("满足条件 "+s.Expr+"。", "Condition "+s.Expr+" is met.")
		}
	case StepMissing:
		names := make([]string, len(s.List))
		for i, f := range s.List {
			names[i] = label(f)
		}
		t = pick("还需提供:"+strings.Join(names, "、")+"。", "Still needed: "+strings.Join(s.List, ", ")+".")
	case StepFormula:
		var ps []string
		for _, p := range s.Params {
			if zh {
				ps = append(ps, p.Name+" = "+p.Display()+"(自"+p.From.String()+"起)")
			} else {
				ps = append(ps, p.Name+" = "+p.Display()+" (from "+p.From.String()+")")
			}
		}
		exact := exactYuan(s.Exact)
		if zh {
			t = "按公式 " + s.Expr + " 计算"
			if len(ps) > 0 {
				t += ",其中 " + strings.Join(ps, ",")
			}
			t += ":精确值 " + exact + " 元,向下取整到分得 " + yuan(s.After) + " 元。"
		} else {
			t = "Formula " + s.Expr
			if len(ps) > 0 {
				t += " with " + strings.Join(ps, ", ")
			}
			t += ": exactly " + exact + " yuan, rounded down to the fen: " + yuan(s.After) + " yuan."
		}
	case StepCap:
		sc := scopeText[s.Scope]
		if s.Scope == ScopeOnceEnterprise || s.Scope == ScopeOnceProject {
			if s.Fail {
				t = pick("限"+sc[0]+",此前已获支持,不再支持。", "Limited to "+sc[1]+" and already granted.")
			} else {
				t = pick("限"+sc[0]+",此前未获支持。", "Limited to "+sc[1]+"; not granted before.")
			}
			break
		}
		if zh {
			t = sc[0] + "上限 " + yuan(s.Limit) + " 元,已获 " + yuan(s.Used) + " 元,可支持 " + yuan(s.Before) + " → " + yuan(s.After) + " 元。"
		} else {
			t = "Cap " + sc[1] + " " + yuan(s.Limit) + " yuan, already granted " + yuan(s.Used) + " yuan: " + yuan(s.Before) + " → " + yuan(s.After) + " yuan."
		}
	case StepOverlap:
		t = pick("从优不重复:同一项目已在其他事项或政策获支持 "+yuan(s.Used)+" 元,补差 "+yuan(s.Before)+" → "+yuan(s.After)+" 元。",
			"Best-of, no double support: the same project already received "+yuan(s.Used)+" yuan under another item or policy; topped up "+yuan(s.Before)+" → "+yuan(s.After)+" yuan.")
	case StepPool:
		y := strconv.FormatInt(s.N, 10)
		src := pick("(年度预算减已支持)", " (annual budget less grants)")
		if s.Given {
			src = ""
		}
		t = pick(y+"年度资金池剩余 "+yuan(s.Limit)+" 元"+src+",先到先得:"+yuan(s.Before)+" → "+yuan(s.After)+" 元。",
			"The "+y+" pool has "+yuan(s.Limit)+" yuan left"+src+", first come first served: "+yuan(s.Before)+" → "+yuan(s.After)+" yuan.")
	case StepReview:
		t = pick("本事项须经评审认定:评审金额不得超过 "+yuan(s.After)+" 元。", "This item requires review: the approved amount may not exceed "+yuan(s.After)+" yuan.")
	case StepResult:
		t = pick("可获支持 "+yuan(s.After)+" 元。", "Amount: "+yuan(s.After)+" yuan.")
	}
	if ref := s.Ref(lang); ref != "" {
		if zh {
			t = "【" + ref + "】" + t
		} else {
			t = "[" + ref + "] " + t
		}
	}
	return t
}

// exactYuan writes an exact fen amount in yuan with the fraction of a fen
// shown as decimals when it terminates within 6 places, else as n/d fen.
func exactYuan(r Rat) string {
	if r.IsInt() {
		return yuan(r.num)
	}
	// Try to write num/den fen as a decimal with up to 6 digits past the yuan.
	scaled, err := r.Times(RatInt(10000))
	if err == nil && scaled.IsInt() {
		v := scaled.num
		neg := v < 0
		if neg {
			v = -v
		}
		whole := v / 1000000
		frac := strconv.FormatInt(v%1000000+1000000, 10)[1:]
		frac = strings.TrimRight(frac, "0")
		s := money.FormatGrouped(whole * 100)
		s = strings.TrimSuffix(s, ".00") + "." + frac
		if neg {
			s = "-" + s
		}
		return s
	}
	return r.String() + " 分"
}

func (b *Bundle) factLabel(it *Item, name string, lang Lang) string {
	var f *FactSpec
	if it != nil {
		f = it.factIndex[name]
	}
	if f == nil {
		f = b.entFacts[name]
	}
	if f == nil {
		f = b.claimFacts[name]
	}
	if f == nil {
		return name
	}
	if lang == English {
		if f.LabelEn != "" {
			return f.LabelEn
		}
		return name
	}
	if f.Label != "" {
		return Hans(f.Label) + "(" + name + ")"
	}
	return name
}
