package portal

import (
	"bytes"
	"context"
	"encoding/json"

	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/policy"
)

// profile is what the engine needs to know about an enterprise to estimate
// its claims: its facts in force today and its grants from the ledger.
type profile struct {
	code    string
	facts   policy.Facts
	known   map[string]bool // enterprise facts on record
	history []policy.Grant
	date    policy.Date
}

// loadProfile reads the enterprise's facts through the service (which
// refuses callers who may not see them) and its history from the ledger.
func (h *handlers) loadProfile(ctx context.Context, a desk.Actor, code string) (*profile, error) {
	on := h.today()
	fs, err := h.svc.Facts(ctx, a, code, on)
	if err != nil {
		return nil, err
	}
	pr := &profile{code: code, facts: policy.Facts{}, known: map[string]bool{}, date: on}
	for _, f := range fs {
		spec := h.b.EnterpriseFact(f.Name)
		if spec == nil {
			continue
		}
		if v, ie := policy.ConvertFact(spec, rawOf(f.Value), f.Name); ie == nil {
			pr.facts[f.Name] = v
			pr.known[f.Name] = true
		}
	}
	gs, err := h.svc.GrantHistory(ctx, a, code)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if held := heldOf(g); held > 0 {
			pr.history = append(pr.history, policy.Grant{Policy: h.b.ID, Item: g.Item, Year: g.Year, Project: g.Project, Amount: held})
		}
	}
	return pr, nil
}

func heldOf(g ledger.Granted) int64 { return g.Held() }

func rawOf(v json.RawMessage) policy.Raw {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if dec.Decode(&x) != nil {
		return policy.Raw{IsNull: true}
	}
	return policy.JSONRaw(x)
}

// estimate evaluates one claim of the enterprise as the engine would on
// submission (without the pool's state, which only the ledger knows at
// that moment): the status, the amount, what is missing and the trace.
func (h *handlers) estimate(lang policy.Lang, pr *profile, item string, facts map[string]json.RawMessage) (policy.ResultView, error) {
	m := map[string]any{}
	for k, raw := range facts {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			m[k] = v
		}
	}
	claim, ie := h.b.ParseClaim(policy.JSONRaw(map[string]any{"item": item, "facts": m}), "facts")
	if ie != nil {
		return policy.ResultView{}, ie
	}
	c := policy.Case{Date: pr.date, USCC: pr.code, Enterprise: pr.facts, History: pr.history, Claims: []policy.Claim{claim}}
	res, err := h.b.Evaluate(&c)
	if err != nil {
		return policy.ResultView{}, err
	}
	return h.b.View(&res[0], lang), nil
}
