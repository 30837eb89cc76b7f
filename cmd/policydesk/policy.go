package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"policydesk/money"
	"policydesk/policies"
	"policydesk/policy"
)

func init() {
	register("policy check", "检查政策包(类型、引用、日期参数)check a policy bundle", runPolicyCheck)
	register("policy test", "运行案例文件 run case files: policy test PATH...", runPolicyTest)
	register("policy list", "列出支持事项、条款、部门和现行参数 list items", runPolicyList)
	register("evaluate", "从标准输入读取一个案例,输出 JSON 结果 evaluate a case on stdin", runEvaluate)
	register("explain", "从标准输入读取一个案例,逐步说明 explain a case on stdin", runExplain)
}

// loadBundle loads the bundle at path, or the embedded one when path is "".
func loadBundle(path string) (*policy.Bundle, error) {
	if path == "" {
		return policy.Load(policies.Default())
	}
	return policy.LoadDir(path)
}

func bundleFlag(fs *flag.FlagSet, io stdio) *string {
	def := ""
	if io.getenv != nil {
		def = io.getenv("POLICYDESK_POLICY")
	}
	return fs.String("policy", def, "政策包目录 policy bundle directory (默认内置 default: embedded etown-ai-2024-29; env POLICYDESK_POLICY)")
}

func newFlags(name string, io stdio) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.err)
	return fs
}

func runPolicyCheck(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("policy check", io)
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	path := fs.Arg(0)
	b, err := loadBundle(path)
	if err != nil {
		fmt.Fprintln(io.err, "政策包不能加载 / bundle does not load:")
		var le *policy.LoadError
		if errors.As(err, &le) {
			for _, p := range le.Problems {
				fmt.Fprintln(io.err, "  "+p.String())
			}
		} else {
			fmt.Fprintln(io.err, "  "+err.Error())
		}
		return 1
	}
	where := path
	if where == "" {
		where = "(embedded " + policies.DefaultID + ")"
	}
	fmt.Fprintf(io.out, "ok %s: %s %s — %d items, %d articles, %d pools\n", where, b.DocNumber, b.ID, len(b.Items), len(b.Articles), len(b.Pools))
	return 0
}

func runPolicyTest(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("policy test", io)
	bpath := bundleFlag(fs, io)
	verbose := fs.Bool("v", false, "列出每个案例 list every case")
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(io.err, "用法 usage: policydesk policy test PATH...")
		return 2
	}
	b, err := loadBundle(*bpath)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	files, err := policy.CaseFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 2
	}
	passed, failed := 0, 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(io.err, err)
			failed++
			continue
		}
		for _, o := range b.RunCaseFile(f, data) {
			if o.Passed {
				passed++
				if *verbose {
					fmt.Fprintf(io.out, "PASS %s: %s\n", o.File, o.Name)
				}
				continue
			}
			failed++
			fmt.Fprintf(io.out, "FAIL %s: %s\n", o.File, o.Name)
			for _, w := range o.Why {
				fmt.Fprintf(io.out, "     %s\n", w)
			}
		}
	}
	fmt.Fprintf(io.out, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func runPolicyList(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("policy list", io)
	bpath := bundleFlag(fs, io)
	date := fs.String("date", "", "参数生效日期 show parameters in force on this date (default: today, within the policy's term)")
	asJSON := fs.Bool("json", false, "输出 JSON")
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	b, err := loadBundle(*bpath)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	on := b.InForce.From
	if *date != "" {
		if on, err = policy.ParseDate(*date); err != nil {
			fmt.Fprintln(io.err, "日期应为 YYYY-MM-DD / date must be YYYY-MM-DD")
			return 2
		}
	}
	type row struct {
		Item        string            `json:"item"`
		Name        string            `json:"name"`
		Article     int               `json:"article"`
		Departments []string          `json:"departments"`
		Review      bool              `json:"review"`
		Pool        string            `json:"pool,omitempty"`
		Ceiling     string            `json:"ceiling"`
		Parameters  map[string]string `json:"parameters"`
	}
	var rows []row
	for _, it := range b.Items {
		r := row{Item: it.ID, Name: it.Name, Article: it.Article, Review: it.Review, Pool: it.Pool, Ceiling: it.Ceiling, Parameters: map[string]string{}}
		if it.External != "" {
			r.Ceiling = "external: " + it.External
		}
		for _, d := range it.Departments {
			r.Departments = append(r.Departments, b.Department(d).Name)
		}
		for _, p := range it.Parameters {
			if v, ok := p.At(on); ok {
				u := policy.ParamUse{Name: p.Name, Type: p.Type, Value: v.Rat, From: v.From}
				r.Parameters[p.Name] = u.Display() + " (from " + v.From.String() + ")"
			}
		}
		rows = append(rows, r)
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return exitOn(enc.Encode(rows))
	}
	fmt.Fprintf(io.out, "%s %s(%s 至 %s)参数日期 %s\n\n", b.DocNumber, b.Title, b.InForce.From, b.InForce.Until, on)
	tw := tabwriter.NewWriter(io.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "条款\t事项\t名称\t责任部门\t评审\t公式\t参数")
	for _, r := range rows {
		var ps []string
		for _, p := range b.Item(r.Item).Parameters {
			if v, ok := r.Parameters[p.Name]; ok {
				ps = append(ps, p.Name+"="+v)
			}
		}
		review := ""
		if r.Review {
			review = "是"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", policy.ArticleName(r.Article, policy.Chinese), r.Item, r.Name, strings.Join(r.Departments, "、"), review, r.Ceiling, strings.Join(ps, "; "))
	}
	tw.Flush()
	var non []string
	for _, a := range b.Articles {
		if !a.Monetary {
			non = append(non, policy.ArticleName(a.Number, policy.Chinese)+a.Title)
		}
	}
	fmt.Fprintf(io.out, "\n非资金条款(提供服务,不计算金额):%s\n", strings.Join(non, ";"))
	for _, p := range b.Pools {
		if v, ok := p.Annual.At(on); ok {
			fmt.Fprintf(io.out, "年度资金池 %s(%s):%s\n", p.Name, policy.ArticleName(p.Article, policy.Chinese), money.Wan(v.Rat.Floor()))
		}
	}
	return 0
}

func exitOn(err error) int {
	if err != nil {
		return 1
	}
	return 0
}

// readCases reads stdin and parses it as cases; input errors print as
// {"error": {...}} and exit 2.
func readCases(io stdio, b *policy.Bundle) ([]policy.ParsedCase, int) {
	data, err := readLimited(io.in, 16<<20)
	if err != nil {
		writeInputError(io, &policy.InputError{Code: policy.CodeInvalidCase, Message: "无法读取输入:" + err.Error(), MessageEn: "cannot read input: " + err.Error()})
		return nil, 2
	}
	cases, err := b.ParseCases(data)
	if err != nil {
		var ie *policy.InputError
		if errors.As(err, &ie) {
			writeInputError(io, ie)
			return nil, 2
		}
		fmt.Fprintln(io.err, err)
		return nil, 1
	}
	return cases, 0
}

func readLimited(r io.Reader, n int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > n {
		return nil, fmt.Errorf("input larger than %d bytes", n)
	}
	return data, nil
}

func writeInputError(io stdio, e *policy.InputError) {
	enc := json.NewEncoder(io.out)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]any{"error": e})
	fmt.Fprintf(io.err, "输入错误 %s:%s\n", e.Code, e.Message)
}

