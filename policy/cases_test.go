package policy_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"policydesk/policies"
	"policydesk/policy"
)

var (
	sharedCasesDir = filepath.Join("..", "..", "shared", "policy", "cases")
	bundleSuiteDir = filepath.Join("..", "policies", "etown-ai-2024-29", "tests")
)

// theBundle loads the embedded bundle once for the whole package.
var theBundle = sync.OnceValues(func() (*policy.Bundle, error) { return policy.Load(policies.Default()) })

func bundleFor(t testing.TB) *policy.Bundle {
	t.Helper()
	b, err := theBundle()
	if err != nil {
		t.Fatalf("the embedded bundle does not load: %v", err)
	}
	return b
}

// caseFiles lists the case files of dir with their contents.
func caseFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := policy.CaseFiles([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no case files in %s", dir)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	return out
}

// runCaseDir runs every case file of dir, one subtest a file, reports each
// failing case with its reasons, and returns the number of cases run.
func runCaseDir(t *testing.T, dir string) int {
	t.Helper()
	b := bundleFor(t)
	n := 0
	files := caseFiles(t, dir)
	for _, f := range slices.Sorted(maps.Keys(files)) {
		outcomes := b.RunCaseFile(f, files[f])
		n += len(outcomes)
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, o := range outcomes {
				if !o.Passed {
					t.Errorf("%s: %q: %s", filepath.Base(o.File), o.Name, strings.Join(o.Why, "; "))
				}
				if !o.Passed && len(o.Why) == 0 {
					t.Errorf("%s: %q failed without a reason", o.File, o.Name)
				}
			}
		})
	}
	return n
}

// TestSharedCases runs the worked examples of shared/policy/cases. The
// directory lives beside the repository; CI must have it.
func TestSharedCases(t *testing.T) {
	if _, err := os.Stat(sharedCasesDir); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared cases missing in CI: %v", err)
		}
		t.Skipf("shared cases not found: %v", err)
	}
	if n := runCaseDir(t, sharedCasesDir); n == 0 {
		t.Fatal("no shared case ran")
	}
}

// TestBundleSuite runs the bundle's own case suite.
func TestBundleSuite(t *testing.T) {
	n := runCaseDir(t, bundleSuiteDir)
	if n < 150 {
		t.Fatalf("%d cases ran, want at least 150", n)
	}
	t.Logf("%d cases", n)
}

// suiteCases parses every case of the bundle suite.
func suiteCases(t *testing.T) []policy.ParsedCase {
	t.Helper()
	b := bundleFor(t)
	var all []policy.ParsedCase
	for f, data := range caseFiles(t, bundleSuiteDir) {
		pcs, err := b.ParseCases(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, pcs...)
	}
	return all
}

// TestBundleSuiteCoversItems: every item of the bundle is claimed, and
// evaluated to a result, in at least one case of the suite.
func TestBundleSuiteCoversItems(t *testing.T) {
	b := bundleFor(t)
	claimed := map[string]int{}
	eligible := map[string]int{}
	for _, pc := range suiteCases(t) {
		if pc.Err != nil {
			continue
		}
		for _, cl := range pc.Case.Claims {
			claimed[cl.Item]++
		}
		res, err := b.Evaluate(pc.Case)
		if err != nil {
			continue
		}
		for _, r := range res {
			if r.Status == policy.Eligible || r.Status == policy.External {
				eligible[r.Item]++
			}
		}
	}
	for _, it := range b.Items {
		if claimed[it.ID] == 0 {
			t.Errorf("no case of the suite claims item %s", it.ID)
		}
		if eligible[it.ID] == 0 {
			t.Errorf("no case of the suite pays (or hands over) item %s", it.ID)
		}
	}
}

// reasonCodes are the outcome reasons of RULES.md §4; a trailing colon
// marks a prefix (requirement_not_met:<fact>, missing_fact:<fact>).
var reasonCodes = []string{
	"capped", "overlap_topped_up", "pool_limited",
	"cap_reached", "pool_exhausted", "already_granted",
	"policy_not_in_force", "outside_etown", "penalty_within_3y", "dishonesty_listed",
	"data_center_no_energy_review", "below_threshold", "event_outside_policy_window",
	"requirement_not_met:", "missing_fact:", "governed_by_etown_rnd_policy",
}

