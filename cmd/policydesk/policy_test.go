package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs a subcommand in-process.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), args, stdio{in: strings.NewReader(stdin), out: &out, err: &errb, getenv: func(string) string { return "" }})
	return code, out.String(), errb.String()
}

const okCase = `name: 算力券
date: 2025-06-30
enterprise: {uscc: 91110302MA01AB3C7G, in_etown: true, serious_dishonesty_listed: false, penalties: []}
claims:
  - {item: compute_voucher, facts: {year: 2025, compute_fees: "6000000"}}
`

func TestEvaluateJSON(t *testing.T) {
	code, out, _ := run(t, okCase, "evaluate")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var v struct {
		Results []struct {
			Item, Status, Amount, Ceiling string
			Reasons                       []string
			ReviewRequired                bool `json:"review_required"`
			Article                       int
			Trace                         []struct{ Step, Text string }
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	r := v.Results[0]
	if r.Status != "eligible" || r.Amount != "1800000.00" || !r.ReviewRequired || r.Article != 1 || len(r.Trace) < 5 || r.Reasons == nil {
		t.Fatalf("result: %+v", r)
	}
}

func TestEvaluateInputError(t *testing.T) {
	bad := strings.Replace(okCase, `"6000000"`, `"-5"`, 1)
	code, out, _ := run(t, bad, "evaluate")
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	var v struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Error.Code != "invalid_money" || v.Error.Message == "" {
		t.Fatalf("error output %q (%v)", out, err)
	}
	for _, in := range []string{"", "::: not yaml", "[1, 2]", "date: 2025-13-01\nenterprise: {uscc: 91110302MA01AB3C7G}\n"} {
		if code, _, _ := run(t, in, "evaluate"); code != 2 {
			t.Errorf("input %q: exit %d, want 2", in, code)
		}
	}
}

func TestExplainLanguages(t *testing.T) {
	_, zh, _ := run(t, okCase, "explain")
	_, en, _ := run(t, okCase, "explain", "--lang", "en")
	if !strings.Contains(zh, "第一条") || !strings.Contains(zh, "1,800,000.00") {
		t.Fatalf("zh: %s", zh)
	}
	if !strings.Contains(en, "Art. 1") || strings.Contains(en, "第一条") {
		t.Fatalf("en: %s", en)
	}
}

func TestPolicyTestCommand(t *testing.T) {
	dir := t.TempDir()
	good := okCase + "expect:\n  - {item: compute_voucher, status: eligible, amount: \"1800000.00\"}\n"
	wrong := okCase + "expect:\n  - {item: compute_voucher, status: eligible, amount: \"1.00\"}\n"
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(good), 0o644)
	code, out, _ := run(t, "", "policy", "test", dir)
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "1 passed, 0 failed") {
		t.Fatalf("exit %d: %s", code, out)
	}
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(wrong), 0o644)
	code, out, _ = run(t, "", "policy", "test", dir)
	if code != 1 || !strings.Contains(out, "1 passed, 1 failed") || !strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestPolicyCheckAndList(t *testing.T) {
	if code, out, _ := run(t, "", "policy", "check"); code != 0 || !strings.Contains(out, "17 items") {
		t.Fatalf("check: %d %s", code, out)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "items"), 0o755)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("id: x\n"), 0o644)
	code, _, errs := run(t, "", "policy", "check", dir)
	if code != 1 || !strings.Contains(errs, "policy.yaml") {
		t.Fatalf("broken bundle: %d %s", code, errs)
	}
	code, out, _ := run(t, "", "policy", "list", "--json")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 17 {
		t.Fatalf("list: %d %d", code, len(rows))
	}
}

func TestGenAndMatch(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "p.jsonl")
	if code, _, errs := run(t, "", "gen", "profiles", "300", "--out", in); code != 0 {
		t.Fatal(errs)
	}
	a, _ := os.ReadFile(in)
	run(t, "", "gen", "profiles", "300", "--out", in+"2")
	b, _ := os.ReadFile(in + "2")
	if !bytes.Equal(a, b) || bytes.Count(a, []byte("\n")) != 300 {
		t.Fatal("the generator is not deterministic")
	}
	out := filepath.Join(dir, "m.jsonl")
	code, _, errs := run(t, "", "match", in, "--date", "2025-06-30", "--out", out, "--progress", "off")
	if code != 0 {
		t.Fatalf("match: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(string(must(os.ReadFile(out)))), "\n")
	if len(lines) != 300 {
		t.Fatalf("%d output lines", len(lines))
	}
	var first struct {
		Line   int
		USCC   string
		Offers []struct{ Item, Status, Amount string }
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Line != 1 || first.USCC == "" {
		t.Fatalf("first line %s", lines[0])
	}
	// CSV in, with a bad row: reported by line, the rest matched.
	csvIn := filepath.Join(dir, "p.csv")
	os.WriteFile(csvIn, []byte("uscc,name,in_etown,serious_dishonesty_listed,penalties,year,compute_fees\n91110302MA01AB3C7G,甲,true,false,[],2025,6000000\n91110302MA01AB3C7X,乙,true,false,[],2025,1\n"), 0o644)
	code, _, _ = run(t, "", "match", csvIn, "--date", "2025-06-30", "--out", out, "--progress", "off")
	got := string(must(os.ReadFile(out)))
	if code != 1 || !strings.Contains(got, `"line":3`) || !strings.Contains(got, "invalid_uscc") || !strings.Contains(got, `"amount":"1800000.00"`) {
		t.Fatalf("csv match: exit %d\n%s", code, got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
