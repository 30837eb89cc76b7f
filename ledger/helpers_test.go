package ledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"policydesk/store"
)

// open starts a ledger on db, closed at cleanup.
func open(t testing.TB, db *store.DB, opts Options) *Ledger {
	t.Helper()
	l, err := New(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// mustVerify fails the test unless every invariant holds.
func mustVerify(t testing.TB, db *store.DB) Report {
	t.Helper()
	r, err := Verify(context.Background(), db)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !r.OK() {
		for _, p := range r.Problems {
			t.Errorf("verify: [%s] %s: %s", p.Check, p.Subject, p.Detail)
		}
		t.FailNow()
	}
	return r
}

// wantCode fails unless err carries code ("" for nil).
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
	if code != "" {
		var le *Error
		if !errors.As(err, &le) || le.Message == "" || le.MessageEN == "" {
			t.Fatalf("error %v is not an *Error with messages", err)
		}
	}
}

// balance returns one account's balances.
func balance(t testing.TB, l *Ledger, key string) Balance {
	t.Helper()
	bs, err := l.Balances(context.Background(), key)
	if err != nil {
		t.Fatalf("balances %s: %v", key, err)
	}
	return bs[0]
}

// clock is a settable clock for expiry tests.
type clock struct{ ch chan time.Time }

func newClock(t time.Time) *clock {
	c := &clock{ch: make(chan time.Time, 1)}
	c.ch <- t
	return c
}

func (c *clock) Now() time.Time {
	t := <-c.ch
	c.ch <- t
	return t
}

func (c *clock) Set(t time.Time) {
	<-c.ch
	c.ch <- t
}

// countRows counts a table's rows.
func countRows(t testing.TB, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// errorsAs is errors.As for *Error.
func errorsAs(err error, target **Error) bool { return errors.As(err, target) }