// inputErrorCodes are the input errors of RULES.md §4.
var inputErrorCodes = []string{"invalid_uscc", "invalid_money", "invalid_date", "unknown_item", "invalid_value"}

func hasCode(list []string, code string) bool {
	for _, r := range list {
		if r == code || strings.HasSuffix(code, ":") && strings.HasPrefix(r, code) && len(r) > len(code) {
			return true
		}
	}
	return false
}

// TestBundleSuiteCoversReasons: every reason code of RULES.md §4 is expected
// by some case, and produced by the engine in some result of the suite;
// every input error code is expected by some case.
func TestBundleSuiteCoversReasons(t *testing.T) {
	b := bundleFor(t)
	var expected, produced, expectedErrors []string
	for _, pc := range suiteCases(t) {
		c := pc.Case
		if c.ExpectError != "" {
			expectedErrors = append(expectedErrors, c.ExpectError)
		}
		for _, e := range c.Expect {
			expected = append(expected, e.Reasons...)
		}
		if pc.Err != nil {
			continue
		}
		if res, err := b.Evaluate(c); err == nil {
			for _, r := range res {
				produced = append(produced, r.Reasons...)
			}
		}
	}
	for _, code := range reasonCodes {
		if !hasCode(expected, code) {
			t.Errorf("no case expects the reason %s", code)
		}
		if !hasCode(produced, code) {
			t.Errorf("no result of the suite carries the reason %s", code)
		}
	}
	for _, code := range inputErrorCodes {
		if !hasCode(expectedErrors, code) {
			t.Errorf("no case expects the input error %s", code)
		}
	}
}

// TestRunCaseFileReportsFailures: the runner is not a rubber stamp — wrong
// expectations fail with a reason naming what differs.
func TestRunCaseFileReportsFailures(t *testing.T) {
	b := bundleFor(t)
	const head = "date: 2025-06-30\nenterprise: {uscc: 91110302MA01AB3C7G, in_etown: true, serious_dishonesty_listed: false, penalties: []}\n" +
		"claims: [{item: compute_voucher, facts: {year: 2025, compute_fees: \"6000000\"}}]\n"
	tests := []struct {
		name, expect, why string
		pass              bool
	}{
		{"right", `expect: [{item: compute_voucher, status: eligible, amount: "1800000.00", review_required: true}]`, "", true},
		{"amount", `expect: [{item: compute_voucher, status: eligible, amount: "1800000.01"}]`, "amount 1800000.00, expected 1800000.01", false},
		{"status", `expect: [{item: compute_voucher, status: ineligible}]`, "status eligible, expected ineligible", false},
		{"item", `expect: [{item: model_voucher, status: eligible}]`, "expected model_voucher", false},
		{"reason", `expect: [{item: compute_voucher, reasons: [capped]}]`, "reason capped missing", false},
		{"review", `expect: [{item: compute_voucher, review_required: false}]`, "review_required true, expected false", false},
		{"too many", "expect: [{item: compute_voucher}, {item: compute_voucher}]", "expected 2 results, got 1", false},
		{"bad amount text", `expect: [{item: compute_voucher, amount: "1800000.001"}]`, "amount", false},
		{"error not raised", "expect_error: invalid_money", "expected error invalid_money", false},
	}
	for _, tc := range tests {
		out := b.RunCaseFile(tc.name, []byte(head+tc.expect+"\n"))
		if len(out) != 1 {
			t.Fatalf("%s: %d outcomes", tc.name, len(out))
		}
		o := out[0]
		if o.Passed != tc.pass || (!tc.pass && !strings.Contains(strings.Join(o.Why, "; "), tc.why)) {
			t.Errorf("%s: passed %v, why %q; want passed %v with %q", tc.name, o.Passed, o.Why, tc.pass, tc.why)
		}
	}
	if out := b.RunCaseFile("garbage", []byte("- not a case\n")); len(out) != 1 || out[0].Passed {
		t.Errorf("a list at the top level passed: %+v", out)
	}
}
