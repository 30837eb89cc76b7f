package policy_test

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"policydesk/policy"
)

func mustDate(t testing.TB, s string) policy.Date {
	t.Helper()
	d, err := policy.ParseDate(s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return d
}

func TestParseDate(t *testing.T) {
	valid := []string{
		"2024-11-24", "2027-12-31", "2024-02-29", "2000-02-29", "2028-02-29", "1970-01-01", "1900-01-01",
		"2025-01-31", "2025-04-30", "2025-12-01", "9999-12-31",
	}
	for _, s := range valid {
		d, err := policy.ParseDate(s)
		if err != nil {
			t.Errorf("ParseDate(%q) = %v, want a date", s, err)
			continue
		}
		if d.String() != s {
			t.Errorf("ParseDate(%q).String() = %q", s, d.String())
		}
		tm, _ := time.Parse(time.DateOnly, s)
		if d.Time() != tm || policy.DateOf(tm) != d || d.Year() != tm.Year() {
			t.Errorf("ParseDate(%q) = %v, disagrees with time.Parse %v", s, d.Time(), tm)
		}
		if b, _ := d.MarshalText(); string(b) != s {
			t.Errorf("MarshalText(%q) = %q", s, b)
		}
	}
	invalid := []string{
		"2025-02-29", "1900-02-29", "2100-02-29", "2025-02-30", "2025-04-31", "2025-06-31", "2025-13-01", "2025-00-10",
		"2025-01-00", "2025-01-32", "1899-12-31", "0000-01-01",
		"", "2025-6-30", "2025-06-3", "25-06-30", "2025/06/30", "20250630", "2025.06.30", " 2025-06-30", "2025-06-30 ",
		"2025-06-30T00:00:00Z", "2025-06-30Z", "+025-06-30", "-025-06-30", "2025-0a-01", "2025-06-3x", "2025_06_30",
		"２０２５-06-30", "30-06-2025", "2025-06--1", "2025-+6-01",
	}
	for _, s := range invalid {
		if d, err := policy.ParseDate(s); !errors.Is(err, policy.ErrDate) {
			t.Errorf("ParseDate(%q) = %v, %v; want ErrDate", s, d, err)
		}
	}
}

func TestDateAddYears(t *testing.T) {
	tests := []struct {
		from string
		n    int
		want string
	}{
		{"2027-02-28", -3, "2024-02-28"},
		{"2028-02-29", -3, "2025-02-28"}, // no 29 February in 2025
		{"2028-02-29", -4, "2024-02-29"},
		{"2024-02-29", 3, "2027-02-28"},
		{"2024-02-29", 4, "2028-02-29"},
		{"2024-02-29", 1, "2025-02-28"},
		{"2027-03-01", -3, "2024-03-01"},
		{"2025-06-30", -3, "2022-06-30"},
		{"2027-12-31", -3, "2024-12-31"},
		{"2025-01-01", 0, "2025-01-01"},
	}
	for _, tc := range tests {
		if got := mustDate(t, tc.from).AddYears(tc.n).String(); got != tc.want {
			t.Errorf("%s.AddYears(%d) = %s, want %s", tc.from, tc.n, got, tc.want)
		}
	}
}

func TestWindowContains(t *testing.T) {
	w := policy.Window{From: mustDate(t, "2024-11-24"), Until: mustDate(t, "2027-12-31")}
	for s, want := range map[string]bool{
		"2024-11-23": false, "2024-11-24": true, "2026-01-01": true, "2027-12-31": true, "2028-01-01": false,
	} {
		if got := w.Contains(mustDate(t, s)); got != want {
			t.Errorf("window contains %s = %v, want %v", s, got, want)
		}
	}
}

var dateText = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// FuzzParseDateStrict: ParseDate accepts exactly what time.Parse(DateOnly)
// accepts from 1900 on, and accepted text reads back unchanged.
func FuzzParseDateStrict(f *testing.F) {
	for _, s := range []string{"2024-02-29", "2025-02-29", "2027-12-31", "1899-12-31", "2025-6-30", "2025-06-30T00:00:00Z", "", "0000-00-00", "9999-99-99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := policy.ParseDate(s)
		tm, terr := time.Parse(time.DateOnly, s)
		want := terr == nil && dateText.MatchString(s) && tm.Year() >= 1900
		if (err == nil) != want {
			t.Fatalf("ParseDate(%q) error %v, time.Parse error %v", s, err, terr)
		}
		if err != nil {
			if !errors.Is(err, policy.ErrDate) || d != 0 {
				t.Fatalf("ParseDate(%q) = %v, %v", s, d, err)
			}
			return
		}
		if d.String() != s || d.Time() != tm {
			t.Fatalf("ParseDate(%q) = %s", s, d)
		}
		for _, n := range []int{-3, 3} {
			a := d.AddYears(n)
			if a.Year() != d.Year()+n {
				t.Fatalf("%s.AddYears(%d) = %s", d, n, a)
			}
			if a.Time().Month() != d.Time().Month() && !(d.Time().Month() == 2 && d.Time().Day() == 29) {
				t.Fatalf("%s.AddYears(%d) = %s changes the month", d, n, a)
			}
		}
	})
}
