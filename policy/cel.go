package policy

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// celType maps a fact type to the CEL type formulas see. Money is an exact
// rational of fen; records expose their money fields.
func celType(f *FactSpec) *cel.Type {
	switch f.Type {
	case TypeMoney, TypeRatio:
		return RatType
	case TypeYear, TypeInt:
		return cel.IntType
	case TypeBool:
		return cel.BoolType
	case TypeString, TypeEnum:
		return cel.StringType
	case TypeDate:
		return cel.TimestampType
	case TypeRecords:
		return cel.ListType(cel.MapType(cel.StringType, RatType))
	}
	return cel.DynType
}

func paramCelType(p *Parameter) *cel.Type {
	if p.Type == TypeInt {
		return cel.IntType
	}
	return RatType
}

// ratFunctions are the helpers formulas may call beside CEL's operators.
func ratFunctions() []cel.EnvOption {
	rr := []*cel.Type{RatType, RatType}
	bin := func(f func(a, b Rat) ref.Val) cel.OverloadOpt {
		return cel.BinaryBinding(func(a, b ref.Val) ref.Val {
			x, ok1 := a.(Rat)
			y, ok2 := b.(Rat)
			if !ok1 || !ok2 {
				return types.NewErr("policy: expected amounts")
			}
			return f(x, y)
		})
	}
	return []cel.EnvOption{
		cel.Function("_+_", cel.Overload("add_rat_rat", rr, RatType)),
		cel.Function("_-_", cel.Overload("subtract_rat_rat", rr, RatType)),
		cel.Function("_*_", cel.Overload("multiply_rat_rat", rr, RatType),
			cel.Overload("multiply_rat_int", []*cel.Type{RatType, cel.IntType}, RatType)),
		cel.Function("_/_", cel.Overload("divide_rat_int", []*cel.Type{RatType, cel.IntType}, RatType)),
		cel.Function("_<_", cel.Overload("less_rat_rat", rr, cel.BoolType)),
		cel.Function("_<=_", cel.Overload("less_equals_rat_rat", rr, cel.BoolType)),
		cel.Function("_>_", cel.Overload("greater_rat_rat", rr, cel.BoolType)),
		cel.Function("_>=_", cel.Overload("greater_equals_rat_rat", rr, cel.BoolType)),
		cel.Function("min", cel.Overload("min_rat_rat", rr, RatType, bin(func(a, b Rat) ref.Val {
			if a.Cmp(b) <= 0 {
				return a
			}
			return b
		}))),
		cel.Function("max", cel.Overload("max_rat_rat", rr, RatType, bin(func(a, b Rat) ref.Val {
			if a.Cmp(b) >= 0 {
				return a
			}
			return b
		}))),
		cel.Function("sum", cel.Overload("sum_list_rat", []*cel.Type{cel.ListType(RatType)}, RatType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				l, ok := v.(traits.Lister)
				if !ok {
					return types.NewErr("policy: sum() takes a list of amounts")
				}
				total := Rat{0, 1}
				for it := l.Iterator(); it.HasNext() == types.True; {
					x, ok := it.Next().(Rat)
					if !ok {
						return types.NewErr("policy: sum() takes a list of amounts")
					}
					var err error
					if total, err = total.Plus(x); err != nil {
						return celErr(err)
					}
				}
				return total
			}))),
		cel.Function("yuan", cel.Overload("yuan_int", []*cel.Type{cel.IntType}, RatType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				n, ok := v.(types.Int)
				if !ok {
					return types.NewErr("policy: yuan() takes a whole number")
				}
				r, err := RatInt(int64(n)).Times(RatInt(100))
				if err != nil {
					return celErr(err)
				}
				return r
			}))),
		cel.Function("ratio", cel.Overload("ratio_int_int", []*cel.Type{cel.IntType, cel.IntType}, RatType,
			cel.BinaryBinding(func(a, b ref.Val) ref.Val {
				n, ok1 := a.(types.Int)
				d, ok2 := b.(types.Int)
				if !ok1 || !ok2 || d <= 0 {
					return types.NewErr("policy: ratio(n, d) needs d > 0")
				}
				return normalize(int64(n), int64(d))
			}))),
	}
}

