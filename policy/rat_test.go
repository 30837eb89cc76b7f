package policy_test

import (
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"pgregory.net/rapid"

	"policydesk/policy"
)

func rat(t testing.TB, n, d int64) policy.Rat {
	t.Helper()
	r, err := policy.NewRat(n, d)
	if err != nil {
		t.Fatalf("NewRat(%d, %d): %v", n, d, err)
	}
	return r
}

func bigOf(r policy.Rat) *big.Rat { return big.NewRat(r.Num(), r.Den()) }

// sameAs reports whether r is exactly x and in lowest terms with a positive
// denominator.
func sameAs(r policy.Rat, x *big.Rat) bool {
	return r.Den() > 0 && x.Num().IsInt64() && x.Denom().IsInt64() && r.Num() == x.Num().Int64() && r.Den() == x.Denom().Int64()
}

func TestRatArithmetic(t *testing.T) {
	type op func(a, b policy.Rat) (policy.Rat, error)
	plus := func(a, b policy.Rat) (policy.Rat, error) { return a.Plus(b) }
	times := func(a, b policy.Rat) (policy.Rat, error) { return a.Times(b) }
	const maxI, minI = math.MaxInt64, math.MinInt64
	tests := []struct {
		name       string
		op         op
		a, b       [2]int64
		want       [2]int64
		overflowed bool
	}{
		{"1/2+1/3", plus, [2]int64{1, 2}, [2]int64{1, 3}, [2]int64{5, 6}, false},
		{"-1/2+1/2", plus, [2]int64{-1, 2}, [2]int64{1, 2}, [2]int64{0, 1}, false},
		{"-1/2+-1/3", plus, [2]int64{-1, 2}, [2]int64{-1, 3}, [2]int64{-5, 6}, false},
		{"3/10+7/10", plus, [2]int64{3, 10}, [2]int64{7, 10}, [2]int64{1, 1}, false},
		{"max+0", plus, [2]int64{maxI, 1}, [2]int64{0, 1}, [2]int64{maxI, 1}, false},
		{"max+1", plus, [2]int64{maxI, 1}, [2]int64{1, 1}, [2]int64{}, true},
		{"min+-1", plus, [2]int64{minI + 1, 1}, [2]int64{-2, 1}, [2]int64{}, true},
		{"max+-max", plus, [2]int64{maxI, 1}, [2]int64{-maxI, 1}, [2]int64{0, 1}, false},
		{"huge denominators", plus, [2]int64{1, 1 << 62}, [2]int64{1, 1<<62 - 1}, [2]int64{}, true},
		{"30% of 6,000,000 yuan", times, [2]int64{3, 10}, [2]int64{600000000, 1}, [2]int64{180000000, 1}, false},
		{"30% of 3 fen", times, [2]int64{30, 100}, [2]int64{3, 1}, [2]int64{9, 10}, false},
		{"-3/4×2/3", times, [2]int64{-3, 4}, [2]int64{2, 3}, [2]int64{-1, 2}, false},
		{"-3/4×-4/3", times, [2]int64{-3, 4}, [2]int64{-4, 3}, [2]int64{1, 1}, false},
		{"0×max", times, [2]int64{0, 1}, [2]int64{maxI, 1}, [2]int64{0, 1}, false},
		{"max×1/max cross-reduces", times, [2]int64{maxI, 1}, [2]int64{1, maxI}, [2]int64{1, 1}, false},
		{"max×2", times, [2]int64{maxI, 1}, [2]int64{2, 1}, [2]int64{}, true},
		{"2^32×2^31", times, [2]int64{1 << 32, 1}, [2]int64{1 << 31, 1}, [2]int64{}, true},
		{"-2^32×2^32", times, [2]int64{-(1 << 32), 1}, [2]int64{1 << 32, 1}, [2]int64{}, true},
		{"1/2^32×1/2^32", times, [2]int64{1, 1 << 32}, [2]int64{1, 1 << 32}, [2]int64{}, true},
		{"10^12 fen × 1/2", times, [2]int64{1000000000000, 1}, [2]int64{1, 2}, [2]int64{500000000000, 1}, false},
	}
	for _, tc := range tests {
		a, b := rat(t, tc.a[0], tc.a[1]), rat(t, tc.b[0], tc.b[1])
		got, err := tc.op(a, b)
		if tc.overflowed {
			if !errors.Is(err, policy.ErrOverflow) {
				t.Errorf("%s: got %v, %v; want ErrOverflow", tc.name, got, err)
			}
			continue
		}
		if err != nil || got.Num() != tc.want[0] || got.Den() != tc.want[1] {
			t.Errorf("%s: got %v, %v; want %d/%d", tc.name, got, err, tc.want[0], tc.want[1])
		}
	}
}

