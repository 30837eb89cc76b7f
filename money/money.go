// Package money parses and formats amounts of Chinese yuan held as int64 fen.
//
// policydesk never lets floating point near money: amounts cross every
// boundary (case files, the API, CSV imports) as decimal text and live inside
// the program as an integer number of fen (分, 0.01 yuan).
package money

import (
	"errors"
	"math"
	"strconv"
)

// Fen is an amount of money in fen (1 yuan = 100 fen).
type Fen = int64

// MaxYuanDigits bounds the integer part so that every parsed amount fits in
// int64 fen with room for sums: 10^15 yuan is far beyond any budget.
const MaxYuanDigits = 15

// Errors returned by Parse. Callers map them to the code invalid_money.
var (
	ErrEmpty    = errors.New("money: empty amount")
	ErrNegative = errors.New("money: negative amount")
	ErrDecimals = errors.New("money: more than 2 decimals")
	ErrSyntax   = errors.New("money: not a decimal number")
	ErrTooLarge = errors.New("money: amount too large")
)

// Parse reads a non-negative yuan amount written as plain decimal text with
// at most two decimals ("6000000", "1500000.5", "0.01") and returns fen.
// Signs, exponents, thousands separators, spaces and more than two decimals
// are refused: a claim amount is never silently rounded.
func Parse(s string) (Fen, error) {
	if s == "" {
		return 0, ErrEmpty
	}
	if s[0] == '-' {
		return 0, ErrNegative
	}
	var intPart, fracPart string
	dot := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && dot < 0:
			dot = i
		default:
			return 0, ErrSyntax
		}
	}
	if dot < 0 {
		intPart = s
	} else {
		intPart, fracPart = s[:dot], s[dot+1:]
		if intPart == "" || fracPart == "" {
			return 0, ErrSyntax
		}
	}
	if len(fracPart) > 2 {
		return 0, ErrDecimals
	}
	// Leading zeros do not count towards the size limit.
	trimmed := intPart
	for len(trimmed) > 1 && trimmed[0] == '0' {
		trimmed = trimmed[1:]
	}
	if len(trimmed) > MaxYuanDigits {
		return 0, ErrTooLarge
	}
	yuan, err := strconv.ParseInt(trimmed, 10, 64)
	if err != nil {
		return 0, ErrSyntax
	}
	var fen int64
	switch len(fracPart) {
	case 1:
		fen = int64(fracPart[0]-'0') * 10
	case 2:
		fen = int64(fracPart[0]-'0')*10 + int64(fracPart[1]-'0')
	}
	return yuan*100 + fen, nil
}

// Format writes fen as yuan with exactly two decimals: 180000000 → "1800000.00".
func Format(f Fen) string {
	var buf [24]byte
	return string(AppendFormat(buf[:0], f))
}

// AppendFormat appends Format(f) to b.
func AppendFormat(b []byte, f Fen) []byte {
	if f < 0 {
		b = append(b, '-')
		if f == math.MinInt64 {
			// -f overflows; format via unsigned arithmetic.
			u := uint64(math.MaxInt64) + 1
			b = strconv.AppendUint(b, u/100, 10)
			b = append(b, '.', byte('0'+u%100/10), byte('0'+u%10))
			return b
		}
		f = -f
	}
	b = strconv.AppendInt(b, f/100, 10)
	r := f % 100
	return append(b, '.', byte('0'+r/10), byte('0'+r%10))
}

// FormatGrouped writes fen as yuan with thousands separators for people:
// 2000000000 → "20,000,000.00".
func FormatGrouped(f Fen) string {
	s := Format(f)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	dot := len(s) - 3
	intPart, frac := s[:dot], s[dot:]
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := 0; i < len(intPart); i++ {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, intPart[i])
	}
	return string(append(out, frac...))
}

// Wan writes fen in 万元 for Chinese readers when it is a whole number of
// 万元 ("2000万元"), else in 元 ("1,234.50元").
func Wan(f Fen) string {
	if f >= 0 && f%1000000 == 0 {
		return strconv.FormatInt(f/1000000, 10) + "万元"
	}
	return FormatGrouped(f) + "元"
}

// Amount is fen that travels in JSON as yuan text with two decimals
// ("1800000.00"), and is read from such text or a JSON number with at most
// two decimals.
type Amount int64

// MarshalJSON writes "1800000.00".
func (a Amount) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 24)
	b = append(b, '"')
	b = AppendFormat(b, int64(a))
	return append(b, '"'), nil
}

// UnmarshalJSON reads "1800000.00" or 1800000.5.
func (a *Amount) UnmarshalJSON(data []byte) error {
	s := string(data)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	f, err := Parse(s)
	if err != nil {
		return err
	}
	*a = Amount(f)
	return nil
}
