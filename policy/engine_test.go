package policy_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"policydesk/policies"
	"policydesk/policy"
)

func loadDefault(t testing.TB) *policy.Bundle {
	t.Helper()
	b, err := policy.Load(policies.Default())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runSuite runs every case file under dir and returns the number of cases.
func runSuite(t *testing.T, b *policy.Bundle, dir string) int {
	t.Helper()
	files, err := policy.CaseFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range b.RunCaseFile(f, data) {
			n++
			if !o.Passed {
				t.Errorf("%s: %s: %s", filepath.Base(f), o.Name, strings.Join(o.Why, "; "))
			}
		}
	}
	return n
}

// TestSuiteShared runs the worked cases of shared/policy/cases.
func TestSuiteShared(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "policy", "cases")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared cases missing in CI: %v", err)
		}
		t.Skip("shared/policy/cases is not beside the repository")
	}
	if n := runSuite(t, loadDefault(t), dir); n == 0 {
		t.Fatal("no shared case ran")
	}
}

// TestSuiteBundle runs the project's own case suite.
func TestSuiteBundle(t *testing.T) {
	n := runSuite(t, loadDefault(t), filepath.Join("..", "policies", "etown-ai-2024-29", "tests"))
	if n < 150 {
		t.Fatalf("only %d cases in the suite", n)
	}
}

// TestSuiteCoverage: every item and every outcome code appears in the suite.
func TestSuiteCoverage(t *testing.T) {
	b := loadDefault(t)
	var all strings.Builder
	files, _ := policy.CaseFiles([]string{filepath.Join("..", "policies", "etown-ai-2024-29", "tests")})
	for _, f := range files {
		data, _ := os.ReadFile(f)
		all.Write(data)
	}
	text := all.String()
	for _, it := range b.Items {
		if !strings.Contains(text, "item: "+it.ID) {
			t.Errorf("no case for item %s", it.ID)
		}
	}
	for _, code := range []string{"capped", "cap_reached", "overlap_topped_up", "pool_limited", "pool_exhausted", "already_granted",
		"policy_not_in_force", "outside_etown", "penalty_within_3y", "dishonesty_listed", "data_center_no_energy_review", "below_threshold",
		"event_outside_policy_window", "requirement_not_met:", "missing_fact:", "governed_by_etown_rnd_policy",
		"invalid_uscc", "invalid_money", "invalid_date", "unknown_item", "invalid_value"} {
		if !strings.Contains(text, code) {
			t.Errorf("no case expects %s", code)
		}
	}
}

// TestBundleShape checks the loaded bundle against RULES.md's table.
func TestBundleShape(t *testing.T) {
	b := loadDefault(t)
	if len(b.Items) != 17 || len(b.Articles) != 20 || len(b.Pools) != 2 {
		t.Fatalf("items %d, articles %d, pools %d", len(b.Items), len(b.Articles), len(b.Pools))
	}
	for _, n := range []int{7, 9, 15, 17, 18} {
		if a := b.Article(n); a == nil || a.Monetary || len(a.Items) != 0 {
			t.Errorf("article %d should be non-monetary", n)
		}
	}
	review := map[string]bool{"compute_voucher": true, "industry_model": true, "dataset": true, "major_project_matching": true, "rnd_investment": true, "talent_base": true, "public_platform": true}
	for _, it := range b.Items {
		if it.Review != review[it.ID] {
			t.Errorf("%s: review %v", it.ID, it.Review)
		}
		if len(it.Departments) == 0 || b.Article(it.Article) == nil {
			t.Errorf("%s: departments or article missing", it.ID)
		}
	}
}

// mapFS copies the embedded bundle so a test can break it.
func mapFS(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(policies.Default(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(policies.Default(), p)
		m[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBrokenBundles: each kind of breakage is refused with file, line and item.
func TestBrokenBundles(t *testing.T) {
	cases := []struct {
		name, file, old, new, want, item string
	}{
		{"CEL type error", "items/compute_voucher.yaml", "ceiling: compute_fees * rate", "ceiling: compute_fees * 2.0", "does not type-check", "compute_voucher"},
		{"mixed types", "items/compute_voucher.yaml", "ceiling: compute_fees * rate", "ceiling: compute_fees + year", "does not type-check", "compute_voucher"},
		{"unknown fact", "items/model_voucher.yaml", "ceiling: contract_amount * rate", "ceiling: contract_amt * rate", "undeclared reference", "model_voucher"},
		{"missing article", "items/event.yaml", "article: 20", "article: 99", "article 99 does not exist", "event"},
		{"non-monetary article", "items/event.yaml", "article: 20", "article: 7", "non-monetary", "event"},
		{"unknown department", "items/dataset.yaml", "departments: [business_env, info_tech]", "departments: [business_env, nowhere]", `unknown department "nowhere"`, "dataset"},
		{"cap without a scope", "items/talent_base.yaml", "- {scope: enterprise_year, amount: yearly_cap}", "- {amount: yearly_cap}", "cap without a scope", "talent_base"},
		{"overlapping dated values", "items/compute_voucher.yaml", `rate: {type: ratio, values: [{from: 2024-11-24, value: "30/100"}]}`, `rate: {type: ratio, values: [{from: 2024-11-24, value: "30/100"}, {from: 2024-11-24, value: "20/100"}]}`, "overlap", "compute_voucher"},
		{"until overlapping the next", "items/compute_voucher.yaml", `rate: {type: ratio, values: [{from: 2024-11-24, value: "30/100"}]}`, `rate: {type: ratio, values: [{from: 2024-11-24, until: 2026-01-31, value: "30/100"}, {from: 2026-01-01, value: "20/100"}]}`, "overlaps", "compute_voucher"},
		{"parameter gap at the start", "items/genai_filing.yaml", `{from: 2024-11-24, value: "1000000"}`, `{from: 2025-01-01, value: "1000000"}`, "has no value from 2024-11-24", "genai_filing"},
		{"typo in a key", "items/scale_up.yaml", "ceiling: award", "ceilng: award", `unknown key "ceilng"`, "scale_up"},
		{"condition not boolean", "items/smart_transformation.yaml", "when: equipment_investment + software_integration_investment >= threshold", "when: equipment_investment + threshold", "want bool", "smart_transformation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := mapFS(t)
			src := string(m[c.file].Data)
			if !strings.Contains(src, c.old) {
				t.Fatalf("%s does not contain %q", c.file, c.old)
			}
			m[c.file] = &fstest.MapFile{Data: []byte(strings.Replace(src, c.old, c.new, 1))}
			_, err := policy.Load(m)
			le, ok := err.(*policy.LoadError)
			if !ok {
				t.Fatalf("loaded, or wrong error: %v", err)
			}
			found := false
			for _, p := range le.Problems {
				if strings.Contains(p.Msg, c.want) && p.File == c.file && p.Line > 0 && p.Item == c.item {
					found = true
				}
			}
			if !found {
				t.Fatalf("no problem %q at %s with a line and item %s in:\n%v", c.want, c.file, c.item, err)
			}
		})
	}
	t.Run("invalid YAML", func(t *testing.T) {
		m := mapFS(t)
		m["items/event.yaml"] = &fstest.MapFile{Data: []byte("id: event\n  name: [unclosed\n")}
		_, err := policy.Load(m)
		if err == nil || !strings.Contains(err.Error(), "items/event.yaml") {
			t.Fatalf("invalid YAML loaded: %v", err)
		}
	})
}