func TestRatCmpFloor(t *testing.T) {
	const maxI = math.MaxInt64
	cmps := []struct {
		a, b [2]int64
		want int
	}{
		{[2]int64{1, 3}, [2]int64{1, 2}, -1},
		{[2]int64{1, 2}, [2]int64{2, 4}, 0},
		{[2]int64{-1, 2}, [2]int64{-1, 3}, -1},
		{[2]int64{-1, 2}, [2]int64{0, 1}, -1},
		{[2]int64{5, 1}, [2]int64{-5, 1}, 1},
		{[2]int64{maxI, maxI - 1}, [2]int64{maxI - 1, maxI - 2}, -1}, // needs 128 bits
		{[2]int64{-maxI, maxI - 1}, [2]int64{-(maxI - 1), maxI - 2}, 1},
		{[2]int64{maxI, 1}, [2]int64{maxI - 1, 1}, 1},
		{[2]int64{math.MinInt64 + 1, 3}, [2]int64{maxI, 3}, -1},
	}
	for _, tc := range cmps {
		a, b := rat(t, tc.a[0], tc.a[1]), rat(t, tc.b[0], tc.b[1])
		if got := a.Cmp(b); got != tc.want {
			t.Errorf("Cmp(%v, %v) = %d, want %d", a, b, got, tc.want)
		}
		if got := b.Cmp(a); got != -tc.want {
			t.Errorf("Cmp(%v, %v) = %d, want %d", b, a, got, -tc.want)
		}
	}
	floors := []struct {
		n, d, want int64
	}{
		{7, 2, 3}, {-7, 2, -4}, {6, 3, 2}, {-6, 3, -2}, {9, 10, 0}, {-1, 10, -1}, {0, 5, 0},
		{maxI, 1, maxI}, {math.MinInt64, 1, math.MinInt64}, {maxI, 2, maxI / 2}, {-maxI, 2, -maxI/2 - 1},
	}
	for _, tc := range floors {
		if got := rat(t, tc.n, tc.d).Floor(); got != tc.want {
			t.Errorf("Floor(%d/%d) = %d, want %d", tc.n, tc.d, got, tc.want)
		}
	}
}

func TestNewRatAndParseRatio(t *testing.T) {
	if _, err := policy.NewRat(1, 0); err == nil {
		t.Error("NewRat(1, 0) accepted")
	}
	if _, err := policy.NewRat(1, -2); err == nil {
		t.Error("NewRat(1, -2) accepted")
	}
	if r := rat(t, -2, 4); r.Num() != -1 || r.Den() != 2 || r.String() != "-1/2" {
		t.Errorf("NewRat(-2, 4) = %v", r)
	}
	if r := policy.RatInt(7); !r.IsInt() || r.String() != "7" {
		t.Errorf("RatInt(7) = %v", r)
	}
	good := []struct {
		in, want, percent string
	}{
		{"30/100", "3/10", "30%"},
		{"1/2", "1/2", "50%"},
		{"30%", "3/10", "30%"},
		{"10%", "1/10", "10%"},
		{"100%", "1", "100%"},
		{"1", "1", "100%"},
		{"1/1", "1", "100%"},
		{"0", "0", "0%"},
		{"0/7", "0", "0%"},
		{" 1/2 ", "1/2", "50%"},
		{"1/3", "1/3", "1/3"},
	}
	for _, tc := range good {
		r, err := policy.ParseRatio(tc.in)
		if err != nil || r.String() != tc.want || r.Percent() != tc.percent {
			t.Errorf("ParseRatio(%q) = %v (%s), %v; want %s (%s)", tc.in, r, r.Percent(), err, tc.want, tc.percent)
		}
	}
	for _, s := range []string{"", "/", "%", "-1/2", "1/-2", "1/0", "-30%", "1.5", "0.3", "30 %", "1/2/3", "a/b", "1:2", "3e1%", "1/", "/2"} {
		if r, err := policy.ParseRatio(s); err == nil {
			t.Errorf("ParseRatio(%q) = %v, want an error", s, r)
		}
	}
}

