package money

import (
	"regexp"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]int64{"6000000": 600000000, "1500000.5": 150000050, "0.01": 1, "007.10": 710, "0": 0, "999999999999999.99": 99999999999999999}
	for s, want := range good {
		if got, err := Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	bad := map[string]error{"-1": ErrNegative, "1.001": ErrDecimals, "1e6": ErrSyntax, "1,000": ErrSyntax, " 1": ErrSyntax, "": ErrEmpty,
		".5": ErrSyntax, "5.": ErrSyntax, "1000000000000000": ErrTooLarge, "1.2.3": ErrSyntax, "١٢": ErrSyntax}
	for s, want := range bad {
		if _, err := Parse(s); err != want {
			t.Errorf("Parse(%q) error %v, want %v", s, err, want)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := map[int64][2]string{0: {"0.00", "0.00"}, 1: {"0.01", "0.01"}, 180000000000: {"1800000000.00", "1,800,000,000.00"}, -150: {"-1.50", "-1.50"}}
	for f, want := range cases {
		if got := Format(f); got != want[0] {
			t.Errorf("Format(%d) = %s", f, got)
		}
		if got := FormatGrouped(f); got != want[1] {
			t.Errorf("FormatGrouped(%d) = %s", f, got)
		}
	}
	if Wan(2_000_000_000) != "2000万元" || Wan(123) != "1.23元" {
		t.Errorf("Wan: %s %s", Wan(2_000_000_000), Wan(123))
	}
	var a Amount
	if err := a.UnmarshalJSON([]byte(`"12.30"`)); err != nil || a != 1230 {
		t.Fatalf("Amount JSON: %d %v", a, err)
	}
	if b, _ := a.MarshalJSON(); string(b) != `"12.30"` {
		t.Fatalf("Amount marshal %s", b)
	}
	if err := a.UnmarshalJSON([]byte(`1.234`)); err == nil {
		t.Fatal("three decimals accepted")
	}
}

var plain = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,2})?$`)

// FuzzMoney: whatever is accepted is plain decimal text and round-trips.
func FuzzMoney(f *testing.F) {
	for _, s := range []string{"0", "1.5", "6000000.00", "-1", "1e3", "99999999999999999999", "0.001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if !plain.MatchString(s) || v < 0 {
			t.Fatalf("accepted %q as %d", s, v)
		}
		back, err := Parse(Format(v))
		if err != nil || back != v {
			t.Fatalf("round trip of %q: %d → %s → %d", s, v, Format(v), back)
		}
	})
}
