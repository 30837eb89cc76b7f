package money_test

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"policydesk/money"

	"pgregory.net/rapid"
)

func TestParseAmounts(t *testing.T) {
	tests := []struct {
		in   string
		want money.Fen
		err  error
	}{
		{"6000000", 600000000, nil},
		{"1500000.5", 150000050, nil},
		{"1500000.50", 150000050, nil},
		{"0.01", 1, nil},
		{"0.1", 10, nil},
		{"007.10", 710, nil},
		{"0", 0, nil},
		{"0.00", 0, nil},
		{"00", 0, nil},
		{"999999999999999.99", 99999999999999999, nil}, // 15 integer digits: the largest amount
		{"0000000000000000001", 100, nil},              // leading zeros do not count towards the limit

		{"-1", 0, money.ErrNegative},
		{"-0.01", 0, money.ErrNegative},
		{"-", 0, money.ErrNegative},
		{"1.234", 0, money.ErrDecimals},
		{"0.001", 0, money.ErrDecimals},
		{"1500000.500", 0, money.ErrDecimals},
		{"1e6", 0, money.ErrSyntax},
		{"1E6", 0, money.ErrSyntax},
		{"1,000", 0, money.ErrSyntax},
		{"1_000", 0, money.ErrSyntax},
		{" 1", 0, money.ErrSyntax},
		{"1 ", 0, money.ErrSyntax},
		{"+1", 0, money.ErrSyntax},
		{".5", 0, money.ErrSyntax},
		{"5.", 0, money.ErrSyntax},
		{".", 0, money.ErrSyntax},
		{"1.2.3", 0, money.ErrSyntax},
		{"0x10", 0, money.ErrSyntax},
		{"NaN", 0, money.ErrSyntax},
		{"Inf", 0, money.ErrSyntax},
		{"１", 0, money.ErrSyntax}, // full-width digit
		{"", 0, money.ErrEmpty},
		{"1000000000000000", 0, money.ErrTooLarge}, // 16 integer digits
		{"99999999999999999999", 0, money.ErrTooLarge},
		{"92233720368547758.08", 0, money.ErrTooLarge},
		{"184467440737095516160000", 0, money.ErrTooLarge},
	}
	for _, tc := range tests {
		got, err := money.Parse(tc.in)
		if !errors.Is(err, tc.err) {
			t.Errorf("Parse(%q) error = %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("Parse(%q) = %d, want %d", tc.in, got, tc.want)
		}
		if err != nil && got != 0 {
			t.Errorf("Parse(%q) = %d with error %v, want 0", tc.in, got, err)
		}
	}
}

func TestFormatAmounts(t *testing.T) {
	tests := []struct {
		in      money.Fen
		plain   string
		grouped string
	}{
		{0, "0.00", "0.00"},
		{1, "0.01", "0.01"},
		{10, "0.10", "0.10"},
		{99, "0.99", "0.99"},
		{100, "1.00", "1.00"},
		{99999, "999.99", "999.99"},
		{100000, "1000.00", "1,000.00"},
		{180000000, "1800000.00", "1,800,000.00"},
		{2000000000, "20000000.00", "20,000,000.00"},
		{123456789012, "1234567890.12", "1,234,567,890.12"},
		{-5, "-0.05", "-0.05"},
		{-100000000, "-1000000.00", "-1,000,000.00"},
		{-123456, "-1234.56", "-1,234.56"},
		{math.MaxInt64, "92233720368547758.07", "92,233,720,368,547,758.07"},
		{math.MinInt64, "-92233720368547758.08", "-92,233,720,368,547,758.08"},
	}
	for _, tc := range tests {
		if got := money.Format(tc.in); got != tc.plain {
			t.Errorf("Format(%d) = %q, want %q", tc.in, got, tc.plain)
		}
		if got := string(money.AppendFormat([]byte("x"), tc.in)); got != "x"+tc.plain {
			t.Errorf("AppendFormat(x, %d) = %q, want %q", tc.in, got, "x"+tc.plain)
		}
		if got := money.FormatGrouped(tc.in); got != tc.grouped {
			t.Errorf("FormatGrouped(%d) = %q, want %q", tc.in, got, tc.grouped)
		}
	}
}

func TestWanText(t *testing.T) {
	tests := []struct {
		in   money.Fen
		want string
	}{
		{2000000000, "2000万元"},
		{1000000, "1万元"},
		{123450, "1,234.50元"},
		{1500000, "15,000.00元"},
		{-1000000, "-10,000.00元"},
	}
	for _, tc := range tests {
		if got := money.Wan(tc.in); got != tc.want {
			t.Errorf("Wan(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRoundTrip: Format(Parse(x)) is the canonical form of x, and
// Parse(Format(f)) is f for every amount Parse can produce.
func TestRoundTrip(t *testing.T) {
	canon := map[string]string{
		"6000000":   "6000000.00",
		"1500000.5": "1500000.50",
		"0.01":      "0.01",
		"007.10":    "7.10",
		"000":       "0.00",
		"12.3":      "12.30",
	}
	for in, want := range canon {
		f, err := money.Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if got := money.Format(f); got != want {
			t.Errorf("Format(Parse(%q)) = %q, want %q", in, got, want)
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		f := rapid.Int64Range(0, 99999999999999999).Draw(t, "fen")
		s := money.Format(f)
		back, err := money.Parse(s)
		if err != nil || back != f {
			t.Fatalf("Parse(Format(%d)) = %d, %v (text %q)", f, back, err, s)
		}
		g := money.FormatGrouped(f)
		back, err = money.Parse(strings.ReplaceAll(g, ",", ""))
		if err != nil || back != f {
			t.Fatalf("FormatGrouped(%d) = %q does not read back", f, g)
		}
	})
}

var moneyText = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,2})?$`)

// FuzzMoneyParse checks that Parse accepts exactly plain decimals with at
// most two decimals and at most 15 significant integer digits, that the
// value is exact, and that Format reads back.
func FuzzMoneyParse(f *testing.F) {
	for _, s := range []string{"6000000", "1500000.5", "0.01", "007.10", "-1", "1.234", "1e6", "1,000", " 1", "", ".5", "5.",
		"999999999999999.99", "1000000000000000", "0000000000000000001.1", "+1", "1.", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fen, err := money.Parse(s)
		if err != nil {
			if fen != 0 {
				t.Fatalf("Parse(%q) = %d with error %v", s, fen, err)
			}
			if moneyText.MatchString(s) {
				intPart, _, _ := strings.Cut(s, ".")
				if len(strings.TrimLeft(intPart, "0")) <= money.MaxYuanDigits || !errors.Is(err, money.ErrTooLarge) {
					t.Fatalf("Parse(%q) refused a well-formed amount: %v", s, err)
				}
			}
			return
		}
		if !moneyText.MatchString(s) {
			t.Fatalf("Parse(%q) accepted text that is not ^[0-9]+(\\.[0-9]{1,2})?$", s)
		}
		// The value is exactly 100 × s.
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot read %q", s)
		}
		r.Mul(r, big.NewRat(100, 1))
		if !r.IsInt() || !r.Num().IsInt64() || r.Num().Int64() != fen {
			t.Fatalf("Parse(%q) = %d, want %s", s, fen, r.RatString())
		}
		back, err := money.Parse(money.Format(fen))
		if err != nil || back != fen {
			t.Fatalf("Parse(Format(Parse(%q))) = %d, %v; want %d", s, back, err, fen)
		}
	})
}
