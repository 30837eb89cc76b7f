package store

import "testing"

func TestRebind(t *testing.T) {
	tests := []struct{ in, pg string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"},
		{"SELECT '?' || ? FROM t", "SELECT '?' || $1 FROM t"},
		{`SELECT "odd?col" FROM t WHERE x = ?`, `SELECT "odd?col" FROM t WHERE x = $1`},
		{"SELECT ? -- why? because\n, ?", "SELECT $1 -- why? because\n, $2"},
		{"SELECT 5 - ?", "SELECT 5 - $1"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
	}
	for _, tt := range tests {
		if got := rebind(Postgres, tt.in); got != tt.pg {
			t.Errorf("rebind(pg, %q) = %q, want %q", tt.in, got, tt.pg)
		}
		if got := rebind(SQLite, tt.in); got != tt.in {
			t.Errorf("rebind(sqlite, %q) = %q, want it unchanged", tt.in, got)
		}
	}
}

func TestPlaceholders(t *testing.T) {
	if got := Placeholders(3); got != "?, ?, ?" {
		t.Errorf("Placeholders(3) = %q", got)
	}
	if got := Placeholders(0); got != "" {
		t.Errorf("Placeholders(0) = %q", got)
	}
}

func TestInList(t *testing.T) {
	q, args := InList(SQLite, "id", []string{"a", "b"})
	if q != "id IN (?, ?)" || len(args) != 2 || args[1] != "b" {
		t.Errorf("sqlite: %q %v", q, args)
	}
	q, args = InList(Postgres, "id", []string{"a", "b"})
	if q != "id = ANY(?::text[])" || len(args) != 1 {
		t.Errorf("postgres: %q %v", q, args)
	}
}
