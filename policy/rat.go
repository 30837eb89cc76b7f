package policy

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Rat is an exact non-floating rational number, num/den with den > 0, in
// lowest terms. Money in formulas is a Rat of fen, so 30% of 0.03 yuan is
// exactly 0.9 fen until the single rounding down at the end (R1).
//
// Arithmetic refuses to overflow int64 instead of wrapping: a formula that
// would overflow fails with ErrOverflow.
type Rat struct {
	num, den int64
}

// ErrOverflow is the error of a computation beyond int64.
var ErrOverflow = errors.New("policy: amount out of range")

// RatType is the CEL type of Rat values. It declares the arithmetic traits so
// that CEL's standard operators dispatch to Rat's methods; formulas that mix
// in doubles do not type-check.
var RatType = types.NewObjectType("policydesk.rat",
	traits.AdderType|traits.SubtractorType|traits.MultiplierType|traits.DividerType|traits.ComparerType)

// RatInt returns n/1.
func RatInt(n int64) Rat { return Rat{num: n, den: 1} }

// NewRat returns num/den in lowest terms; den must be positive.
func NewRat(num, den int64) (Rat, error) {
	if den <= 0 {
		return Rat{}, fmt.Errorf("policy: ratio denominator must be positive")
	}
	return normalize(num, den), nil
}

// ParseRatio reads "30/100", "1/2", "30%" or a whole number "1".
func ParseRatio(s string) (Rat, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return Rat{}, fmt.Errorf("policy: bad percentage %q", s)
		}
		return normalize(n, 100), nil
	}
	a, b, found := strings.Cut(s, "/")
	n, err := strconv.ParseInt(a, 10, 64)
	if err != nil || n < 0 {
		return Rat{}, fmt.Errorf("policy: bad ratio %q (write n/d)", s)
	}
	d := int64(1)
	if found {
		d, err = strconv.ParseInt(b, 10, 64)
		if err != nil || d <= 0 {
			return Rat{}, fmt.Errorf("policy: bad ratio %q (write n/d)", s)
		}
	}
	return normalize(n, d), nil
}

func gcd(a, b int64) int64 {
	if a < 0 {
		a = -a
	}
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func normalize(n, d int64) Rat {
	if d < 0 && n != math.MinInt64 && d != math.MinInt64 {
		n, d = -n, -d
	}
	if n == 0 {
		return Rat{0, 1}
	}
	if d == 1 {
		return Rat{n, 1}
	}
	if g := gcd(n, d); g > 1 {
		n, d = n/g, d/g
	}
	return Rat{n, d}
}

// mul64 multiplies with overflow detection.
func mul64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	neg := (a < 0) != (b < 0)
	ua, ub := abs64(a), abs64(b)
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(lo), true
	}
	return int64(lo), true
}

func abs64(a int64) uint64 {
	if a < 0 {
		return uint64(-a)
	}
	return uint64(a)
}

func add64(a, b int64) (int64, bool) {
	c := a + b
	if (c > a) != (b > 0) {
		return 0, false
	}
	return c, true
}

// Times returns r×o.
func (r Rat) Times(o Rat) (Rat, error) {
	// Cross-reduce first to keep numbers small.
	g1, g2 := gcd(r.num, o.den), gcd(o.num, r.den)
	if g1 == 0 {
		g1 = 1
	}
	if g2 == 0 {
		g2 = 1
	}
	n, ok1 := mul64(r.num/g1, o.num/g2)
	d, ok2 := mul64(r.den/g2, o.den/g1)
	if !ok1 || !ok2 {
		return Rat{}, ErrOverflow
	}
	return normalize(n, d), nil
}

// Plus returns r+o.
func (r Rat) Plus(o Rat) (Rat, error) {
	if r.den == o.den {
		n, ok := add64(r.num, o.num)
		if !ok {
			return Rat{}, ErrOverflow
		}
		return normalize(n, r.den), nil
	}
	a, ok1 := mul64(r.num, o.den)
	b, ok2 := mul64(o.num, r.den)
	d, ok3 := mul64(r.den, o.den)
	if !ok1 || !ok2 || !ok3 {
		return Rat{}, ErrOverflow
	}
	n, ok := add64(a, b)
	if !ok {
		return Rat{}, ErrOverflow
	}
	return normalize(n, d), nil
}

// Neg returns −r; −MinInt64 does not exist, so that one overflows.
func (r Rat) Neg() (Rat, error) {
	if r.num == math.MinInt64 {
		return Rat{}, ErrOverflow
	}
	return Rat{-r.num, r.den}, nil
}

