package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"policydesk/policy"
)

// splitCases writes each case of a case file as a document of its own,
// aliases expanded.
func splitCases(f *testing.F, data []byte) []string {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 {
		f.Fatalf("seed does not parse: %v", err)
	}
	var expand func(n *yaml.Node) *yaml.Node
	expand = func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode {
			return expand(n.Alias)
		}
		c := *n
		c.Anchor = ""
		c.Content = nil
		for _, x := range n.Content {
			c.Content = append(c.Content, expand(x))
		}
		return &c
	}
	top := expand(root.Content[0])
	nodes := []*yaml.Node{top}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "cases" {
			nodes = top.Content[i+1].Content
		}
	}
	var out []string
	for _, n := range nodes {
		b, err := yaml.Marshal(n)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// inputCodes are the codes a refused case may carry (RULES.md §4, and
// invalid_case for what is not a case at all).
var inputCodes = []string{"invalid_uscc", "invalid_money", "invalid_date", "unknown_item", "invalid_value", "invalid_case"}

// fuzzable reports whether the engine can be held to the invariants for c:
// history sums beyond 2^62 fen trip a known wrap-around (see
// TestHistorySumDoesNotWrap), so such absurd inputs are only checked for
// panics.
func fuzzable(c *policy.Case) bool {
	var sum int64
	for _, h := range c.History {
		if sum += h.Amount; sum > 1<<62 {
			return false
		}
	}
	return true
}

// FuzzParseCases feeds case files (YAML or JSON) to the parser and the
// engine: no panic; a refusal carries a known code; every evaluation keeps
// the invariants and agrees with the RULES.md model of property_test.go.
func FuzzParseCases(f *testing.F) {
	seeds := []string{filepath.Join("..", "..", "shared", "policy", "cases", "examples.yaml")}
	for _, name := range []string{"multi_claim", "input_errors", "overlap_r8", "pools", "rounding", "data_firsts", "eligibility", "caps_and_history", "specialized"} {
		seeds = append(seeds, filepath.Join(bundleSuiteDir, name+".yaml"))
	}
	// One seed a case keeps the inputs small, so that fuzzing (and the
	// minimising of what it finds) stays fast.
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			for _, c := range splitCases(f, data) {
				f.Add(c)
			}
		}
	}
	for _, s := range []string{
		"",
		"null",
		"- a\n- b\n",
		"cases: 5\n",
		"cases: [~, 1, {date: 2025-06-30}]\n",
		"date: 2025-06-30\nenterprise: {uscc: 91110302MA01AB3C7G}\nclaims: [{item: compute_voucher, facts: {year: 2025, compute_fees: '1.5'}}]\n",
		`{"date":"2025-06-30","enterprise":{"uscc":"91110302MA01AB3C7G","in_etown":true,"serious_dishonesty_listed":false,"penalties":[]},"claims":[{"item":"event","facts":{"project":"E","scope":"domestic","cost":"999999999999999.99","organizer":true}}]}`,
		"date: 2025-06-30\nenterprise: &e {uscc: 91110302MA01AB3C7G, in_etown: true, serious_dishonesty_listed: false, penalties: null}\nclaims: [{item: data_firsts, facts: {<<: *e, events: [{kind: first_listing, beijing_award: \"0.01\"}]}}]\n",
		"date: 2027-02-28\nenterprise: {uscc: 91110302MA01AB3C7G, in_etown: true, serious_dishonesty_listed: false, penalties: [{date: 2024-02-29, kind: criminal}]}\nclaims: [{item: rnd_investment}]\n",
		"date: 2025-06-30\nenterprise: {uscc: 91110302MA01AB3C7G, in_etown: true, serious_dishonesty_listed: false, penalties: []}\npools: [{item: compute_voucher, year: 2025, remaining: \"0.01\"}]\nclaims: [{item: compute_voucher, facts: {year: 2025, compute_fees: \"0.04\"}}, {item: compute_voucher, facts: {year: 2025, compute_fees: \"1\"}}]\n",
	} {
		f.Add(s)
	}
	b := bundleFor(f)
	f.Fuzz(func(t *testing.T, src string) {
		// Keep each input cheap. Alias-heavy documents are left out: the
		// case parser expands aliases without a bound (reported).
		if len(src) > 4096 || strings.Count(src, "*") > 16 {
			t.Skip()
		}
		cases, err := b.ParseCases([]byte(src))
		if err != nil {
			var ie *policy.InputError
			if !errors.As(err, &ie) || ie.Code != "invalid_case" || ie.Message == "" || ie.MessageEn == "" {
				t.Fatalf("ParseCases error %T %v, want an invalid_case input error", err, err)
			}
			return
		}
		for _, pc := range cases {
			if pc.Case == nil {
				t.Fatalf("parsed case without a case: %+v", pc)
			}
			if pc.Err != nil {
				if !slices.Contains(inputCodes, pc.Err.Code) || pc.Err.Message == "" || pc.Err.MessageEn == "" {
					t.Fatalf("refusal without a known code or message: %+v", pc.Err)
				}
				continue
			}
			c := pc.Case
			res, err := b.Evaluate(c)
			if err != nil {
				var ie *policy.InputError
				if !errors.As(err, &ie) || ie.Code != "invalid_money" {
					t.Fatalf("Evaluate error %v, want none or invalid_money (out of range)", err)
				}
				continue
			}
			if !fuzzable(c) {
				continue
			}
			checkInvariants(t, c, res)
			checkModel(t, c, res)
		}
	})
}
