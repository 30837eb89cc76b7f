package ledger

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"policydesk/store"
	"policydesk/store/storetest"
)

// fixture creates accounts for the low-level tests:
//
//	src   unbounded source (code AccountUserDefined)
//	box   debits ≤ credits, funded with 1000
//	cap   a cap (code AccountCap), funded with 500
//	sink  unbounded
//	huge  unbounded, credited with MaxInt64 − 10 from src2 (for overflow)
func fixture(t *testing.T, l *Ledger) {
	t.Helper()
	ctx := context.Background()
	res, err := l.CreateAccounts(ctx, []Account{
		{Key: "src", Code: AccountUserDefined},
		{Key: "box", Code: AccountUserDefined, Flags: DebitsMustNotExceedCredits},
		{Key: "cap", Code: AccountCap, Flags: DebitsMustNotExceedCredits},
		{Key: "sink", Code: AccountUserDefined},
		{Key: "huge", Code: AccountUserDefined},
		{Key: "src2", Code: AccountUserDefined},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	mustTransfer(t, l, Transfer{ID: "fund-box", DebitAccount: "src", CreditAccount: "box", Amount: 1000, Code: TransferUserFirst})
	mustTransfer(t, l, Transfer{ID: "fund-cap", DebitAccount: "src", CreditAccount: "cap", Amount: 500, Code: TransferUserFirst})
	mustTransfer(t, l, Transfer{ID: "fund-huge", DebitAccount: "src2", CreditAccount: "huge", Amount: math.MaxInt64 - 10, Code: TransferUserFirst})
	mustTransfer(t, l, Transfer{ID: "hold", DebitAccount: "box", CreditAccount: "sink", Amount: 100, Flags: Pending, Code: TransferUserFirst})
	mustTransfer(t, l, Transfer{ID: "voided", DebitAccount: "box", CreditAccount: "sink", Amount: 50, Flags: Pending, Code: TransferUserFirst})
	mustTransfer(t, l, Transfer{ID: "void-it", PendingID: "voided", Flags: VoidPending, Code: TransferUserFirst})
}

// mustTransfer applies one transfer and fails the test on any refusal.
func mustTransfer(t testing.TB, l *Ledger, tr Transfer) Result {
	t.Helper()
	res, err := l.CreateTransfers(context.Background(), []Transfer{tr})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil {
		t.Fatalf("transfer %s: %v", tr.ID, res[0].Err)
	}
	return res[0]
}

// snapshot is everything a refused request must leave unchanged.
type snapshot struct {
	transfers, accounts int
	balances            []Balance
}

func snap(t *testing.T, l *Ledger) snapshot {
	t.Helper()
	bs, err := l.Balances(context.Background(), "src", "box", "cap", "sink", "huge")
	if err != nil {
		t.Fatal(err)
	}
	return snapshot{countRows(t, l.db, "ledger_transfers"), countRows(t, l.db, "ledger_accounts"), bs}
}

func sameSnap(a, b snapshot) bool {
	if a.transfers != b.transfers || a.accounts != b.accounts || len(a.balances) != len(b.balances) {
		return false
	}
	for i := range a.balances {
		if a.balances[i] != b.balances[i] {
			return false
		}
	}
	return true
}

// Every refusal has its code; nothing is written and nothing panics.
func TestTransferErrorCodes(t *testing.T) {
	past := time.Now().Add(-time.Hour)
	tests := []struct {
		name  string
		tr    []Transfer
		code  string // of the failing transfer
		index int    // which transfer of tr fails
	}{
		{"zero amount", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "sink", Amount: 0}}, CodeInvalid, 0},
		{"negative amount", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "sink", Amount: -5}}, CodeInvalid, 0},
		{"most negative amount", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "sink", Amount: math.MinInt64}}, CodeInvalid, 0},
		{"same account", []Transfer{{ID: "x", DebitAccount: "sink", CreditAccount: "sink", Amount: 1}}, CodeInvalid, 0},
		{"empty id", []Transfer{{ID: "", DebitAccount: "src", CreditAccount: "sink", Amount: 1}}, CodeInvalid, 0},
		{"control character in id", []Transfer{{ID: "a\nb", DebitAccount: "src", CreditAccount: "sink", Amount: 1}}, CodeInvalid, 0},
		{"invalid utf-8 id", []Transfer{{ID: "\xff", DebitAccount: "src", CreditAccount: "sink", Amount: 1}}, CodeInvalid, 0},
		{"two kinds", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "sink", Amount: 1, Flags: Pending | VoidPending}}, CodeInvalid, 0},
		{"expiry on plain", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "sink", Amount: 1, ExpiresAt: time.Now().Add(time.Hour)}}, CodeInvalid, 0},
		{"pending id on plain", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "sink", Amount: 1, PendingID: "hold"}}, CodeInvalid, 0},
		{"post without pending id", []Transfer{{ID: "x", Amount: 1, Flags: PostPending}}, CodeInvalid, 0},
		{"post more than pending", []Transfer{{ID: "x", PendingID: "hold", Amount: 101, Flags: PostPending}}, CodeInvalid, 0},
		{"post zero", []Transfer{{ID: "x", PendingID: "hold", Amount: 0, Flags: PostPending}}, CodeInvalid, 0},
		{"void part", []Transfer{{ID: "x", PendingID: "hold", Amount: 40, Flags: VoidPending}}, CodeInvalid, 0},
		{"post on other accounts", []Transfer{{ID: "x", PendingID: "hold", DebitAccount: "src", Amount: 10, Flags: PostPending}}, CodeInvalid, 0},
		{"overflow", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "huge", Amount: 11}}, CodeInvalid, 0},
		{"overflow max", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "huge", Amount: math.MaxInt64}}, CodeInvalid, 0},
		{"open linked chain", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "sink", Amount: 1, Flags: Linked}}, CodeInvalid, 0},
		{"unknown debit account", []Transfer{{ID: "x", DebitAccount: "nope", CreditAccount: "sink", Amount: 1}}, CodeNotFound, 0},
		{"unknown credit account", []Transfer{{ID: "x", DebitAccount: "src", CreditAccount: "nope", Amount: 1}}, CodeNotFound, 0},
		{"unknown pending", []Transfer{{ID: "x", PendingID: "nope", Amount: 1, Flags: PostPending}}, CodeNotFound, 0},
		{"post of a plain transfer", []Transfer{{ID: "x", PendingID: "fund-box", Amount: 1, Flags: PostPending}}, CodeNotFound, 0},
		{"insufficient funds", []Transfer{{ID: "x", DebitAccount: "box", CreditAccount: "sink", Amount: 901}}, CodeInsufficientFunds, 0},
		{"insufficient funds pending", []Transfer{{ID: "x", DebitAccount: "box", CreditAccount: "sink", Amount: 901, Flags: Pending}}, CodeInsufficientFunds, 0},
		{"exceeds cap", []Transfer{{ID: "x", DebitAccount: "cap", CreditAccount: "sink", Amount: 501, Flags: Pending}}, CodeExceedsCap, 0},
		{"already resolved post", []Transfer{{ID: "x", PendingID: "voided", Amount: 1, Flags: PostPending}}, CodeAlreadyResolved, 0},
		{"already resolved void", []Transfer{{ID: "x", PendingID: "voided", Flags: VoidPending}}, CodeAlreadyResolved, 0},
		{"pending already expired", []Transfer{{ID: "x", DebitAccount: "box", CreditAccount: "sink", Amount: 1, Flags: Pending, ExpiresAt: past}}, CodeExpired, 0},
		{"conflict", []Transfer{{ID: "fund-box", DebitAccount: "src", CreditAccount: "box", Amount: 999, Code: TransferUserFirst}}, CodeConflict, 0},
		{"conflict on code", []Transfer{{ID: "fund-box", DebitAccount: "src", CreditAccount: "box", Amount: 1000}}, CodeConflict, 0},
		{"linked set fails whole", []Transfer{
			{ID: "ok1", DebitAccount: "src", CreditAccount: "sink", Amount: 1, Flags: Linked},
			{ID: "ok2", DebitAccount: "box", CreditAccount: "sink", Amount: 1, Flags: Linked},
			{ID: "bad", DebitAccount: "box", CreditAccount: "sink", Amount: 900},
		}, CodeInsufficientFunds, 2},
		{"linked set fails on its first", []Transfer{
			{ID: "bad", DebitAccount: "cap", CreditAccount: "sink", Amount: 501, Flags: Linked},
			{ID: "ok", DebitAccount: "src", CreditAccount: "sink", Amount: 1},
		}, CodeExceedsCap, 0},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := open(t, db, Options{})
		fixture(t, l)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := snap(t, l)
				res, err := l.CreateTransfers(ctx, tt.tr)
				if err != nil {
					t.Fatal(err)
				}
				if len(res) != len(tt.tr) {
					t.Fatalf("%d results for %d transfers", len(res), len(tt.tr))
				}
				for i, r := range res {
					want := CodeLinkedEventFailed
					if i == tt.index {
						want = tt.code
					}
					wantCode(t, r.Err, want)
					if r.Seq != 0 {
						t.Errorf("refused transfer %d has seq %d", i, r.Seq)
					}
				}
				if after := snap(t, l); !sameSnap(before, after) {
					t.Errorf("a refused request changed the ledger:\nbefore %+v\nafter  %+v", before, after)
				}
			})
		}
		mustVerify(t, db)
	})
}

