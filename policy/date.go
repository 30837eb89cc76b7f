package policy

import (
	"errors"
	"time"
)

// Date is a calendar date, counted in days since 1970-01-01. Policy dates
// have no time of day and no zone: 2027-12-31 is in force all day.
type Date int32

// ErrDate is returned for text that is not a YYYY-MM-DD calendar date.
var ErrDate = errors.New("policy: not a YYYY-MM-DD date")

// ParseDate reads YYYY-MM-DD and refuses impossible dates such as 2025-02-30.
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, ErrDate
	}
	for i, c := range []byte(s) {
		if i == 4 || i == 7 {
			continue
		}
		if c < '0' || c > '9' {
			return 0, ErrDate
		}
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[5]-'0')*10 + int(s[6]-'0')
	d := int(s[8]-'0')*10 + int(s[9]-'0')
	if y < 1900 || m < 1 || m > 12 || d < 1 {
		return 0, ErrDate
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return 0, ErrDate
	}
	return DateOf(t), nil
}

// DateOf returns the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	u := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return Date(u.Unix() / 86400)
}

// Time returns midnight UTC of d.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// Year is d's calendar year.
func (d Date) Year() int { return d.Time().Year() }

// AddYears moves d by n calendar years; 29 February becomes 28 February in
// a common year (a penalty on 2024-02-29 is three years old on 2027-02-28).
func (d Date) AddYears(n int) Date {
	t := d.Time()
	y, m, day := t.Date()
	u := time.Date(y+n, m, day, 0, 0, 0, 0, time.UTC)
	if u.Day() != day {
		u = time.Date(y+n, m+1, 0, 0, 0, 0, 0, time.UTC)
	}
	return DateOf(u)
}

// String writes YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// MarshalText writes YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