// Cmp compares r and o: −1, 0 or +1.
func (r Rat) Cmp(o Rat) int {
	if r.den == o.den {
		switch {
		case r.num < o.num:
			return -1
		case r.num > o.num:
			return 1
		}
		return 0
	}
	// Compare r.num*o.den with o.num*r.den in 128 bits.
	ah, al := mul128(r.num, o.den)
	bh, bl := mul128(o.num, r.den)
	switch {
	case ah < bh || (ah == bh && al < bl):
		return -1
	case ah > bh || (ah == bh && al > bl):
		return 1
	}
	return 0
}

// mul128 returns the signed 128-bit product as (high signed, low unsigned).
func mul128(a, b int64) (int64, uint64) {
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(abs64(a), abs64(b))
	if neg {
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	return int64(hi), lo
}

// Floor rounds down to an integer (R1: never overpay).
func (r Rat) Floor() int64 {
	q := r.num / r.den
	if r.num%r.den != 0 && r.num < 0 {
		q--
	}
	return q
}

// IsInt reports whether r is a whole number.
func (r Rat) IsInt() bool { return r.den == 1 }

// Num and Den expose the lowest-terms parts.
func (r Rat) Num() int64 { return r.num }

// Den is the denominator, always positive.
func (r Rat) Den() int64 { return r.den }

// String writes "n" or "n/d".
func (r Rat) String() string {
	if r.den == 1 {
		return strconv.FormatInt(r.num, 10)
	}
	return strconv.FormatInt(r.num, 10) + "/" + strconv.FormatInt(r.den, 10)
}

// Percent writes a ratio for people: "30%", "1:0.5" style is left to callers.
func (r Rat) Percent() string {
	p := Rat{r.num, r.den}
	h, err := p.Times(RatInt(100))
	if err == nil && h.IsInt() {
		return strconv.FormatInt(h.num, 10) + "%"
	}
	return r.String()
}

// CEL value interface.

// ConvertToNative lets CEL hand a Rat back to Go.
func (r Rat) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeOf(r) {
		return r, nil
	}
	return nil, fmt.Errorf("policy: cannot convert rat to %v", t)
}

// ConvertToType supports type(x) only.
func (r Rat) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return RatType
	}
	return types.NewErr("policy: cannot convert rat to %s", t.TypeName())
}

// Equal implements CEL equality.
func (r Rat) Equal(o ref.Val) ref.Val {
	x, ok := o.(Rat)
	return types.Bool(ok && x == r)
}

// Type is RatType.
func (r Rat) Type() ref.Type { return RatType }

// Value returns r.
func (r Rat) Value() any { return r }

func celErr(err error) ref.Val { return types.NewErrFromString(err.Error()) }

// Add implements traits.Adder.
func (r Rat) Add(o ref.Val) ref.Val {
	x, ok := o.(Rat)
	if !ok {
		return types.MaybeNoSuchOverloadErr(o)
	}
	s, err := r.Plus(x)
	if err != nil {
		return celErr(err)
	}
	return s
}

// Multiply implements traits.Multiplier for rat×rat and rat×int.
func (r Rat) Multiply(o ref.Val) ref.Val {
	var x Rat
	switch v := o.(type) {
	case Rat:
		x = v
	case types.Int:
		x = RatInt(int64(v))
	default:
		return types.MaybeNoSuchOverloadErr(o)
	}
	p, err := r.Times(x)
	if err != nil {
		return celErr(err)
	}
	return p
}

// Divide implements traits.Divider for rat÷int (an exact ratio, not integer division).
func (r Rat) Divide(o ref.Val) ref.Val {
	v, ok := o.(types.Int)
	if !ok {
		return types.MaybeNoSuchOverloadErr(o)
	}
	if v <= 0 {
		return types.NewErr("policy: division by a non-positive number")
	}
	d, okm := mul64(r.den, int64(v))
	if !okm {
		return celErr(ErrOverflow)
	}
	return normalize(r.num, d)
}

// Subtract implements traits.Subtractor.
func (r Rat) Subtract(o ref.Val) ref.Val {
	x, ok := o.(Rat)
	if !ok {
		return types.MaybeNoSuchOverloadErr(o)
	}
	n, err := x.Neg()
	if err != nil {
		return celErr(err)
	}
	s, err := r.Plus(n)
	if err != nil {
		return celErr(err)
	}
	return s
}

// Compare implements traits.Comparer.
func (r Rat) Compare(o ref.Val) ref.Val {
	x, ok := o.(Rat)
	if !ok {
		return types.MaybeNoSuchOverloadErr(o)
	}
	return types.Int(r.Cmp(x))
}
