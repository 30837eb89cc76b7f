package calendar_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"policydesk/calendar"
)

var beijing = time.FixedZone("CST", 8*3600)

// day parses YYYY-MM-DD as a Beijing date.
func day(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := time.ParseInLocation("2006-01-02", s, beijing)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDefaultYears(t *testing.T) {
	c := calendar.Default()
	ys := c.Years()
	if len(ys) != 4 || ys[0].Year != 2024 || ys[3].Year != 2027 {
		t.Fatalf("Years = %+v", ys)
	}
	for _, y := range ys[:3] {
		if y.Provisional || !strings.Contains(y.Source, "国务院办公厅关于") {
			t.Errorf("%d: %+v", y.Year, y)
		}
	}
	tests := map[int]bool{2023: true, 2024: false, 2025: false, 2026: false, 2027: true, 2028: true}
	for y, want := range tests {
		if got := c.Provisional(y); got != want {
			t.Errorf("Provisional(%d) = %v, want %v", y, got, want)
		}
	}
}

func TestIsWorkday(t *testing.T) {
	c := calendar.Default()
	tests := []struct {
		date    string
		workday bool
		why     string
	}{
		// 2024 (国办发明电〔2023〕7号)
		{"2024-01-01", false, "元旦, Monday"},
		{"2024-02-04", true, "Sunday worked for 春节"},
		{"2024-02-09", true, "除夕 2024 was not a holiday, only encouraged"},
		{"2024-02-12", false, "春节, Monday"},
		{"2024-02-17", false, "春节 last day, Saturday"},
		{"2024-02-18", true, "Sunday worked for 春节"},
		{"2024-04-04", false, "清明节, Thursday"},
		{"2024-04-07", true, "Sunday worked for 清明节"},
		{"2024-04-28", true, "Sunday worked for 劳动节"},
		{"2024-05-11", true, "Saturday worked for 劳动节"},
		{"2024-06-10", false, "端午节, Monday"},
		{"2024-09-14", true, "Saturday worked for 中秋节"},
		{"2024-09-16", false, "中秋节, Monday"},
		{"2024-09-28", false, "an ordinary Saturday"},
		{"2024-09-29", true, "Sunday worked for 国庆节"},
		{"2024-10-07", false, "国庆节, Monday"},
		{"2024-10-08", true, "back to work, Tuesday"},
		{"2024-10-12", true, "Saturday worked for 国庆节"},
		// 2025 (国办发明电〔2024〕12号)
		{"2025-01-01", false, "元旦, Wednesday"},
		{"2025-01-26", true, "Sunday worked for 春节"},
		{"2025-01-27", true, "Monday before 除夕"},
		{"2025-01-28", false, "除夕, a holiday from 2025"},
		{"2025-02-04", false, "初七, Tuesday"},
		{"2025-02-05", true, "back to work"},
		{"2025-02-08", true, "Saturday worked for 春节"},
		{"2025-04-04", false, "清明节, Friday"},
		{"2025-04-27", true, "Sunday worked for 劳动节"},
		{"2025-05-05", false, "劳动节, Monday"},
		{"2025-06-02", false, "端午节, Monday"},
		{"2025-09-28", true, "Sunday worked for 国庆节、中秋节"},
		{"2025-10-06", false, "中秋节 inside the National Day week"},
		{"2025-10-08", false, "国庆节 last day, Wednesday"},
		{"2025-10-09", true, "back to work, Thursday"},
		{"2025-10-11", true, "Saturday worked for 国庆节、中秋节"},
		{"2025-10-12", false, "an ordinary Sunday"},
		// 2026 (notice of 2025-11-04)
		{"2026-01-02", false, "元旦, Friday"},
		{"2026-01-04", true, "Sunday worked for 元旦"},
		{"2026-02-14", true, "Saturday worked for 春节"},
		{"2026-02-16", false, "除夕"},
		{"2026-02-23", false, "春节 last day, Monday"},
		{"2026-02-24", true, "back to work"},
		{"2026-02-28", true, "Saturday worked for 春节"},
		{"2026-04-06", false, "清明节, Monday"},
		{"2026-05-09", true, "Saturday worked for 劳动节"},
		{"2026-06-19", false, "端午节, Friday"},
		{"2026-09-20", true, "Sunday worked for 国庆节"},
		{"2026-09-25", false, "中秋节, Friday"},
		{"2026-10-10", true, "Saturday worked for 国庆节"},
		// 2027 (provisional): fixed dates only
		{"2027-01-01", false, "元旦, Friday"},
		{"2027-01-04", true, "Monday"},
		{"2027-10-01", false, "国庆节, Friday"},
		// outside the data: Monday to Friday
		{"2023-06-22", true, "端午 2023, but 2023 is not in the data"},
		{"2028-01-01", false, "a Saturday"},
	}
	for _, tt := range tests {
		d := day(t, tt.date)
		if got := c.IsWorkday(d); got != tt.workday {
			t.Errorf("IsWorkday(%s) = %v, want %v (%s)", tt.date, got, tt.workday, tt.why)
		}
		// The date counts, not the instant: late evening and UTC midnight
		// of the same date agree.
		if got := c.IsWorkday(d.Add(23*time.Hour + 59*time.Minute)); got != tt.workday {
			t.Errorf("IsWorkday(%s 23:59) = %v", tt.date, got)
		}
		y, m, dd := d.Date()
		if got := c.IsWorkday(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)); got != tt.workday {
			t.Errorf("IsWorkday(%s UTC) = %v", tt.date, got)
		}
		if got := c.Day(d).Workday; got != tt.workday {
			t.Errorf("Day(%s).Workday = %v", tt.date, got)
		}
	}
}

