package ledger

import "time"

// AccountFlags are an account's bounds.
type AccountFlags uint32

const (
	// DebitsMustNotExceedCredits: debits_pending + debits_posted ≤
	// credits_posted at all times. A pool or a cap: money can be reserved
	// only from what was put in.
	DebitsMustNotExceedCredits AccountFlags = 1 << 0
	// CreditsMustNotExceedDebits: credits_pending + credits_posted ≤
	// debits_posted at all times.
	CreditsMustNotExceedDebits AccountFlags = 1 << 1
	accountFlagsAll                         = DebitsMustNotExceedCredits | CreditsMustNotExceedDebits
)

// Account is a TigerBeetle-style account: it never holds a "balance", only
// the sums of the entries on each side, pending and posted. Accounts are
// named by stable string keys such as "pool/compute_voucher/2025".
type Account struct {
	Key            string
	Code           int32 // the kind of account (AccountPool, AccountCap…); > 0
	Flags          AccountFlags
	DebitsPending  int64
	DebitsPosted   int64
	CreditsPending int64
	CreditsPosted  int64
	CreatedAt      time.Time // set by the ledger
}

// Available is what the account may still give under its bound: for
// DebitsMustNotExceedCredits, credits_posted − debits_posted −
// debits_pending; for CreditsMustNotExceedDebits, the mirror image; for an
// unbounded account, its net posted credit balance.
func (a Account) Available() int64 {
	switch {
	case a.Flags&DebitsMustNotExceedCredits != 0:
		return a.CreditsPosted - a.DebitsPosted - a.DebitsPending
	case a.Flags&CreditsMustNotExceedDebits != 0:
		return a.DebitsPosted - a.CreditsPosted - a.CreditsPending
	}
	return a.CreditsPosted - a.DebitsPosted
}

// TransferFlags say what a transfer does.
type TransferFlags uint32

const (
	// Linked ties a transfer to the next one in the same CreateTransfers
	// call: a chain of linked transfers (the last one without the flag)
	// succeeds or fails as a whole.
	Linked TransferFlags = 1 << 0
	// Pending reserves the amount: it counts against the debit account's
	// bound but is not yet posted.
	Pending TransferFlags = 1 << 1
	// PostPending posts (part of) the pending transfer PendingID; the part
	// not posted is released.
	PostPending TransferFlags = 1 << 2
	// VoidPending releases the whole of the pending transfer PendingID.
	VoidPending TransferFlags = 1 << 3
	kindFlags                 = Pending | PostPending | VoidPending
)

// Transfer moves Amount fen from DebitAccount to CreditAccount. Entries are
// append-only: a mistake is corrected by a reversing transfer, never by an
// edit.
type Transfer struct {
	// ID is the client's idempotency key, unique in the ledger. Sending
	// the same ID with the same body again returns the first result and
	// changes nothing; with a different body it is a conflict.
	ID            string
	DebitAccount  string // for post/void: empty, or the pending transfer's
	CreditAccount string // for post/void: empty, or the pending transfer's
	// Amount in fen, > 0. A post may post less than the pending amount; a
	// void takes 0 (or the pending amount) and releases everything.
	Amount    int64
	PendingID string // the pending transfer a post or void resolves
	Flags     TransferFlags
	// ExpiresAt, for a pending transfer, is when the ledger voids it if
	// it is still unresolved; zero means never.
	ExpiresAt time.Time
	Code      int32  // the reason for the transfer (TransferGrant…)
	UserData  string // free reference, e.g. the grant id

	Seq       int64     // set by the ledger: position in the ledger, from 1, without gaps
	CreatedAt time.Time // set by the ledger: when it was committed
}

func (t *Transfer) kind() TransferFlags { return t.Flags & kindFlags }

// Result is the outcome of one account or transfer of a request.
type Result struct {
	ID        string    // the transfer id or account key
	Seq       int64     // the transfer's seq (0 for accounts and failures)
	CreatedAt time.Time // when it was committed (the first time, for a replay)
	// Replayed is true when the id already existed with the same body:
	// the first result is returned and nothing was written.
	Replayed bool
	Err      error // nil, or an *Error
}
