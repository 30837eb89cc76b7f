package policy_test

import (
	"testing"

	"policydesk/policies"
	"policydesk/policy"
)

// benchClaims has one claim of each computed item, with the facts it needs.
var benchClaims = map[string]string{
	"compute_voucher":          `{year: 2025, compute_fees: "6000000"}`,
	"domestic_compute_servers": `{project: P-1, domestic_server_amount: "30000000", listed_on_platform: true, cloud_service_provider: true}`,
	"genai_filing":             `{filing_date: 2025-03-15}`,
	"industry_model":           `{project: M-1, self_developed: true, publicly_released: true}`,
	"dataset":                  `{project: D-1}`,
	"data_firsts":              `{events: [{kind: first_registration, national_award: "400000"}, {kind: first_listing, beijing_award: "300000"}]}`,
	"model_voucher":            `{year: 2025, contract_amount: "3000000", deployment: api, scenario: jiebang}`,
	"smart_transformation":     `{project: ZG-1, equipment_investment: "3000000", software_integration_investment: "2000000"}`,
	"major_project_matching":   `{project: K-1, year: 2025, superior_funding: "8000000"}`,
	"rnd_investment":           `{}`,
	"scale_up":                 `{date: 2025-02-01, ai_enterprise: true}`,
	"specialized":              `{tier: national_little_giant, date: 2025-03-01, ai_enterprise: true}`,
	"high_tech":                `{date: 2025-03-01, ai_enterprise: true}`,
	"standard":                 `{project: GB/T-1, level: national, lead_drafter: true, published: true}`,
	"talent_base":              `{year: 2025, recognized: true}`,
	"public_platform":          `{project: PF-1, year: 2025}`,
	"event":                    `{project: E-1, scope: international, cost: "1500000", organizer: true}`,
}

func benchCase(b *testing.B, bundle *policy.Bundle, item string) *policy.Case {
	b.Helper()
	src := "date: 2025-06-30\nenterprise: {uscc: 91110302MA01AB3C7G, in_etown: true, serious_dishonesty_listed: false, penalties: [{date: 2020-01-01, kind: criminal}]}\n" +
		"history: [{item: compute_voucher, year: 2025, amount: \"1000000\"}, {policy: other, item: x, project: ZZ, amount: \"5\"}]\n" +
		"claims:\n  - {item: " + item + ", facts: " + benchClaims[item] + "}\n"
	cs, err := bundle.ParseCases([]byte(src))
	if err != nil || cs[0].Err != nil {
		b.Fatalf("%s: %v %v", item, err, cs[0].Err)
	}
	return cs[0].Case
}

// BenchmarkEvaluate evaluates one claim of each item, trace included
// (rendering the trace to text is not part of evaluation).
func BenchmarkEvaluate(b *testing.B) {
	bundle, err := policy.Load(policies.Default())
	if err != nil {
		b.Fatal(err)
	}
	for _, it := range bundle.Items {
		c := benchCase(b, bundle, it.ID)
		b.Run(it.ID, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := bundle.Evaluate(c)
				if err != nil || len(res) != 1 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
		})
	}
}

// BenchmarkExplain measures rendering a result's trace as Chinese text.
func BenchmarkExplain(b *testing.B) {
	bundle, err := policy.Load(policies.Default())
	if err != nil {
		b.Fatal(err)
	}
	res, err := bundle.Evaluate(benchCase(b, bundle, "compute_voucher"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = bundle.View(&res[0], policy.Chinese)
	}
}
