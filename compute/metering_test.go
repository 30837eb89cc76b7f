package compute

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"policydesk/policy"
)

func TestCSVReader(t *testing.T) {
	in := "a,b,c\r\n" +
		" x , y ,z\n" +
		`"q,1","say ""hi""",3` + "\n" +
		`"multi` + "\n" + `line",2,3` + "\n" +
		"\n" +
		`bare"quote,2,3` + "\n" +
		`"closed"junk,2,3` + "\n" +
		"last,row,no-newline"
	cr := &csvReader{lr: lineReader{br: bufio.NewReader(strings.NewReader(in))}}
	type rec struct {
		line   int
		fields []string
		code   string
	}
	var got []rec
	for {
		line, f, err := cr.read()
		if err == io.EOF {
			break
		}
		r := rec{line: line}
		var re *RowError
		if errors.As(err, &re) {
			r.code = re.Code
		} else if err != nil {
			t.Fatal(err)
		}
		for _, x := range f {
			r.fields = append(r.fields, string(x))
		}
		got = append(got, r)
	}
	want := []rec{
		{1, []string{"a", "b", "c"}, ""},
		{2, []string{"x", "y", "z"}, ""},
		{3, []string{"q,1", `say "hi"`, "3"}, ""},
		{4, []string{"multi\nline", "2", "3"}, ""},
		{6, []string{""}, ""},
		{7, nil, CodeMalformed},
		{8, nil, CodeMalformed},
		{9, []string{"last", "row", "no-newline"}, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records: %+v", len(got), got)
	}
	for i := range want {
		if got[i].line != want[i].line || got[i].code != want[i].code || strings.Join(got[i].fields, "|") != strings.Join(want[i].fields, "|") {
			t.Fatalf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// An unterminated quote is fatal: the rest of the file cannot be read.
	cr = &csvReader{lr: lineReader{br: bufio.NewReader(strings.NewReader("a,\"b\nc\nd"))}}
	_, _, err := cr.read()
	var fe *errFatal
	if !errors.As(err, &fe) {
		t.Fatalf("unterminated quote: %v", err)
	}
}

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"2025-03-01", true}, {"2025/03/01", true}, {"20250301", true}, {"2024-02-29", true},
		{"2025-02-29", false}, {"2025-13-01", false}, {"2025-3-1", false}, {"2025-03/01", false}, {"", false}, {"1999-01-01", false},
	} {
		d, ok := parseDate([]byte(tc.in))
		if ok != tc.ok {
			t.Fatalf("%q: ok %v", tc.in, ok)
		}
		if ok {
			want, _ := policy.ParseDate(strings.NewReplacer("/", "-").Replace(tc.in[:4] + "-" + strings.TrimLeft(tc.in[4:], "-/")[:2] + "-" + tc.in[len(tc.in)-2:]))
			if d != want {
				t.Fatalf("%q: %s, want %s", tc.in, d, want)
			}
		}
	}
}

func TestParseFixed(t *testing.T) {
	for _, tc := range []struct {
		in    string
		scale int
		v     int64
		why   string
	}{
		{"12.5", 3, 12500, ""}, {"0.001", 3, 1, ""}, {"7", 2, 700, ""}, {"100000000000000.99", 2, 10000000000000099, ""},
		{"1.0001", 3, 0, numDecimals}, {"-1", 2, 0, numNegative}, {"1,000", 2, 0, numSyntax}, {"1.", 2, 0, numSyntax},
		{".5", 2, 0, numSyntax}, {"1e3", 2, 0, numSyntax}, {"", 2, 0, numSyntax}, {"999999999999999999", 3, 0, numTooLarge},
		{"99999999999999999", 3, 0, numTooLarge}, {"1.2.3", 2, 0, numSyntax},
	} {
		v, why := parseFixed([]byte(tc.in), tc.scale)
		if v != tc.v || why != tc.why {
			t.Fatalf("%q scale %d: %d %q, want %d %q", tc.in, tc.scale, v, why, tc.v, tc.why)
		}
	}
}

func TestMulDiv(t *testing.T) {
	if got := mulDiv(1<<62, 20, 100); got != (1<<62)/5 {
		t.Fatalf("mulDiv: %d", got)
	}
	if got := mulDiv(10, 1, 3); got != 3 {
		t.Fatalf("floor: %d", got)
	}
	if got := mulDiv(1<<62, 1<<62, 1); got != -1 {
		t.Fatalf("overflow: %d", got)
	}
}
