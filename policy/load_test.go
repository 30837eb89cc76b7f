package policy_test

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"policydesk/policies"
	"policydesk/policy"
)

// bundleCopy copies the embedded bundle into a MapFS a test may break.
func bundleCopy(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	src := policies.Default()
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		m[p] = &fstest.MapFile{Data: data}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// lineOf is the 1-based line of the first occurrence of marker in text.
func lineOf(t *testing.T, text, marker string) int {
	t.Helper()
	i := strings.Index(text, marker)
	if i < 0 {
		t.Fatalf("marker %q not in the broken file", marker)
	}
	return strings.Count(text[:i], "\n") + 1
}

func TestRealBundleLoads(t *testing.T) {
	b, err := policy.Load(policies.Default())
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "etown-ai-2024-29" || b.InForce.From.String() != "2024-11-24" || b.InForce.Until.String() != "2027-12-31" {
		t.Errorf("bundle %s in force %s–%s", b.ID, b.InForce.From, b.InForce.Until)
	}
	if len(b.Items) != 17 {
		t.Errorf("%d items, want 17", len(b.Items))
	}
	if len(b.Articles) != 20 {
		t.Errorf("%d articles, want 20", len(b.Articles))
	}
	nonMonetary := []int{7, 9, 15, 17, 18}
	for n := 1; n <= 20; n++ {
		a := b.Article(n)
		if a == nil {
			t.Errorf("article %d missing", n)
			continue
		}
		if want := !slices.Contains(nonMonetary, n); a.Monetary != want {
			t.Errorf("article %d monetary = %v, want %v", n, a.Monetary, want)
		}
		if a.Monetary == (len(a.Items) == 0) {
			t.Errorf("article %d (monetary %v) carries items %v", n, a.Monetary, a.Items)
		}
		if a.Text == "" || len(a.Departments) == 0 {
			t.Errorf("article %d has no text or no department", n)
		}
	}
	// RULES.md §3: article, review and departments of each item.
	deptName := map[string]string{}
	for _, d := range b.Departments {
		deptName[d.ID] = d.Name
	}
	want := map[string]struct {
		article int
		review  bool
		depts   string
	}{
		"compute_voucher":          {1, true, "資訊技術産業局"},
		"domestic_compute_servers": {2, false, "資訊技術産業局"},
		"genai_filing":             {3, false, "資訊技術産業局"},
		"industry_model":           {4, true, "資訊技術産業局"},
		"dataset":                  {5, true, "營商環境建設局,資訊技術産業局"},
		"data_firsts":              {6, false, "營商環境建設局,資訊技術産業局"},
		"model_voucher":            {8, false, "資訊技術産業局,營商環境建設局"},
		"smart_transformation":     {10, false, "經濟發展局"},
		"major_project_matching":   {11, true, "科技和産業促進局"},
		"rnd_investment":           {12, true, "科技和産業促進局,資訊技術産業局"},
		"scale_up":                 {13, false, "經濟發展局"},
		"specialized":              {13, false, "經濟發展局,科技和産業促進局"},
		"high_tech":                {13, false, "科技和産業促進局"},
		"standard":                 {14, false, "商務金融局"},
		"talent_base":              {16, true, "組織人事部,社會事業局,資訊技術産業局,人才集團"},
		"public_platform":          {19, true, "資訊技術産業局"},
		"event":                    {20, false, "科技和産業促進局"},
	}
	for id, w := range want {
		it := b.Item(id)
		if it == nil {
			t.Errorf("item %s missing", id)
			continue
		}
		var names []string
		for _, d := range it.Departments {
			names = append(names, deptName[d])
		}
		if it.Article != w.article || it.Review != w.review || strings.Join(names, ",") != w.depts {
			t.Errorf("item %s: article %d review %v departments %v; want %d %v %s", id, it.Article, it.Review, names, w.article, w.review, w.depts)
		}
	}
	if b.Item("rnd_investment").External != "governed_by_etown_rnd_policy" {
		t.Error("rnd_investment is not external")
	}
	if len(b.Pools) != 2 || b.Pool("compute_voucher") == nil || b.Pool("model_voucher") == nil {
		t.Errorf("pools %v", b.Pools)
	}
	// The same bundle from the directory on disk.
	d, err := policy.LoadDir(filepath.Join("..", "policies", "etown-ai-2024-29"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Items) != len(b.Items) || len(d.Articles) != len(b.Articles) {
		t.Errorf("LoadDir: %d items, %d articles", len(d.Items), len(d.Articles))
	}
}

// TestLoadBrokenBundle applies one breakage to a copy of the real bundle and
// expects a *LoadError with a problem at the right file, line and item.
func TestLoadBrokenBundle(t *testing.T) {
	const rateOne = `rate: {type: ratio, values: [{from: 2024-11-24, value: "30/100"}]}`
	tests := []struct {
		name     string
		file     string
		old, new string
		msg      string   // part of the problem's message
		item     string   // the problem's item ("" for policy-wide problems)
		lines    []string // the problem's line is the line of one of these markers in the broken file; nil: any line > 0
	}{
		{"CEL type error: rat × double", "items/compute_voucher.yaml", "ceiling: compute_fees * rate", "ceiling: compute_fees * 2.0",
			"does not type-check", "compute_voucher", []string{"ceiling:"}},
		{"CEL type error: rat + int", "items/compute_voucher.yaml", "ceiling: compute_fees * rate", "ceiling: compute_fees + year",
			"does not type-check", "compute_voucher", []string{"ceiling:"}},
		{"ceiling of type bool", "items/compute_voucher.yaml", "ceiling: compute_fees * rate", "ceiling: compute_fees > rate",
			"want amount", "compute_voucher", []string{"ceiling:"}},
		{"ceiling refers to itself", "items/compute_voucher.yaml", "ceiling: compute_fees * rate", "ceiling: compute_fees * rate + ceiling",
			"may not refer to ceiling", "compute_voucher", []string{"ceiling:"}},
		{"unknown fact in a formula", "items/model_voucher.yaml", "ceiling: contract_amount * rate", "ceiling: contract_amt * rate",
			"undeclared reference", "model_voucher", []string{"ceiling:"}},
		{"unknown parameter in a cap", "items/compute_voucher.yaml", "amount: yearly_cap,", "amount: yearly_cao,",
			"undeclared reference", "compute_voucher", []string{"yearly_cao"}},
		{"unknown parameter in a condition", "items/smart_transformation.yaml", ">= threshold,", ">= thresold,",
			"undeclared reference", "smart_transformation", []string{"thresold"}},
		{"condition not boolean", "items/smart_transformation.yaml", "when: equipment_investment + software_integration_investment >= threshold",
			"when: equipment_investment + threshold", "want bool", "smart_transformation", []string{"when:"}},
		{"missing article", "items/event.yaml", "article: 20", "article: 99",
			"article 99 does not exist", "event", []string{"id: event", "article: 99"}},
		{"non-monetary article carries an item", "items/event.yaml", "article: 20", "article: 7",
			"article 7 is marked non-monetary", "event", []string{"id: event", "article: 7"}},
		{"unknown department", "items/dataset.yaml", "departments: [business_env, info_tech]", "departments: [business_env, nowhere]",
			`unknown department "nowhere"`, "dataset", []string{"departments:"}},
		{"unknown department of an article", "articles.yaml", "departments: [business_env, info_tech]", "departments: [business_env, nowhere]",
			`unknown department "nowhere"`, "", []string{"nowhere"}},
		{"cap without a scope", "items/talent_base.yaml", "- {scope: enterprise_year, amount: yearly_cap}", "- {amount: yearly_cap}",
			"cap without a scope", "talent_base", []string{"- {amount: yearly_cap}"}},
		{"cap with an unknown scope", "items/talent_base.yaml", "scope: enterprise_year", "scope: per_galaxy",
			`cap scope "per_galaxy"`, "talent_base", []string{"per_galaxy"}},
		{"once cap with an amount", "items/genai_filing.yaml", "- {scope: once_enterprise}", "- {scope: once_enterprise, amount: award}",
			"takes no amount", "genai_filing", []string{"once_enterprise"}},
		{"project cap without a project fact", "items/talent_base.yaml", "scope: enterprise_year", "scope: project",
			"needs the item's project_fact", "talent_base", []string{"scope: project"}},
		{"two values with the same from", "items/compute_voucher.yaml", rateOne,
			"rate:\n    type: ratio\n    values:\n      - {from: 2024-11-24, value: \"30/100\"}\n      - {from: 2024-11-24, value: \"20/100\"}",
			"overlap", "compute_voucher", []string{`"20/100"`}},
		{"until overlapping the next value", "items/compute_voucher.yaml", rateOne,
			"rate:\n    type: ratio\n    values:\n      - {from: 2024-11-24, until: 2026-01-31, value: \"30/100\"}\n      - {from: 2026-01-01, value: \"20/100\"}",
			"overlaps the value of line", "compute_voucher", []string{"from: 2026-01-01"}},
		{"until before from", "items/compute_voucher.yaml", rateOne,
			`rate: {type: ratio, values: [{from: 2024-11-24, until: 2024-01-01, value: "30/100"}]}`,
			"is before from", "compute_voucher", []string{"rate:"}},
		{"gap after a dated value", "items/compute_voucher.yaml", rateOne,
			"rate:\n    type: ratio\n    values:\n      - {from: 2024-11-24, until: 2025-12-31, value: \"30/100\"}\n      - {from: 2026-02-01, value: \"20/100\"}",
			"has no value after 2025-12-31", "compute_voucher", []string{"until: 2025-12-31"}},
		{"parameter does not cover the start date", "items/genai_filing.yaml", `{from: 2024-11-24, value: "1000000"}`, `{from: 2025-01-01, value: "1000000"}`,
			"has no value from 2024-11-24", "genai_filing", []string{"award:"}},
		{"pool does not cover the start date", "policy.yaml", `annual: [{from: 2024-11-24, value: "100000000"}]`, `annual: [{from: 2025-01-01, value: "100000000"}]`,
			"has no value from 2024-11-24", "", []string{"annual: [{from: 2025-01-01"}},
		{"money parameter with 3 decimals", "items/compute_voucher.yaml", `value: "20000000"`, `value: "20000000.001"`,
			"is not an amount in yuan", "compute_voucher", []string{"20000000.001"}},
		{"ratio parameter that is not a ratio", "items/compute_voucher.yaml", `value: "30/100"`, `value: "0.3"`,
			"bad ratio", "compute_voucher", []string{`"0.3"`}},
		{"typo in an item key", "items/scale_up.yaml", "ceiling: award", "ceilng: award",
			`unknown key "ceilng"`, "scale_up", []string{"ceilng:"}},
		{"typo in a fact key", "items/compute_voucher.yaml", "compute_fees: {type: money, label:", "compute_fees: {type: money, lable:",
			`unknown key "lable"`, "compute_voucher", []string{"lable"}},
		{"unknown fact type", "items/compute_voucher.yaml", "compute_fees: {type: money", "compute_fees: {type: monee",
			`unknown type "monee"`, "compute_voucher", []string{"monee"}},
		{"must_be_true on a non-bool fact", "items/event.yaml", "cost: {type: money,", "cost: {type: money, must_be_true: true,",
			"must_be_true needs type bool", "event", []string{"cost:"}},
		{"enum without values", "items/event.yaml", "values: [international, domestic]", "values: []",
			"has no values", "event", []string{"scope:", "type: enum"}},
		{"year_fact that is not a year", "items/compute_voucher.yaml", "year_fact: year", "year_fact: compute_fees",
			`year_fact "compute_fees"`, "compute_voucher", []string{"id: compute_voucher", "year_fact:"}},
		{"unknown pool", "items/compute_voucher.yaml", "pool: compute_voucher", "pool: gpu_voucher",
			`unknown pool "gpu_voucher"`, "compute_voucher", []string{"id: compute_voucher", "pool:"}},
		{"item id does not match its file", "items/compute_voucher.yaml", "id: compute_voucher", "id: compute_vouchers",
			"does not match its file name", "compute_vouchers", []string{"id: compute_vouchers"}},
		{"eligibility rule on an unknown fact", "policy.yaml", "fact: in_etown,", "fact: in_etwon,",
			`unknown fact "in_etwon"`, "", []string{"in_etwon"}},
		{"in_force until before from", "policy.yaml", "in_force: {from: 2024-11-24, until: 2027-12-31}", "in_force: {from: 2024-11-24, until: 2023-12-31}",
			"until is before from", "", []string{"in_force:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := bundleCopy(t)
			f := m[tc.file]
			if f == nil {
				t.Fatalf("no file %s in the bundle", tc.file)
			}
			src := string(f.Data)
			if !strings.Contains(src, tc.old) {
				t.Fatalf("%s does not contain %q: the bundle changed, update the test", tc.file, tc.old)
			}
			broken := strings.Replace(src, tc.old, tc.new, 1)
			m[tc.file] = &fstest.MapFile{Data: []byte(broken)}
			b, err := policy.Load(m)
			if err == nil {
				t.Fatalf("the broken bundle loaded (%d items)", len(b.Items))
			}
			if b != nil {
				t.Errorf("Load returned a bundle with the error %v", err)
			}
			var le *policy.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %T %v, want *policy.LoadError", err, err)
			}
			var lines []int
			for _, mk := range tc.lines {
				lines = append(lines, lineOf(t, broken, mk))
			}
			for _, p := range le.Problems {
				if !strings.Contains(p.Msg, tc.msg) {
					continue
				}
				if p.File != tc.file || p.Item != tc.item || p.Line <= 0 || (lines != nil && !slices.Contains(lines, p.Line)) {
					t.Fatalf("problem %q at %s:%d item %q; want %s line %v item %q", p.Msg, p.File, p.Line, p.Item, tc.file, lines, tc.item)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%s:%d", p.File, p.Line)) {
					t.Errorf("error text does not give %s:%d:\n%v", p.File, p.Line, err)
				}
				return
			}
			t.Fatalf("no problem mentions %q:\n%v", tc.msg, err)
		})
	}
}

// TestLoadInvalidYAML: a file that is not YAML is named, with its line.
func TestLoadInvalidYAML(t *testing.T) {
	for _, tc := range []struct {
		file, text string
		line       int
	}{
		{"items/event.yaml", "id: event\nname: 論壇\n  article: [20\n", 3},
		{"articles.yaml", "articles:\n  - number: 1\n    text: a\n    title: b: c\n", 4},
		{"policy.yaml", "id: etown-ai-2024-29\n\tissued: 2024-11-24\n", 2},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m := bundleCopy(t)
			m[tc.file] = &fstest.MapFile{Data: []byte(tc.text)}
			_, err := policy.Load(m)
			var le *policy.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %v, want *policy.LoadError", err)
			}
			for _, p := range le.Problems {
				if p.File != tc.file || !strings.Contains(p.Msg, "not valid YAML") {
					continue
				}
				// The line is in the problem, or at least in its message.
				if p.Line != tc.line && !strings.Contains(p.Msg, fmt.Sprintf("line %d", tc.line)) {
					t.Errorf("problem %s:%d %q does not give line %d", p.File, p.Line, p.Msg, tc.line)
				}
				return
			}
			t.Fatalf("no invalid-YAML problem for %s:\n%v", tc.file, err)
		})
	}
}

