package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Cap is a limit a grant counts against, e.g. Key
// "cap/91110000…/compute_voucher/2025", Limit 2_000_000_000 fen. The cap's
// account is created on first use and funded with Limit; naming an
// existing cap with another Limit is a conflict (a cap never changes: a
// new policy version makes new cap keys).
type Cap struct {
	Key   string
	Limit int64
}

// Grant is money the workflow proposes to give an enterprise.
type Grant struct {
	ID         string // the grant's id and idempotency key, e.g. the application id
	Enterprise string // 统一社会信用代码
	Item       string // the policy item, e.g. "compute_voucher"
	Year       int
	Project    string // the project, if the item is per project; may be empty
	Pool       string // the pool the item draws on, e.g. "compute_voucher"; "" if none
	Amount     int64  // fen, > 0
	Caps       []Cap
	Expires    time.Time // when an unpaid reservation lapses; zero: never
}

// Reservation is the outcome of Reserve.
type Reservation struct {
	GrantID   string
	Amount    int64
	ExpiresAt time.Time
	CreatedAt time.Time // when the reservation was committed (the first time)
	Replayed  bool      // the grant was already reserved with the same body
}

// grantTerms is what a grant's reservation transfer (grant/<id>) carries
// in its user_data, as JSON: the terms the rules engine reads back in
// History. Being part of the transfer's body, they are covered by its
// idempotency hash, so a reused grant id with other terms is a conflict.
type grantTerms struct {
	Enterprise string `json:"enterprise"`
	Item       string `json:"item"`
	Year       int    `json:"year"`
	Project    string `json:"project,omitempty"`
	Pool       string `json:"pool,omitempty"`
	Caps       []Cap  `json:"caps,omitempty"` // sorted by key
}

// grantRow is a grant as read back from its reservation transfer.
type grantRow struct {
	grantTerms
	ID        string
	Amount    int64
	Source    string // the account debited: a pool or budget/unpooled
	Main      string // the pending transfer source → payable
	ExpiresAt int64  // Unix ns, 0: never
	CreatedAt int64
}

// termsJSON encodes the terms for user_data.
func (t grantTerms) termsJSON() string {
	b, _ := json.Marshal(t)
	return string(b)
}

// FundPool moves amount from the pool's budget account into the pool's
// account for year. id makes it idempotent: the same id and amount again
// changes nothing; another amount under the same id is a conflict.
func (l *Ledger) FundPool(ctx context.Context, pool string, year int, amount int64, id string) error {
	if pool == "" || year < 1 || year > 9999 {
		return newError(CodeInvalid, pool, "pool and year are required")
	}
	u := &unit{
		accounts: []Account{
			{Key: BudgetKey(pool), Code: AccountBudget},
			{Key: PoolKey(pool, year), Code: AccountPool, Flags: DebitsMustNotExceedCredits},
		},
		transfers: []Transfer{{ID: fundID(id), DebitAccount: BudgetKey(pool), CreditAccount: PoolKey(pool, year), Amount: amount, Code: TransferFundPool}},
	}
	if err := l.submit(ctx, u); err != nil {
		return err
	}
	return asError(u.err)
}

