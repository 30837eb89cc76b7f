package policy

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// Profile is an enterprise as the 政策计算器 / 免申即享 matcher sees it:
// facts about the enterprise and about its projects in one flat record,
// optionally with facts per item that override the flat ones, and its
// grant history.
type Profile struct {
	USCC    string
	Name    string
	Facts   map[string]Raw
	PerItem map[string]map[string]Raw
	History []Grant
}

// Offer is what a profile may get from one item.
type Offer struct {
	Item    string   `json:"item"`
	Name    string   `json:"name"`
	Article int      `json:"article"`
	Status  Status   `json:"status"`
	Amount  int64    `json:"-"`
	Missing []string `json:"missing,omitempty"`
	Review  bool     `json:"review_required"`
}

// MatchResult lists the items a profile qualifies for (eligible) or may
// qualify for once it supplies the missing facts (incomplete).
type MatchResult struct {
	USCC   string
	Name   string
	Offers []Offer
	Total  int64 // sum of eligible amounts, fen
	Err    *InputError
}

// Match evaluates every item of the bundle for the profile on date, each
// item on its own (as separate applications would be). Items the profile
// is ineligible for, and items computed elsewhere, are left out.
func (b *Bundle) Match(date Date, p *Profile) MatchResult {
	res := MatchResult{USCC: p.USCC, Name: p.Name}
	if e := ValidateUSCC(p.USCC, "uscc"); e != nil {
		res.Err = e
		return res
	}
	c := Case{Date: date, USCC: p.USCC, Enterprise: Facts{}, History: p.History}
	// One state for all items: each item is evaluated on its own, so no
	// grant is added to the history between them.
	hist := p.History
	for i := range hist {
		if hist[i].Policy == "" {
			hist = slices.Clone(p.History)
			for j := range hist {
				if hist[j].Policy == "" {
					hist[j].Policy = b.ID
				}
			}
			break
		}
	}
	st := evalState{b: b, c: &c, history: hist, noTrace: true}
	for _, spec := range b.EnterpriseFacts {
		r, ok := p.Facts[spec.Name]
		if !ok || r.IsNull { // null is unknown, like absent ([] means none)
			continue
		}
		v, e := ConvertFact(spec, r, spec.Name)
		if e != nil {
			res.Err = e
			return res
		}
		c.Enterprise[spec.Name] = v
	}
	for _, it := range b.Items {
		if it.External != "" {
			continue
		}
		cl := Claim{Item: it.ID, Facts: Facts{}}
		over := p.PerItem[it.ID]
		for _, spec := range it.Facts {
			r, ok := over[spec.Name]
			if !ok {
				r, ok = p.Facts[spec.Name]
			}
			if !ok || r.IsNull { // null is unknown, like absent ([] means none)
				continue
			}
			v, e := ConvertFact(spec, r, it.ID+"."+spec.Name)
			if e != nil {
				res.Err = e
				return res
			}
			cl.Facts[spec.Name] = v
		}
		for _, spec := range b.ClaimFacts {
			if r, ok := p.Facts[spec.Name]; ok && !r.IsNull {
				if v, e := ConvertFact(spec, r, spec.Name); e == nil {
					cl.Facts[spec.Name] = v
				}
			}
		}
		r, err := st.claim(&cl)
		if err != nil {
			if ie, ok := err.(*InputError); ok {
				res.Err = ie
			}
			return res
		}
		if r.Status != Eligible && r.Status != Incomplete {
			continue
		}
		res.Offers = append(res.Offers, Offer{Item: it.ID, Name: it.Name, Article: it.Article, Status: r.Status, Amount: r.Amount, Missing: r.Missing, Review: it.Review})
		res.Total += r.Amount
	}
	return res
}

// ParseProfileJSON reads one JSON object: {"uscc", "name", facts…,
// "items": {item: {facts}}, "history": [...]}. Numbers keep their text, so
// amounts never pass through a float.
func (b *Bundle) ParseProfileJSON(line []byte) (*Profile, *InputError) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, inputErr(CodeInvalidCase, "", "不是有效的 JSON 对象:%s", "not a valid JSON object: %s", oneLine(err.Error()))
	}
	p := &Profile{Facts: make(map[string]Raw, len(m))}
	for k, v := range m {
		switch k {
		case "uscc":
			s, _ := v.(string)
			p.USCC = strings.TrimSpace(s)
		case "name":
			p.Name, _ = v.(string)
		case "items":
			im, ok := v.(map[string]any)
			if !ok {
				return nil, inputErr(CodeInvalidValue, "items", "items 应为对象", "items must be an object")
			}
			p.PerItem = map[string]map[string]Raw{}
			for item, fv := range im {
				fm, ok := fv.(map[string]any)
				if !ok {
					return nil, inputErr(CodeInvalidValue, "items."+item, "items.%s 应为对象", "items.%s must be an object", item)
				}
				facts := map[string]Raw{}
				for fk, x := range fm {
					facts[fk] = jsonRaw(x, 0)
				}
				p.PerItem[item] = facts
			}
		case "history":
			raw := jsonRaw(v, 0)
			if !raw.IsList {
				return nil, inputErr(CodeInvalidValue, "history", "history 应为列表", "history must be a list")
			}
			for _, row := range raw.List {
				g, e := b.parseGrant(row, "history")
				if e != nil {
					return nil, e
				}
				p.History = append(p.History, g)
			}
		default:
			p.Facts[k] = jsonRaw(v, 0)
		}
	}
	return p, nil
}

// JSONRaw converts a value decoded by encoding/json (with UseNumber) into
// a Raw fact value.
func JSONRaw(v any) Raw { return jsonRaw(v, 0) }

func jsonRaw(v any, depth int) Raw {
	if depth > 32 {
		return Raw{IsNull: true}
	}
	switch x := v.(type) {
	case nil:
		return Raw{IsNull: true}
	case bool:
		if x {
			return Raw{Scalar: "true", IsBool: true}
		}
		return Raw{Scalar: "false", IsBool: true}
	case json.Number:
		return Raw{Scalar: x.String(), IsNum: true}
	case string:
		return Raw{Scalar: x, Quoted: true}
	case []any:
		r := Raw{IsList: true, List: make([]Raw, len(x))}
		for i, e := range x {
			r.List[i] = jsonRaw(e, depth+1)
		}
		return r
	case map[string]any:
		r := Raw{IsMap: true, Map: make(map[string]Raw, len(x))}
		for k, e := range x {
			r.Map[k] = jsonRaw(e, depth+1)
		}
		return r
	}
	return Raw{IsNull: true}
}