// TestLoadReportsEveryProblem: two unrelated breakages are both reported.
func TestLoadReportsEveryProblem(t *testing.T) {
	m := bundleCopy(t)
	for file, r := range map[string][2]string{
		"items/dataset.yaml": {"departments: [business_env, info_tech]", "departments: [business_env, nowhere]"},
		"items/event.yaml":   {"ceiling: cost * rate", "ceilng: cost * rate"},
	} {
		m[file] = &fstest.MapFile{Data: []byte(strings.Replace(string(m[file].Data), r[0], r[1], 1))}
	}
	_, err := policy.Load(m)
	var le *policy.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v, want *policy.LoadError", err)
	}
	files := map[string]bool{}
	for _, p := range le.Problems {
		files[p.File] = true
	}
	if !files["items/dataset.yaml"] || !files["items/event.yaml"] {
		t.Fatalf("problems do not name both files:\n%v", err)
	}
}

// TestLoadMissingFiles: a bundle without its files is refused, not empty.
func TestLoadMissingFiles(t *testing.T) {
	for _, missing := range []string{"policy.yaml", "articles.yaml", "items/"} {
		m := bundleCopy(t)
		for p := range m {
			if p == missing || strings.HasPrefix(p, missing) && strings.HasSuffix(missing, "/") {
				delete(m, p)
			}
		}
		_, err := policy.Load(m)
		var le *policy.LoadError
		if !errors.As(err, &le) || len(le.Problems) == 0 {
			t.Errorf("without %s: %v", missing, err)
			continue
		}
		if !strings.Contains(err.Error(), strings.TrimSuffix(missing, "/")) {
			t.Errorf("without %s, the error does not name it:\n%v", missing, err)
		}
	}
}