// Reserve reserves a grant: one linked set of pending transfers, pool →
// enterprise payable for the amount, and each cap → cap used for the same
// amount, so that the grant is reserved everywhere or nowhere. A pool
// that cannot cover it fails with insufficient_funds, a cap with
// exceeds_cap; many Reserves racing cannot overspend either. Caps met for
// the first time are created and funded in the same set.
//
// Reserve is idempotent by g.ID: the same grant again returns the first
// reservation; the same id with another body is a conflict.
func (l *Ledger) Reserve(ctx context.Context, g Grant) (Reservation, error) {
	if err := g.validate(); err != nil {
		return Reservation{}, err
	}
	caps := slices.Clone(g.Caps)
	slices.SortFunc(caps, func(a, b Cap) int { return strings.Compare(a.Key, b.Key) })
	terms := grantTerms{Enterprise: g.Enterprise, Item: g.Item, Year: g.Year, Project: g.Project, Pool: g.Pool, Caps: caps}
	source := UnpooledKey
	sourceAcct := Account{Key: UnpooledKey, Code: AccountBudget}
	if g.Pool != "" {
		source = PoolKey(g.Pool, g.Year)
		sourceAcct = Account{Key: source, Code: AccountPool, Flags: DebitsMustNotExceedCredits}
	}
	u := &unit{
		accounts: []Account{sourceAcct, {Key: PayableKey(g.Enterprise), Code: AccountPayable, Flags: DebitsMustNotExceedCredits}},
	}
	if len(caps) > 0 {
		u.accounts = append(u.accounts, Account{Key: CapSourceKey, Code: AccountCapSource}, Account{Key: CapUsedKey, Code: AccountCapUsed})
	}
	for _, c := range caps {
		u.accounts = append(u.accounts, Account{Key: c.Key, Code: AccountCap, Flags: DebitsMustNotExceedCredits})
		if known, ok := l.capLimits.Load(c.Key); ok {
			if known.(int64) != c.Limit {
				return Reservation{}, newError(CodeConflict, c.Key, "the cap exists with limit %d, not %d", known.(int64), c.Limit)
			}
			continue // funded already; resending would only be a replay
		}
		u.transfers = append(u.transfers, Transfer{ID: capLimitID(c.Key), DebitAccount: CapSourceKey, CreditAccount: c.Key, Amount: c.Limit, Code: TransferCapLimit})
	}
	main := GrantTransferID(g.ID)
	mainAt := len(u.transfers)
	u.transfers = append(u.transfers, Transfer{ID: main, DebitAccount: source, CreditAccount: PayableKey(g.Enterprise),
		Amount: g.Amount, Flags: Pending, ExpiresAt: g.Expires, Code: TransferGrant, UserData: terms.termsJSON()})
	for _, c := range caps {
		u.transfers = append(u.transfers, Transfer{ID: grantCapID(g.ID, c.Key), DebitAccount: c.Key, CreditAccount: CapUsedKey,
			Amount: g.Amount, Flags: Pending, ExpiresAt: g.Expires, Code: TransferGrantCap, UserData: g.ID})
	}
	if err := l.submit(ctx, u); err != nil {
		return Reservation{}, err
	}
	if u.err != nil {
		return Reservation{}, u.err
	}
	for _, c := range caps {
		l.capLimits.Store(c.Key, c.Limit)
	}
	r := u.transferResults[mainAt]
	return Reservation{GrantID: g.ID, Amount: g.Amount, ExpiresAt: g.Expires, CreatedAt: r.CreatedAt, Replayed: r.Replayed}, nil
}

func (g *Grant) validate() error {
	switch {
	case !validKey(g.ID) || len(g.ID) > 128:
		return newError(CodeInvalid, g.ID, "grant id must be 1–128 bytes of printable UTF-8")
	case !validKey(g.Enterprise) || len(g.Enterprise) > 64:
		return newError(CodeInvalid, g.ID, "enterprise is required")
	case !validKey(g.Item) || len(g.Item) > 64:
		return newError(CodeInvalid, g.ID, "item is required")
	case g.Year < 1 || g.Year > 9999:
		return newError(CodeInvalid, g.ID, "year %d out of range", g.Year)
	case g.Amount <= 0:
		return newError(CodeInvalid, g.ID, "amount must be positive")
	case len(g.Project) > 128 || (g.Project != "" && !validKey(g.Project)):
		return newError(CodeInvalid, g.ID, "project must be at most 128 bytes of printable UTF-8")
	case len(g.Pool) > 64 || (g.Pool != "" && !validKey(g.Pool)):
		return newError(CodeInvalid, g.ID, "pool must be at most 64 bytes of printable UTF-8")
	}
	seen := map[string]bool{}
	for _, c := range g.Caps {
		switch {
		case !validKey(c.Key) || len(c.Key) > 256:
			return newError(CodeInvalid, g.ID, "cap key must be 1–256 bytes of printable UTF-8")
		case c.Limit <= 0:
			return newError(CodeInvalid, c.Key, "cap limit must be positive")
		case seen[c.Key]:
			return newError(CodeInvalid, c.Key, "cap listed twice")
		case c.Key == CapSourceKey || c.Key == CapUsedKey || c.Key == PayableKey(g.Enterprise) || c.Key == UnpooledKey ||
			(g.Pool != "" && c.Key == PoolKey(g.Pool, g.Year)):
			return newError(CodeInvalid, c.Key, "a cap key cannot be one of the grant's other accounts")
		}
		seen[c.Key] = true
	}
	return nil
}

