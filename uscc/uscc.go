// Package uscc validates the 统一社会信用代码 (Unified Social Credit Code) of
// GB 32100-2015, the 18-character identifier of every enterprise and
// organisation in China, by which policydesk knows an applicant.
package uscc

import "errors"

// charset is the code's alphabet: digits and the capital letters without
// I, O, S, V and Z. A character's value is its index.
const charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// weights of positions 1–17 for the check character (3^(i) mod 31).
var weights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

var value [256]int8

func init() {
	for i := range value {
		value[i] = -1
	}
	for i := 0; i < len(charset); i++ {
		value[charset[i]] = int8(i)
	}
}

// Errors returned by Validate.
var (
	ErrLength   = errors.New("uscc: a credit code has 18 characters")
	ErrChar     = errors.New("uscc: character outside the code's alphabet")
	ErrDivision = errors.New("uscc: positions 3–8 must be an administrative division code (digits)")
	ErrCheck    = errors.New("uscc: check character does not match")
)

// Validate reports whether code is a well-formed credit code: 18 characters
// from the alphabet, a numeric division code, and the GB 32100-2015 check
// character in position 18. It does not normalise case: lower-case letters
// are refused, as the standard writes codes in capitals.
func Validate(code string) error {
	if len(code) != 18 {
		return ErrLength
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := value[code[i]]
		if v < 0 {
			return ErrChar
		}
		sum += int(v) * weights[i]
	}
	if value[code[17]] < 0 {
		return ErrChar
	}
	for i := 2; i < 8; i++ {
		if code[i] < '0' || code[i] > '9' {
			return ErrDivision
		}
	}
	if charset[CheckIndex(sum)] != code[17] {
		return ErrCheck
	}
	return nil
}

// CheckIndex returns the index in the alphabet of the check character for
// the weighted sum of the first 17 characters.
func CheckIndex(sum int) int {
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return c
}

// CheckChar computes the check character for the first 17 characters of a
// code, so that generators and tests can make valid codes. It returns 0 if
// body is not 17 characters of the alphabet.
func CheckChar(body string) byte {
	if len(body) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := value[body[i]]
		if v < 0 {
			return 0
		}
		sum += int(v) * weights[i]
	}
	return charset[CheckIndex(sum)]
}

// Complete returns body followed by its check character, or "" when body is
// not 17 characters of the alphabet.
func Complete(body string) string {
	c := CheckChar(body)
	if c == 0 {
		return ""
	}
	return body + string(c)
}
