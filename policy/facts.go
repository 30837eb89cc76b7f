package policy

import (
	"strconv"
	"strings"

	"policydesk/money"
	"policydesk/uscc"
)

// Value is one typed fact.
type Value struct {
	Type    FactType
	Money   int64 // fen
	Int     int64 // year or int
	Bool    bool
	Str     string // string or enum
	Date    Date
	Records []Record
}

// Record is one element of a records fact.
type Record map[string]Value

// Facts maps fact names to values. An absent name is an unknown fact.
type Facts map[string]Value

// Raw is an untyped fact value as read from YAML, JSON or CSV, before it is
// checked against its FactSpec. Scalars keep their source text, so money
// never passes through a float.
type Raw struct {
	Scalar string // text of a scalar
	Quoted bool   // the scalar was a quoted string
	IsNull bool
	List   []Raw
	Map    map[string]Raw
	IsList bool
	IsMap  bool
	IsBool bool // scalar was an unquoted true/false
	IsNum  bool // scalar was an unquoted number
}

// ConvertFact checks raw against spec and returns the typed value, or an
// input error naming path.
func ConvertFact(spec *FactSpec, raw Raw, path string) (Value, *InputError) {
	v := Value{Type: spec.Type}
	scalar := func() (string, *InputError) {
		if raw.IsList || raw.IsMap || raw.IsNull {
			return "", inputErr(CodeInvalidValue, path, "%s 应为单个值", "%s must be a single value", path)
		}
		return raw.Scalar, nil
	}
	switch spec.Type {
	case TypeMoney:
		s, e := scalar()
		if e != nil {
			return v, inputErr(CodeInvalidMoney, path, "%s 应为金额(元,至多两位小数)", "%s must be an amount in yuan with at most 2 decimals", path)
		}
		fen, err := money.Parse(strings.TrimSpace(s))
		if err != nil {
			return v, moneyErr(path, s, err)
		}
		v.Money = fen
	case TypeYear, TypeInt:
		s, e := scalar()
		if e != nil {
			return v, e
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		// Any whole number is a year: one outside the policy's years is
		// ineligible (event_outside_policy_window), not an input error.
		if err != nil {
			return v, inputErr(CodeInvalidValue, path, "%s 应为整数年份,收到 %q", "%s must be a whole year, got %q", path, s)
		}
		v.Int = n
	case TypeBool:
		s, e := scalar()
		if e != nil {
			return v, e
		}
		switch {
		case s == "true" && !raw.Quoted:
			v.Bool = true
		case s == "false" && !raw.Quoted:
		default:
			return v, inputErr(CodeInvalidValue, path, "%s 应为 true 或 false,收到 %q", "%s must be true or false, got %q", path, s)
		}
	case TypeString:
		s, e := scalar()
		if e != nil {
			return v, e
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return v, inputErr(CodeInvalidValue, path, "%s 不能为空", "%s must not be empty", path)
		}
		v.Str = s
	case TypeEnum:
		s, e := scalar()
		if e != nil {
			return v, e
		}
		ok := false
		for _, a := range spec.Values {
			if a == s {
				ok = true
				break
			}
		}
		if !ok {
			return v, inputErr(CodeInvalidValue, path, "%s 的值 %q 不在允许范围内(%s)", "%s: %q is not one of %s", path, s, strings.Join(spec.Values, ", "))
		}
		v.Str = s
	case TypeDate:
		s, e := scalar()
		if e != nil {
			return v, inputErr(CodeInvalidDate, path, "%s 应为日期 YYYY-MM-DD", "%s must be a date YYYY-MM-DD", path)
		}
		d, err := ParseDate(strings.TrimSpace(s))
		if err != nil {
			return v, inputErr(CodeInvalidDate, path, "%s 不是有效日期(YYYY-MM-DD):%q", "%s is not a valid YYYY-MM-DD date: %q", path, s)
		}
		v.Date = d
	case TypeRecords:
		if raw.IsNull {
			v.Records = []Record{}
			return v, nil
		}
		if !raw.IsList {
			return v, inputErr(CodeInvalidValue, path, "%s 应为列表", "%s must be a list", path)
		}
		v.Records = make([]Record, 0, len(raw.List))
		for i, el := range raw.List {
			p := path + "[" + strconv.Itoa(i) + "]"
			if !el.IsMap {
				return v, inputErr(CodeInvalidValue, p, "%s 应为键值记录", "%s must be a record of fields", p)
			}
			rec := Record{}
			for _, fs := range spec.Fields {
				fr, ok := el.Map[fs.Name]
				if !ok || fr.IsNull {
					if !fs.Optional {
						return v, inputErr(CodeInvalidValue, p+"."+fs.Name, "缺少 %s", "missing %s", p+"."+fs.Name)
					}
					continue
				}
				fv, e := ConvertFact(fs, fr, p+"."+fs.Name)
				if e != nil {
					return v, e
				}
				rec[fs.Name] = fv
			}
			v.Records = append(v.Records, rec)
		}
	default:
		return v, inputErr(CodeInvalidValue, path, "%s 的类型无法识别", "%s has an unknown type", path)
	}
	return v, nil
}

func moneyErr(path, s string, err error) *InputError {
	switch err {
	case money.ErrNegative:
		return inputErr(CodeInvalidMoney, path, "%s 金额不能为负数:%q", "%s: amount must not be negative: %q", path, s)
	case money.ErrDecimals:
		return inputErr(CodeInvalidMoney, path, "%s 金额至多两位小数(分):%q", "%s: amount has more than 2 decimals: %q", path, s)
	case money.ErrTooLarge:
		return inputErr(CodeInvalidMoney, path, "%s 金额过大:%q", "%s: amount too large: %q", path, s)
	}
	return inputErr(CodeInvalidMoney, path, "%s 不是有效金额(元,如 \"1500000.00\"):%q", "%s is not an amount in yuan such as \"1500000.00\": %q", path, s)
}

// ValidateUSCC checks a credit code and returns the input error for it.
func ValidateUSCC(code, path string) *InputError {
	if err := uscc.Validate(code); err != nil {
		return inputErr(CodeInvalidUSCC, path, "统一社会信用代码 %q 无效(GB 32100-2015:18位,校验位须正确)", "credit code %q is invalid (GB 32100-2015: 18 characters with a valid check character)", code)
	}
	return nil
}
