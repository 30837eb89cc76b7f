package desk_test

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"policydesk/apperr"
	"policydesk/desk"
)

// FuzzReadTable feeds arbitrary bytes to the CSV/XLSX table reader used by
// the imports (lists of enterprises, scenarios, facts). It returns rows of
// valid UTF-8 cells, or refuses with a coded error; it never panics.
func FuzzReadTable(f *testing.F) {
	f.Add([]byte("统一社会信用代码,名称\n91110302MA01AB3C7G,北京亦庄智算科技有限公司\n"), "list.csv")
	f.Add([]byte("\xef\xbb\xbfa,\"b\"\"c\",d\n1,2\n"), "bom.csv")
	f.Add([]byte("\xc3\xfb\xb3\xc6,\xb4\xfa\xc2\xeb\n"), "gbk.csv") // 名称,代码 in GBK
	f.Add([]byte("a,\"unterminated\n"), "bad.csv")
	x := excelize.NewFile()
	x.SetSheetRow("Sheet1", "A1", &[]any{"代码", "名称"})
	x.SetSheetRow("Sheet1", "A2", &[]any{"91110302MA01AB3C7G", "企业"})
	var buf bytes.Buffer
	if err := x.Write(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes(), "list.xlsx")
	f.Add(buf.Bytes()[:buf.Len()/2], "cut.xlsx")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		rows, err := desk.ReadTable(data, name)
		if err != nil {
			if c := apperr.CodeOf(err); c != apperr.Invalid && c != apperr.TooLarge {
				t.Fatalf("refused with code %q: %v", c, err)
			}
			return
		}
		for _, r := range rows {
			for _, cell := range r {
				if !utf8.ValidString(cell) {
					t.Fatalf("a cell is not UTF-8: %q", cell)
				}
			}
		}
	})
}