func TestDay(t *testing.T) {
	c := calendar.Default()
	tests := []struct {
		date string
		want calendar.Day
	}{
		{"2025-10-06", calendar.Day{Holiday: "国庆节、中秋节"}},
		{"2025-09-28", calendar.Day{Workday: true, MakeUpFor: "国庆节、中秋节"}},
		{"2024-02-10", calendar.Day{Holiday: "春节"}},
		{"2025-06-09", calendar.Day{Workday: true}},
		{"2025-06-08", calendar.Day{}},
		{"2027-05-01", calendar.Day{Holiday: "劳动节", Provisional: true}},
		{"2027-03-01", calendar.Day{Workday: true, Provisional: true}},
		{"2030-03-02", calendar.Day{Provisional: true}},
	}
	for _, tt := range tests {
		if got := c.Day(day(t, tt.date)); got != tt.want {
			t.Errorf("Day(%s) = %+v, want %+v", tt.date, got, tt.want)
		}
	}
}

func TestAddWorkdays(t *testing.T) {
	c := calendar.Default()
	tests := []struct {
		from string
		n    int
		want string
		why  string
	}{
		{"2025-06-09", 5, "2025-06-13", "an ordinary week: Monday through Friday"},
		{"2025-06-09", 1, "2025-06-09", "a one-day window is its first day"},
		{"2025-06-07", 1, "2025-06-09", "a window starting on Saturday starts on Monday"},
		{"2025-06-09", 0, "2025-06-09", "n < 1 returns from"},
		{"2025-10-01", 0, "2025-10-01", "n < 1 returns from, even a holiday"},
		{"2025-06-13", 2, "2025-06-16", "over an ordinary weekend"},
		// National Day 2024 and the make-up Sunday 2024-09-29
		{"2024-09-28", 5, "2024-10-10", "Saturday start: Sunday 29th (worked) is day 1, 30th, then 8th–10th"},
		{"2024-09-27", 5, "2024-10-09", "27th, 29th (Sunday worked), 30th, 8th, 9th"},
		{"2024-10-08", 5, "2024-10-12", "8th–11th and Saturday 12th (worked)"},
		// National Day and Mid-Autumn 2025 and its make-up days
		{"2025-09-25", 5, "2025-09-30", "25th, 26th, Sunday 28th (worked), 29th, 30th"},
		{"2025-09-29", 5, "2025-10-11", "29th, 30th, 9th, 10th, Saturday 11th (worked)"},
		{"2025-10-01", 1, "2025-10-09", "a window starting in the holiday starts after it"},
		// Spring Festival 2025
		{"2025-01-24", 3, "2025-01-27", "24th, Sunday 26th (worked), 27th"},
		{"2025-01-27", 5, "2025-02-08", "27th, then 5th–7th and Saturday 8th (worked)"},
		// Spring Festival 2026, nine days off
		{"2026-02-13", 5, "2026-02-26", "13th, Saturday 14th (worked), 24th–26th"},
		// across the year end into 2026's New Year
		{"2025-12-29", 5, "2026-01-05", "29th–31st, Sunday 4th (worked), 5th"},
		// Qingming 2024
		{"2024-04-01", 10, "2024-04-15", "1st–3rd, Sunday 7th (worked), 8th–12th, 15th"},
		// a longer window
		{"2024-01-02", 251, "2024-12-31", "2024 has 251 working days, 1 January off"},
	}
	for _, tt := range tests {
		from := day(t, tt.from)
		got := c.AddWorkdays(from, tt.n)
		if got.Format("2006-01-02") != tt.want {
			t.Errorf("AddWorkdays(%s, %d) = %s, want %s (%s)", tt.from, tt.n, got.Format("2006-01-02"), tt.want, tt.why)
		}
		if got.Location() != beijing || got.Hour() != 0 || got.Minute() != 0 {
			t.Errorf("AddWorkdays(%s, %d) = %v, want midnight Beijing time", tt.from, tt.n, got)
		}
	}
	// An afternoon start is the same date.
	if got := c.AddWorkdays(day(t, "2024-09-28").Add(15*time.Hour), 5); got.Format("2006-01-02") != "2024-10-10" {
		t.Errorf("afternoon start: %v", got)
	}
	// A huge n stays bounded and lands on a working day.
	if got := c.AddWorkdays(day(t, "2025-01-01"), 1<<62); !c.IsWorkday(got) || got.Year() < 30000 {
		t.Errorf("AddWorkdays(huge n) = %v", got)
	}
}