// Pay posts a grant's reservations at payment: amount (≤ the reserved
// amount) in the pool and in every cap; the rest of the reservation is
// released. It also credits paid/<grant> with amount, the ceiling of any
// later clawback. Pay is idempotent: the same grant and amount again
// changes nothing; another amount is a conflict. Paying a released grant
// is already_resolved; an expired one, expired.
func (l *Ledger) Pay(ctx context.Context, grantID string, amount int64) error {
	g, caps, err := l.grant(ctx, grantID)
	if err != nil {
		return err
	}
	if amount <= 0 || amount > g.Amount {
		return newError(CodeInvalid, grantID, "payment %d must be positive and at most the reserved %d", amount, g.Amount)
	}
	u := &unit{accounts: []Account{
		{Key: PaidSourceKey, Code: AccountPaidSource},
		{Key: PaidKey(g.ID), Code: AccountPaid, Flags: DebitsMustNotExceedCredits},
	}}
	u.transfers = append(u.transfers, Transfer{ID: payID(g.ID), PendingID: g.Main, Amount: amount, Flags: PostPending, Code: TransferPay, UserData: g.ID})
	for _, c := range caps {
		u.transfers = append(u.transfers, Transfer{ID: payCapID(g.ID, c.Key), PendingID: grantCapID(g.ID, c.Key), Amount: amount, Flags: PostPending, Code: TransferPay, UserData: g.ID})
	}
	u.transfers = append(u.transfers, Transfer{ID: paidID(g.ID), DebitAccount: PaidSourceKey, CreditAccount: PaidKey(g.ID), Amount: amount, Code: TransferPaid, UserData: g.ID})
	if err := l.submit(ctx, u); err != nil {
		return err
	}
	return asError(u.err)
}

// Release voids a grant's reservations (rejection, withdrawal, an upheld
// objection): the pool and the caps get the amount back. Idempotent.
// Releasing a paid grant is already_resolved; an expired one, expired.
func (l *Ledger) Release(ctx context.Context, grantID string) error {
	g, caps, err := l.grant(ctx, grantID)
	if err != nil {
		return err
	}
	u := &unit{}
	u.transfers = append(u.transfers, Transfer{ID: releaseID(g.ID), PendingID: g.Main, Flags: VoidPending, Code: TransferRelease, UserData: g.ID})
	for _, c := range caps {
		u.transfers = append(u.transfers, Transfer{ID: releaseCapID(g.ID, c.Key), PendingID: grantCapID(g.ID, c.Key), Flags: VoidPending, Code: TransferRelease, UserData: g.ID})
	}
	if err := l.submit(ctx, u); err != nil {
		return err
	}
	return asError(u.err)
}

// Claw takes back amount of a paid grant: reversing transfers payable →
// pool (or budget) and cap used → each cap, so the money and the
// headroom return, and paid/<grant> → sys/paid, whose bound refuses
// clawing back more than was paid (insufficient_funds). id names this
// clawback and makes it idempotent; several partial clawbacks take
// several ids.
func (l *Ledger) Claw(ctx context.Context, grantID string, amount int64, id string) error {
	g, caps, err := l.grant(ctx, grantID)
	if err != nil {
		return err
	}
	if amount <= 0 {
		return newError(CodeInvalid, grantID, "clawback amount must be positive")
	}
	u := &unit{accounts: []Account{
		{Key: PaidSourceKey, Code: AccountPaidSource},
		{Key: PaidKey(g.ID), Code: AccountPaid, Flags: DebitsMustNotExceedCredits},
	}}
	u.transfers = append(u.transfers, Transfer{ID: clawPaidID(id), DebitAccount: PaidKey(g.ID), CreditAccount: PaidSourceKey, Amount: amount, Code: TransferClaw, UserData: g.ID})
	u.transfers = append(u.transfers, Transfer{ID: clawID(id), DebitAccount: PayableKey(g.Enterprise), CreditAccount: g.Source, Amount: amount, Code: TransferClaw, UserData: g.ID})
	for _, c := range caps {
		u.transfers = append(u.transfers, Transfer{ID: clawCapID(id, c.Key), DebitAccount: CapUsedKey, CreditAccount: c.Key, Amount: amount, Code: TransferClaw, UserData: g.ID})
	}
	if err := l.submit(ctx, u); err != nil {
		return err
	}
	return asError(u.err)
}

// grant reads a grant back from its reservation transfer.
func (l *Ledger) grant(ctx context.Context, id string) (*grantRow, []Cap, error) {
	ts, err := l.LookupTransfers(ctx, GrantTransferID(id))
	if err != nil {
		return nil, nil, err
	}
	if len(ts) == 0 || ts[0].Code != TransferGrant || ts[0].Flags != Pending {
		return nil, nil, newError(CodeNotFound, id, "no grant with this id")
	}
	r, err := grantFrom(id, &ts[0])
	if err != nil {
		return nil, nil, internal(err)
	}
	return r, r.Caps, nil
}

// grantFrom rebuilds a grant from its reservation transfer.
func grantFrom(id string, t *Transfer) (*grantRow, error) {
	r := &grantRow{ID: id, Amount: t.Amount, Source: t.DebitAccount, Main: t.ID, ExpiresAt: unixNano(t.ExpiresAt), CreatedAt: unixNano(t.CreatedAt)}
	if err := json.Unmarshal([]byte(t.UserData), &r.grantTerms); err != nil {
		return nil, fmt.Errorf("grant %s: terms: %w", id, err)
	}
	return r, nil
}

// asError turns a nil *Error into a nil error (not a typed nil).
func asError(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}