func langFlag(fs *flag.FlagSet) *string {
	return fs.String("lang", "zh", "说明语言 language of explanations: zh or en")
}

func runEvaluate(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("evaluate", io)
	bpath := bundleFlag(fs, io)
	lang := langFlag(fs)
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	b, err := loadBundle(*bpath)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	cases, code := readCases(io, b)
	if code != 0 {
		return code
	}
	type caseOut struct {
		Name    string              `json:"name,omitempty"`
		Results []policy.ResultView `json:"results"`
	}
	var outs []caseOut
	for _, pc := range cases {
		if pc.Err != nil {
			writeInputError(io, pc.Err)
			return 2
		}
		res, err := b.Evaluate(pc.Case)
		if err != nil {
			var ie *policy.InputError
			if errors.As(err, &ie) {
				writeInputError(io, ie)
				return 2
			}
			fmt.Fprintln(io.err, err)
			return 1
		}
		co := caseOut{Name: pc.Case.Name, Results: make([]policy.ResultView, 0, len(res))}
		for i := range res {
			co.Results = append(co.Results, b.View(&res[i], policy.Lang(*lang)))
		}
		outs = append(outs, co)
	}
	enc := json.NewEncoder(io.out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if len(outs) == 1 {
		return exitOn(enc.Encode(map[string]any{"results": outs[0].Results}))
	}
	return exitOn(enc.Encode(map[string]any{"cases": outs}))
}

func runExplain(ctx context.Context, args []string, io stdio) int {
	fs := newFlags("explain", io)
	bpath := bundleFlag(fs, io)
	lang := langFlag(fs)
	if err := parseArgs(fs, args); err != nil {
		return 2
	}
	l := policy.Lang(*lang)
	b, err := loadBundle(*bpath)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	cases, code := readCases(io, b)
	if code != 0 {
		return code
	}
	for _, pc := range cases {
		if pc.Err != nil {
			writeInputError(io, pc.Err)
			return 2
		}
		res, err := b.Evaluate(pc.Case)
		if err != nil {
			var ie *policy.InputError
			if errors.As(err, &ie) {
				writeInputError(io, ie)
				return 2
			}
			return 1
		}
		if l == policy.English {
			fmt.Fprintf(io.out, "%s — %s, enterprise %s, evaluated on %s\n", pc.Case.Name, b.DocNumber, pc.Case.USCC, pc.Case.Date)
		} else {
			fmt.Fprintf(io.out, "%s — %s,企业 %s,评估日 %s\n", pc.Case.Name, policy.Hans(b.DocNumber), pc.Case.USCC, pc.Case.Date)
		}
		for i := range res {
			fmt.Fprint(io.out, b.Explain(&res[i], l))
		}
		fmt.Fprintln(io.out)
	}
	return 0
}
