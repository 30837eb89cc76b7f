package web

import (
	"strings"
	"testing"
	"testing/fstest"
)

func dictOf(t *testing.T, tsv string) *dictionary {
	t.Helper()
	d, err := loadDictionary(fstest.MapFS{"i18n/a.tsv": {Data: []byte(tsv)}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTemplateSegments(t *testing.T) {
	src := `{{define "x"}}<h1 title="提示">申报列表</h1>{{/* 注释 */}}<p>共 {{.N}} 条</p>` +
		`{{template "field" dict "Label" "企业名称"}}<a href="/a">English</a>` + "\n  多行\n文本 "
	var got []string
	for _, s := range templateSegments(src) {
		got = append(got, src[s.start:s.end])
	}
	want := []string{"提示", "申报列表", "共", "条", "企业名称", "多行", "文本"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("segments %q, want %q", got, want)
	}
}

func TestTranslateSource(t *testing.T) {
	d := dictOf(t, "提示\tHint\n申报列表\tApplications\n共\tIn all\n条\trows\n企业名称\tEnterprise’s name\n")
	src := `<h1 title="提示">申报列表</h1><p>共 {{.N}} 条</p>{{template "f" dict "Label" "企业名称"}}<p>未译</p>`
	out, missing := d.translateSource(src)
	want := `<h1 title="Hint">Applications</h1><p>In all {{.N}} rows</p>{{template "f" dict "Label" "Enterprise’s name"}}<p>未译</p>`
	if out != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	if len(missing) != 1 || missing[0] != "未译" {
		t.Fatalf("missing %q", missing)
	}
}

func TestTranslatePageWholeNodesOnly(t *testing.T) {
	d := dictOf(t, "已提交\tSubmitted\n%d 元\t%d yuan\n科技\tTechnology\n")
	learn("资金池余额不足", "the pool cannot cover it")
	page := `<td> 已提交 </td><td>北京科技有限公司</td><td>1,234.56 元</td><script>var x = "已提交";</script>` +
		`<textarea>已提交</textarea><p>资金池余额不足</p><span title="已提交">x</span><p>Paid（1 items）</p>`
	got := string(d.translatePage([]byte(page)))
	want := `<td> Submitted </td><td>北京科技有限公司</td><td>1,234.56 yuan</td><script>var x = "已提交";</script>` +
		`<textarea>已提交</textarea><p>the pool cannot cover it</p><span title="Submitted">x</span><p>Paid (1 items)</p>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestDictionaryRefusesBadLines(t *testing.T) {
	for name, tsv := range map[string]string{
		"no tab":       "申报\n",
		"quote":        "申报\tthe \"apply\"\n",
		"angle":        "申报\t<b>apply</b>\n",
		"twice":        "申报\tapply\n申报\tfile\n",
		"verbs differ": "共 %d 条\tall rows\n",
	} {
		if _, err := loadDictionary(fstest.MapFS{"i18n/a.tsv": {Data: []byte(tsv)}}); err == nil || !strings.Contains(err.Error(), "a.tsv:") {
			t.Errorf("%s: err %v, want one naming the file and line", name, err)
		}
	}
}

func TestEmbeddedDictionaryLoads(t *testing.T) {
	d, err := loadDictionary(i18nFS)
	if err != nil {
		t.Fatal(err)
	}
	if en, ok := d.lookup("8,629.40 万元"); !ok || en != "8,629.40 ×10k yuan" {
		t.Fatalf("amount: %q %v", en, ok)
	}
}

func TestLookupShapes(t *testing.T) {
	d := dictOf(t, "算力券\tCompute vouchers\n信息技术产业局\tIT Bureau\n经济发展局\tEconomy Bureau\n%s（%s）\t%s (%s)\n最高 %s\tup to %s\n%d 万元\t%d ×10k yuan\n")
	for in, want := range map[string]string{
		"第一条 算力券":                        "Art. 1 Compute vouchers",
		"第十二条":                           "Art. 12",
		"算力券（最高 2000 万元）":                "Compute vouchers (up to 2000 ×10k yuan)",
		"信息技术产业局、经济发展局":                  "IT Bureau, Economy Bureau",
		"Responsible department:信息技术产业局": "Responsible department: IT Bureau",
		"算力券 91110302MA01A001C4":         "Compute vouchers 91110302MA01A001C4",
	} {
		if got, ok := d.lookup(in); !ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
	// A shape counts only when every part translates: names stay whole.
	for _, in := range []string{"北京智算（测试）", "第一条 未知标题", "信息技术产业局、某某局", "北京某某科技有限公司"} {
		if got, ok := d.lookup(in); ok {
			t.Errorf("%q translated to %q, want it left alone", in, got)
		}
	}
}

func TestTranslateSourceSpacesWords(t *testing.T) {
	d := dictOf(t, "可用\tUse the\n政策计算器\tpolicy calculator\n查看\tto see\n理由：\tReason:\n的申请\t’s application\n")
	for src, want := range map[string]string{
		`<p>可用<a href="/c">政策计算器</a>查看</p>`: `<p>Use the <a href="/c">policy calculator</a> to see</p>`,
		`<p>理由：{{.Note}}</p>`:               `<p>Reason: {{.Note}}</p>`,
		`<p>{{if .X}}查看{{end}}</p>`:         `<p>{{if .X}}to see{{end}}</p>`,
		`<p>{{.Name}}的申请</p>`:               `<p>{{.Name}}’s application</p>`,
	} {
		if got, _ := d.translateSource(src); got != want {
			t.Errorf("%s\n got  %s\n want %s", src, got, want)
		}
	}
}