func TestWorkdaysBetween(t *testing.T) {
	c := calendar.Default()
	tests := []struct {
		a, b string
		want int
	}{
		// Whole years: weekdays, less holidays on weekdays, plus make-up
		// days. 2024: 262 − 19 + 8; 2025: 261 − 18 + 5; 2026: 261 − 19 + 6.
		{"2024-01-01", "2024-12-31", 251},
		{"2025-01-01", "2025-12-31", 248},
		{"2026-01-01", "2026-12-31", 248},
		{"2025-06-09", "2025-06-13", 5},
		{"2025-06-09", "2025-06-09", 1},
		{"2025-06-08", "2025-06-08", 0},
		{"2025-10-01", "2025-10-08", 0},
		{"2025-09-28", "2025-10-11", 6},
		{"2025-06-13", "2025-06-09", 0},
		{"2023-01-02", "2023-01-08", 5},
	}
	for _, tt := range tests {
		if got := c.WorkdaysBetween(day(t, tt.a), day(t, tt.b)); got != tt.want {
			t.Errorf("WorkdaysBetween(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// The arithmetic agrees with walking day by day.
func TestAgainstWalking(t *testing.T) {
	c := calendar.Default()
	walkAdd := func(from time.Time, n int) time.Time {
		d := from
		for !c.IsWorkday(d) {
			d = d.AddDate(0, 0, 1)
		}
		for n > 1 {
			d = d.AddDate(0, 0, 1)
			if c.IsWorkday(d) {
				n--
			}
		}
		return d
	}
	rng := rand.New(rand.NewPCG(1, 2))
	base := day(t, "2023-10-01")
	for range 3000 {
		from := base.AddDate(0, 0, rng.IntN(5*365))
		n := 1 + rng.IntN(40)
		got, want := c.AddWorkdays(from, n), walkAdd(from, n)
		if !got.Equal(want) {
			t.Fatalf("AddWorkdays(%s, %d) = %s, walking gives %s", from.Format("2006-01-02"), n, got.Format("2006-01-02"), want.Format("2006-01-02"))
		}
		if k := c.WorkdaysBetween(from, got); k != n {
			t.Fatalf("WorkdaysBetween(%s, AddWorkdays(…, %d)) = %d", from.Format("2006-01-02"), n, k)
		}
		to := from.AddDate(0, 0, rng.IntN(60))
		walked := 0
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			if c.IsWorkday(d) {
				walked++
			}
		}
		if k := c.WorkdaysBetween(from, to); k != walked {
			t.Fatalf("WorkdaysBetween(%s, %s) = %d, walking gives %d", from.Format("2006-01-02"), to.Format("2006-01-02"), k, walked)
		}
	}
}

func TestLoadDefaultData(t *testing.T) {
	c, err := calendar.Load(bytes.NewReader(calendar.DefaultData()))
	if err != nil {
		t.Fatal(err)
	}
	d := day(t, "2025-09-28")
	if !c.IsWorkday(d) || c.WorkdaysBetween(day(t, "2025-01-01"), day(t, "2025-12-31")) != 248 {
		t.Error("the loaded default differs from Default()")
	}
}

const header = "years:\n  - year: 2025\n    source: 通知\n"

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"empty", "", 0, "empty"},
		{"comment only", "# nothing\n", 0, "empty"},
		{"no years", "years: []\n", 0, "no years"},
		{"not yaml", "years: [\n", 1, "malformed YAML"},
		{"wrong shape", "years: 5\n", 1, "wrong kind of value"},
		{"year is text", "years:\n  - year: [2025]\n", 2, "not a year"},
		{"unknown field", header + "    holidays:\n      - {name: 元旦, from: 2025-01-01, until: 2025-01-02}\n", 5, "unknown field until"},
		{"unknown top field", "yeers: []\n", 1, "unknown field yeers"},
		{"bad date", header + "    holidays:\n      - {name: 元旦, from: 2025-02-30}\n", 5, "2025-02-30"},
		{"short date", header + "    holidays:\n      - {name: 元旦, from: 2025-1-1}\n", 5, "YYYY-MM-DD"},
		{"word date", header + "    makeup_workdays:\n      - {date: tomorrow, for: 元旦}\n", 5, "tomorrow"},
		{"date is a list", header + "    holidays:\n      - {name: 元旦, from: [2025-01-01]}\n", 5, "YYYY-MM-DD"},
		{"bad year", "years:\n  - year: 25\n    source: x\n", 2, "year"},
		{"holiday and make-up", header +
			"    holidays:\n      - {name: 春节, from: 2025-01-28, to: 2025-02-04}\n" +
			"    makeup_workdays:\n      - {date: 2025-02-01, for: 春节}\n", 7, "both as a holiday"},
		{"make-up on a weekday", header +
			"    holidays:\n      - {name: 春节, from: 2025-01-28, to: 2025-02-04}\n" +
			"    makeup_workdays:\n      - {date: 2025-02-07, for: 春节}\n", 7, "Friday, not a weekend"},
		{"make-up for nothing", header +
			"    holidays:\n      - {name: 春节, from: 2025-01-28, to: 2025-02-04}\n" +
			"    makeup_workdays:\n      - {date: 2025-02-08, for: 春假}\n", 7, "not a holiday of 2025"},
		{"make-up without for", header +
			"    holidays:\n      - {name: 春节, from: 2025-01-28, to: 2025-02-04}\n" +
			"    makeup_workdays:\n      - {date: 2025-02-08}\n", 7, "does not say which holiday"},
		{"make-up twice", header +
			"    holidays:\n      - {name: 春节, from: 2025-01-28, to: 2025-02-04}\n" +
			"    makeup_workdays:\n      - {date: 2025-02-08, for: 春节}\n      - {date: 2025-02-08, for: 春节}\n", 8, "listed twice"},
		{"overlapping holidays", header +
			"    holidays:\n      - {name: 春节, from: 2025-01-28, to: 2025-02-04}\n      - {name: 元宵, from: 2025-02-04}\n", 6, "listed twice"},
		{"ends before it starts", header + "    holidays:\n      - {name: 元旦, from: 2025-01-02, to: 2025-01-01}\n", 5, "before it starts"},
		{"too long", header + "    holidays:\n      - {name: 长假, from: 2025-07-01, to: 2025-08-31}\n", 5, "longer than"},
		{"outside the year", header + "    holidays:\n      - {name: 元旦, from: 2026-03-01}\n", 5, "not in year 2025"},
		{"no from", header + "    holidays:\n      - {name: 元旦}\n", 5, "no from"},
		{"no name", header + "    holidays:\n      - {from: 2025-01-01}\n", 5, "no name"},
		{"year twice", header + "  - year: 2025\n    source: 又一个\n", 4, "listed twice"},
		{"no source", "years:\n  - year: 2025\n    holidays:\n      - {name: 元旦, from: 2025-01-01}\n", 2, "source"},
		{"two documents", header + "---\nyears: []\n", 4, "single YAML document"},
		{"same date in two years", header + "    holidays:\n      - {name: 元旦, from: 2025-12-31}\n" +
			"  - year: 2026\n    source: 通知\n    holidays:\n      - {name: 元旦, from: 2025-12-31, to: 2026-01-01}\n", 9, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := calendar.Load(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c.Years())
			}
			les := calendar.LineErrors(err)
			if len(les) == 0 {
				t.Fatalf("Load = %v, which carries no LineError", err)
			}
			var first *calendar.LineError
			if !errors.As(err, &first) {
				t.Fatalf("errors.As found no LineError in %v", err)
			}
			found := false
			for _, le := range les {
				if le.Line == tt.line && strings.Contains(le.Msg, tt.msg) {
					found = true
				}
			}
			if !found {
				t.Errorf("Load = %v\nwant line %d with %q", err, tt.line, tt.msg)
			}
		})
	}
}

