// Package calendar counts working days on mainland China's official
// calendar: Monday to Friday, less the public holidays (放假), plus the
// weekend days the State Council turns into working days (调休上班), as its
// yearly notice (国务院办公厅关于20XX年部分节假日安排的通知) sets them.
// 公示 periods are counted on it.
//
// Dates are calendar dates: a time.Time stands for its year, month and day
// in its own location, whatever its clock time. Pass Beijing dates — a
// time in Beijing time, or midnight UTC carrying the Beijing date as
// policy.Date.Time returns it. Results are midnight, in the location of
// the argument they were computed from.
//
// A Calendar is immutable and safe for concurrent use.
package calendar

import (
	_ "embed"
	"sort"
	"sync"
	"time"
)

//go:embed cn-workdays.yaml
var defaultData []byte

// DefaultFile is the name of the embedded data file, for error messages
// and for admins downloading it as a template.
const DefaultFile = "cn-workdays.yaml"

// DefaultData returns the embedded data file, the template of an upload.
func DefaultData() []byte { return append([]byte(nil), defaultData...) }

var loadDefault = sync.OnceValue(func() *Calendar {
	c, err := parse(defaultData)
	if err != nil {
		panic("calendar: the embedded " + DefaultFile + " does not load: " + err.Error())
	}
	return c
})

// Default returns the calendar of the embedded data file.
func Default() *Calendar { return loadDefault() }

// Calendar is a set of years of holidays and make-up working days.
type Calendar struct {
	days  map[int64]special // by day number (days since 1970-01-01)
	years map[int]Year
	// adjust lists the days that change the Monday–Friday count — holidays
	// on a weekday (-1), make-up working days (+1) — in order, with the
	// running total before each, so that counting a span is two binary
	// searches.
	adjust []adjustment
	// holidaysOnWeekdays bounds how far a span of n working days can
	// stretch.
	holidaysOnWeekdays int64
}

type special struct {
	holiday string // the holiday's name when the day is off
	makeUp  string // the holiday a make-up working day is for
}

type adjustment struct {
	day    int64
	delta  int64
	before int64 // sum of the deltas of earlier adjustments
}

// Year describes one year of the data file.
type Year struct {
	Year int `json:"year"`
	// Provisional is true when the State Council has not published the
	// year's notice yet: the dates may change.
	Provisional bool `json:"provisional"`
	// Source names the notice the dates come from.
	Source string `json:"source,omitempty"`
	// Note is the file's remark on the year.
	Note string `json:"note,omitempty"`
}

// Day is what the calendar says of one date.
type Day struct {
	Workday bool `json:"workday"`
	// Holiday names the holiday when the date is a day off for one
	// (including weekend days inside a holiday's range).
	Holiday string `json:"holiday,omitempty"`
	// MakeUpFor names the holiday a make-up working day (a Saturday or
	// Sunday worked) compensates.
	MakeUpFor string `json:"make_up_for,omitempty"`
	// Provisional is true when the date's year is provisional or not in
	// the calendar: the answer may change once the notice is out.
	Provisional bool `json:"provisional"`
}

// Day returns what the calendar says of d's date.
func (c *Calendar) Day(d time.Time) Day {
	n := dayNumber(d)
	s, ok := c.days[n]
	day := Day{Provisional: c.Provisional(d.Year())}
	switch {
	case ok && s.makeUp != "":
		day.Workday, day.MakeUpFor = true, s.makeUp
	case ok:
		day.Holiday = s.holiday
	default:
		day.Workday = isWeekday(n)
	}
	return day
}

// IsWorkday reports whether d's date is a working day.
func (c *Calendar) IsWorkday(d time.Time) bool { return c.isWorkday(dayNumber(d)) }

func (c *Calendar) isWorkday(n int64) bool {
	if s, ok := c.days[n]; ok {
		return s.makeUp != ""
	}
	return isWeekday(n)
}

