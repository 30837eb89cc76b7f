package store

import (
	"strconv"
	"strings"
)

// rebind turns ? placeholders into $1, $2… for PostgreSQL. Marks inside
// single-quoted strings, double-quoted identifiers and -- comments are left
// alone. Our SQL never uses PostgreSQL's ? jsonb operators.
func rebind(dialect, q string) string {
	if dialect != Postgres || strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch c {
		case '\'', '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				j := strings.IndexByte(q[i:], '\n')
				if j < 0 {
					j = len(q) - i
				}
				b.WriteString(q[i : i+j])
				i += j - 1
				continue
			}
			b.WriteByte(c)
		case '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// InList returns a condition "col IN (…)" over vals and its arguments.
// PostgreSQL gets "col = ANY(?)" with one text[] argument: one statement
// text whatever the number of values, so the driver's statement cache
// holds it; SQLite gets one placeholder per value.
func InList(dialect, col string, vals []string) (string, []any) {
	if dialect == Postgres {
		return col + " = ANY(?::text[])", []any{vals}
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (" + placeholders(len(vals)) + ")", args
}