func TestLoadTooLarge(t *testing.T) {
	big := header + "    note: " + strings.Repeat("x", calendar.MaxFileSize) + "\n"
	if _, err := calendar.Load(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(oversized) = %v", err)
	}
}

func TestLoadAccepts(t *testing.T) {
	// A provisional year needs no source; a New Year window may reach into
	// the December before; a make-up day may be in the previous year.
	in := "years:\n" +
		"  - year: 2019\n    source: 国务院办公厅关于2019年部分节假日安排的通知\n" +
		"    holidays:\n      - {name: 元旦, from: 2018-12-30, to: 2019-01-01}\n" +
		"    makeup_workdays:\n      - {date: 2018-12-29, for: 元旦}\n" +
		"  - year: 2030\n    provisional: true\n"
	c, err := calendar.Load(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsWorkday(day(t, "2018-12-29")) || c.IsWorkday(day(t, "2018-12-31")) || !c.Provisional(2030) || c.Provisional(2019) {
		t.Error("loaded calendar answers wrongly")
	}
	if got := c.AddWorkdays(day(t, "2018-12-28"), 3); got.Format("2006-01-02") != "2019-01-02" {
		t.Errorf("AddWorkdays = %s, want 2019-01-02", got.Format("2006-01-02"))
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(calendar.DefaultData())
	f.Add([]byte(header + "    holidays:\n      - {name: 元旦, from: 2025-01-01, to: 2025-01-03}\n    makeup_workdays:\n      - {date: 2025-01-04, for: 元旦}\n"))
	f.Add([]byte("years:\n  - year: 2030\n    provisional: true\n"))
	f.Add([]byte("years: [{year: 2025, source: s, holidays: [{name: a, from: 2025-02-29}]}]"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := calendar.Load(bytes.NewReader(b))
		if err != nil {
			if c != nil {
				t.Fatal("Load returned a calendar and an error")
			}
			if len(calendar.LineErrors(err)) == 0 {
				t.Fatalf("error without a LineError: %v", err)
			}
			return
		}
		// Whatever loaded answers consistently.
		for _, y := range c.Years() {
			from := time.Date(y.Year, 1, 1, 0, 0, 0, 0, time.UTC)
			end := c.AddWorkdays(from, 10)
			if !c.IsWorkday(end) || c.WorkdaysBetween(from, end) != 10 {
				t.Fatalf("%d: AddWorkdays(%s, 10) = %s, inconsistent", y.Year, from.Format("2006-01-02"), end.Format("2006-01-02"))
			}
		}
	})
}