// Provisional reports whether year's dates may still change: the year is
// marked provisional in the data (the State Council's notice is not out)
// or is not in the data at all, in which case Monday to Friday count as
// working days. The UI warns when a 公示 window touches such a year.
func (c *Calendar) Provisional(year int) bool {
	y, ok := c.years[year]
	return !ok || y.Provisional
}

// Years returns the years the data covers, in order.
func (c *Calendar) Years() []Year {
	out := make([]Year, 0, len(c.years))
	for _, y := range c.years {
		out = append(out, y)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Year < out[j].Year })
	return out
}

// WorkdaysBetween returns the number of working days from a's date through
// b's date, both included; 0 when b is before a. For n ≥ 1,
// WorkdaysBetween(from, AddWorkdays(from, n)) == n.
func (c *Calendar) WorkdaysBetween(a, b time.Time) int {
	return int(c.count(dayNumber(a), dayNumber(b)))
}

// count returns the working days in [a, b].
func (c *Calendar) count(a, b int64) int64 {
	if b < a {
		return 0
	}
	return weekdaysBefore(b+1) - weekdaysBefore(a) + c.adjustBefore(b+1) - c.adjustBefore(a)
}

// adjustBefore sums the adjustments of the days before day n.
func (c *Calendar) adjustBefore(n int64) int64 {
	i := sort.Search(len(c.adjust), func(i int) bool { return c.adjust[i].day >= n })
	if i == len(c.adjust) {
		if i == 0 {
			return 0
		}
		last := c.adjust[i-1]
		return last.before + last.delta
	}
	return c.adjust[i].before
}

// MaxWorkdays bounds the n of AddWorkdays (about 38 000 years of working
// days); larger values are treated as MaxWorkdays.
const MaxWorkdays = 10_000_000

// AddWorkdays returns the date of the last working day of a window of n
// working days that starts on from: from counts as the first day when it
// is a working day; otherwise the window starts on the next working day.
// The window closes at the end of the returned day. A 公示 of 5 working
// days that starts on Monday 2025-06-09 ends on Friday 2025-06-13; one that
// starts on Saturday 2024-09-28 counts Sunday 2024-09-29 (a make-up
// working day) as its first day and, National Day intervening, ends on
// Thursday 2024-10-10. For n < 1, AddWorkdays returns from's date.
func (c *Calendar) AddWorkdays(from time.Time, n int) time.Time {
	start := dayNumber(from)
	if n < 1 {
		return dateOf(start, from.Location())
	}
	want := int64(min(n, MaxWorkdays))
	// Every 7 days hold at least 5 weekdays, and each holiday removes at
	// most one of them: the window ends before hi.
	hi := start + 7*((want+c.holidaysOnWeekdays)/5+2)
	lo := start
	for lo < hi { // smallest day with count(start, day) ≥ want
		mid := lo + (hi-lo)/2
		if c.count(start, mid) >= want {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return dateOf(lo, from.Location())
}

// dayNumber is d's date in d's location as days since 1970-01-01.
func dayNumber(d time.Time) int64 {
	y, m, day := d.Date()
	return time.Date(y, m, day, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// dateOf is midnight of day number n in loc.
func dateOf(n int64, loc *time.Location) time.Time {
	y, m, d := time.Unix(n*86400, 0).UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// weekday of day number n (1970-01-01 was a Thursday).
func weekday(n int64) time.Weekday {
	return time.Weekday(((n+4)%7 + 7) % 7)
}

func isWeekday(n int64) bool {
	wd := weekday(n)
	return wd != time.Saturday && wd != time.Sunday
}

// weekdaysBefore counts the Mondays–Fridays from Monday 1970-01-05 (day 4)
// up to day n, exclusive; negative for n before it. Only differences are
// used.
func weekdaysBefore(n int64) int64 {
	k := n - 4
	weeks := k / 7
	rem := k % 7
	if rem < 0 {
		weeks--
		rem += 7
	}
	return weeks*5 + min(rem, 5)
}