// TestRatCELOperators covers the CEL trait methods: an overflow is a CEL
// error, never a wrapped number.
func TestRatCELOperators(t *testing.T) {
	a, b := rat(t, 3, 10), policy.RatInt(600000000)
	check := func(name string, v ref.Val, want policy.Rat) {
		t.Helper()
		got, ok := v.(policy.Rat)
		if !ok || got != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	isErr := func(name string, v ref.Val) {
		t.Helper()
		if !types.IsError(v) {
			t.Errorf("%s = %v, want a CEL error", name, v)
		}
	}
	check("rat*rat", a.Multiply(b), policy.RatInt(180000000))
	check("rat*int", a.Multiply(types.Int(10)), policy.RatInt(3))
	check("rat+rat", a.Add(rat(t, 7, 10)), policy.RatInt(1))
	check("rat-rat", a.Subtract(rat(t, 1, 10)), rat(t, 1, 5))
	check("rat/int", b.Divide(types.Int(3)), policy.RatInt(200000000))
	check("rat/int exact", policy.RatInt(1).Divide(types.Int(3)), rat(t, 1, 3))
	if c := a.Compare(b); c != types.Int(-1) {
		t.Errorf("Compare = %v", c)
	}
	isErr("rat/0", a.Divide(types.Int(0)))
	isErr("rat/-1", a.Divide(types.Int(-1)))
	isErr("rat*double", a.Multiply(types.Double(2)))
	isErr("rat+int", a.Add(types.Int(1)))
	isErr("max*2", policy.RatInt(math.MaxInt64).Multiply(types.Int(2)))
	isErr("max+1", policy.RatInt(math.MaxInt64).Add(policy.RatInt(1)))
	isErr("1/max / 2", rat(t, 1, math.MaxInt64).Divide(types.Int(2)))
	if a.Equal(rat(t, 30, 100)) != types.True || a.Equal(b) != types.False || a.Equal(types.Int(0)) != types.False {
		t.Error("Equal")
	}
}

// TestRatSubtractMinInt64 pins a corner of the rational type: subtracting
// math.MinInt64 must overflow, since its negation is not an int64.
func TestRatSubtractMinInt64(t *testing.T) {
	min := policy.RatInt(math.MinInt64)
	for _, a := range []int64{0, 5} {
		v := policy.RatInt(a).Subtract(min)
		if !types.IsError(v) {
			t.Fatalf("%d − MinInt64 = %v, want an overflow error (Rat.Neg wraps)", a, v)
		}
	}
}

// ratGen draws rationals biased toward the edges of int64.
func ratGen() *rapid.Generator[policy.Rat] {
	edge := rapid.SampledFrom([]int64{0, 1, -1, 2, 3, 10, 100, math.MaxInt64, math.MaxInt64 - 1, math.MinInt64 + 1,
		math.MaxInt64 / 2, 1 << 31, 1 << 32, -(1 << 32), 3037000499, 3037000500, 999999999999})
	num := rapid.OneOf(edge, rapid.Int64Range(-1_000_000, 1_000_000), rapid.Int64Range(math.MinInt64+1, math.MaxInt64))
	den := rapid.OneOf(rapid.SampledFrom([]int64{1, 2, 3, 10, 100, 1 << 32, math.MaxInt64, 3037000500}), rapid.Int64Range(1, 1000), rapid.Int64Range(1, math.MaxInt64))
	return rapid.Custom(func(t *rapid.T) policy.Rat {
		r, err := policy.NewRat(num.Draw(t, "num"), den.Draw(t, "den"))
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

// TestRatAgainstBig checks Plus, Times, Cmp and Floor against math/big:
// each result is exact and in lowest terms, or ErrOverflow — and ErrOverflow
// only when the exact result does not fit.
func TestRatAgainstBig(t *testing.T) {
	fits := func(x *big.Rat) bool { return x.Num().IsInt64() && x.Denom().IsInt64() }
	rapid.Check(t, func(t *rapid.T) {
		a, b := ratGen().Draw(t, "a"), ratGen().Draw(t, "b")
		ba, bb := bigOf(a), bigOf(b)
		if !sameAs(a, ba) {
			t.Fatalf("NewRat gave %d/%d, not in lowest terms", a.Num(), a.Den())
		}
		sum := new(big.Rat).Add(ba, bb)
		if s, err := a.Plus(b); err != nil {
			if !errors.Is(err, policy.ErrOverflow) {
				t.Fatalf("%v + %v: %v", a, b, err)
			}
			// Overflow of an intermediate product is allowed; a result that
			// fits comfortably should not be refused when the denominators match.
			if a.Den() == b.Den() && fits(sum) && sum.Num().CmpAbs(big.NewInt(math.MaxInt64)) < 0 && sum.Denom().Int64() == a.Den() {
				t.Fatalf("%v + %v refused though the sum %s fits", a, b, sum.RatString())
			}
		} else if !sameAs(s, sum) {
			t.Fatalf("%v + %v = %v, want %s", a, b, s, sum.RatString())
		}
		prod := new(big.Rat).Mul(ba, bb)
		if p, err := a.Times(b); err != nil {
			if !errors.Is(err, policy.ErrOverflow) {
				t.Fatalf("%v × %v: %v", a, b, err)
			}
			// Times cross-reduces, so its refusal means the product really
			// does not fit (allowing for the asymmetric MinInt64).
			if fits(prod) && prod.Num().CmpAbs(big.NewInt(math.MaxInt64)) <= 0 {
				t.Fatalf("%v × %v refused though the product %s fits", a, b, prod.RatString())
			}
		} else if !sameAs(p, prod) {
			t.Fatalf("%v × %v = %v, want %s", a, b, p, prod.RatString())
		}
		if got, want := a.Cmp(b), ba.Cmp(bb); got != want {
			t.Fatalf("Cmp(%v, %v) = %d, want %d", a, b, got, want)
		}
		q := new(big.Int).Div(ba.Num(), ba.Denom()) // Euclidean division: floor for a positive divisor
		if got := a.Floor(); !q.IsInt64() || got != q.Int64() {
			t.Fatalf("Floor(%v) = %d, want %s", a, got, q)
		}
	})
}