func TestAccountErrorCodes(t *testing.T) {
	tests := []struct {
		name string
		a    Account
		code string
	}{
		{"empty key", Account{Key: "", Code: 1}, CodeInvalid},
		{"zero code", Account{Key: "k", Code: 0}, CodeInvalid},
		{"both bounds", Account{Key: "k", Code: 1, Flags: DebitsMustNotExceedCredits | CreditsMustNotExceedDebits}, CodeInvalid},
		{"unknown flag", Account{Key: "k", Code: 1, Flags: 8}, CodeInvalid},
		{"opening balance", Account{Key: "k", Code: 1, CreditsPosted: 5}, CodeInvalid},
		{"conflict", Account{Key: "box", Code: AccountUserDefined}, CodeConflict},
		{"replay", Account{Key: "box", Code: AccountUserDefined, Flags: DebitsMustNotExceedCredits}, ""},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := open(t, db, Options{})
		fixture(t, l)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := snap(t, l)
				res, err := l.CreateAccounts(context.Background(), []Account{tt.a})
				if err != nil {
					t.Fatal(err)
				}
				wantCode(t, res[0].Err, tt.code)
				if after := snap(t, l); !sameSnap(before, after) {
					t.Errorf("the request changed the ledger")
				}
			})
		}
	})
}

func TestErrorType(t *testing.T) {
	e := newError(CodeExceedsCap, "cap/x", "detail %d", 5)
	var err error = e
	var le *Error
	if !errors.As(err, &le) || le.Code != CodeExceedsCap || le.Message != "超出限额" || le.MessageEN != "exceeds cap" {
		t.Fatalf("errors.As gave %+v", le)
	}
	if !errors.Is(err, &Error{Code: CodeExceedsCap}) || errors.Is(err, &Error{Code: CodeConflict}) {
		t.Error("errors.Is does not match by code")
	}
	if ErrorCode(nil) != "" || ErrorCode(errors.New("x")) != CodeInternal {
		t.Error("ErrorCode of nil or a foreign error")
	}
	for code, m := range messages {
		if m[0] == "" || m[1] == "" {
			t.Errorf("code %s lacks a message", code)
		}
	}
}