// compile builds the item's CEL environment (its facts, the enterprise's
// facts, its parameters and, for caps, the ceiling) and type-checks every
// expression. Problems are reported at the expression's line.
func (l *loader) compile(b *Bundle, it *Item) {
	it.varIndex = map[string]int{}
	add := func(name string) {
		it.varIndex[name] = len(it.vars)
		it.vars = append(it.vars, name)
	}
	opts := ratFunctions()
	for _, f := range it.Facts {
		opts = append(opts, cel.Variable(f.Name, celType(f)))
		add(f.Name)
	}
	for _, f := range b.EnterpriseFacts {
		if f.Type == TypeRecords {
			continue // records of the enterprise are read by eligibility rules only
		}
		opts = append(opts, cel.Variable(f.Name, celType(f)))
		add(f.Name)
	}
	for _, p := range it.Parameters {
		opts = append(opts, cel.Variable(p.Name, paramCelType(p)))
		add(p.Name)
	}
	opts = append(opts, cel.Variable("ceiling", RatType))
	add("ceiling")
	env, err := cel.NewEnv(opts...)
	if err != nil {
		l.addAt(it.File, it.Line, it.ID, "CEL environment: %v", err)
		return
	}
	prog := func(src string, line int, want *cel.Type, what string, allowCeiling bool) cel.Program {
		ast, iss := env.Compile(src)
		if iss != nil && iss.Err() != nil {
			l.addAt(it.File, line, it.ID, "%s %q does not type-check: %s", what, src, oneLine(iss.Err().Error()))
			return nil
		}
		if !ast.OutputType().IsExactType(want) {
			l.addAt(it.File, line, it.ID, "%s %q has type %s, want %s", what, src, typeName(ast.OutputType()), typeName(want))
			return nil
		}
		if !allowCeiling && strings.Contains(src, "ceiling") && refersTo(ast, "ceiling") {
			l.addAt(it.File, line, it.ID, "%s may not refer to ceiling", what)
			return nil
		}
		p, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			l.addAt(it.File, line, it.ID, "%s: %v", what, err)
			return nil
		}
		return p
	}
	if it.Ceiling != "" {
		it.ceilProg = prog(it.Ceiling, it.CeilingLine, RatType, "ceiling", false)
		if ast, iss := env.Compile(it.Ceiling); iss == nil || iss.Err() == nil {
			for _, p := range it.Parameters {
				if refersTo(ast, p.Name) {
					it.ceilParams = append(it.ceilParams, p)
				}
			}
		}
	}
	for _, c := range it.Conditions {
		c.prog = prog(c.When, c.Line, cel.BoolType, "condition", false)
	}
	for _, c := range it.Caps {
		if c.Amount != "" {
			c.prog = prog(c.Amount, c.Line, RatType, "cap amount", true)
		}
		if c.LedgerLimit != "" {
			c.ledgerProg = prog(c.LedgerLimit, c.Line, RatType, "cap ledger_limit", true)
		}
	}
}

func refersTo(ast *cel.Ast, name string) bool {
	found := false
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == name {
			found = true
		}
	}
	return found
}

func typeName(t *cel.Type) string {
	if t.IsExactType(RatType) {
		return "amount"
	}
	return t.String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.Join(strings.Fields(s), " ")
}

// activation hands a claim's values to CEL by index, without a map per claim.
type activation struct {
	index map[string]int
	vals  []any
}

func (a *activation) ResolveName(name string) (any, bool) {
	i, ok := a.index[name]
	if !ok {
		return nil, false
	}
	v := a.vals[i]
	return v, v != nil
}

func (a *activation) Parent() interpreter.Activation { return nil }

// evalRat runs a program that yields an amount.
func evalRat(p cel.Program, act *activation) (Rat, error) {
	out, _, err := p.Eval(act)
	if err != nil {
		return Rat{}, err
	}
	r, ok := out.(Rat)
	if !ok {
		return Rat{}, fmt.Errorf("policy: expression gave %v, not an amount", out)
	}
	return r, nil
}

func evalBool(p cel.Program, act *activation) (bool, error) {
	out, _, err := p.Eval(act)
	if err != nil {
		return false, err
	}
	v, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("policy: condition gave %v, not true/false", out)
	}
	return bool(v), nil
}
