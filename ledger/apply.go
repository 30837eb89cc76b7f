package ledger

import (
	"bytes"
	"context"

	"policydesk/store"
)

// pendingState is what validating a post or void needs to know of a
// pending transfer.
type pendingState struct {
	id       string
	debit    string
	credit   string
	amount   int64
	expires  int64         // Unix ns, 0: never
	resolved TransferFlags // 0 open, PostPending or VoidPending
	expired  bool          // voided by expiry
	fresh    bool          // created in this batch
}

// stored is an existing transfer's identity, for idempotency.
type stored struct {
	seq     int64
	created int64
	hash    []byte
}

// batch is the state of one batch transaction. It validates units in
// memory on top of the ledger's cache and collects what to write; nothing
// touches the cache until the transaction has committed (merge).
type batch struct {
	l    *Ledger
	q    store.Querier // where prefetch reads: the transaction, or (validating outside the lock) the read pool
	tx   *store.Tx     // the write transaction, while writing
	now  int64
	seq  int64 // last seq assigned
	base int64 // the ledger_meta version the batch was validated on

	subs  []*submission // the requests it answers
	wrote bool          // it has something to write (and moves the version)
	w     writes        // its statements' arguments, built before the transaction

	accounts map[string]*Account      // accounts created or changed here
	created  map[string]bool          // accounts created here
	pending  map[string]*pendingState // pending transfers loaded, created or resolved here
	existing map[string]stored        // transfers already in the database

	transfers []Transfer // new, in seq order
	hashes    [][]byte   // their body hashes
	byID      map[string]int

	undo   []func() // journal of the current unit, to roll it back
	popped []expiry // deadlines taken from the heap by this batch
}

func newBatch(l *Ledger, tx *store.Tx, now int64) *batch {
	b := &batch{
		l: l, tx: tx, now: now,
		accounts: map[string]*Account{},
		created:  map[string]bool{},
		pending:  map[string]*pendingState{},
		existing: map[string]stored{},
		byID:     map[string]int{},
	}
	if tx != nil {
		b.q = tx
	}
	return b
}

// run locks the ledger, loads what the batch needs, applies every unit and
// writes the result: the serial path, all inside one transaction.
func (b *batch) run(ctx context.Context, subs []*submission) error {
	if err := b.lock(ctx); err != nil {
		return err
	}
	if err := b.apply(ctx, subs); err != nil {
		return err
	}
	b.finish()
	return b.write(ctx)
}

// apply validates the due expiries and the requests' units on top of the
// cache, after reading what the cache lacks.
func (b *batch) apply(ctx context.Context, subs []*submission) error {
	b.seq, b.base, b.subs = b.l.seq, b.l.version, subs
	units := b.dueExpiries(b.now, b.l.opts.MaxBatch)
	for _, s := range subs {
		units = append(units, s.units...)
	}
	return b.extend(ctx, units)
}

// extend reads what units need and applies them after the batch's others.
func (b *batch) extend(ctx context.Context, units []*unit) error {
	if err := b.prefetch(ctx, units); err != nil {
		return err
	}
	for _, u := range units {
		b.applyUnit(u)
	}
	return nil
}

// finish builds the statements' arguments once every unit is applied.
func (b *batch) finish() {
	b.wrote = len(b.transfers) > 0 || len(b.accounts) > 0
	if b.wrote {
		b.build()
	}
}

// merge moves the batch's effects into the ledger's cache, once the batch
// has committed.
func (b *batch) merge() {
	l := b.l
	for k, a := range b.accounts {
		l.accounts[k] = a
	}
	for _, p := range b.pending {
		if p.fresh && p.resolved == 0 && p.expires != 0 {
			pushExpiry(l, p)
		}
	}
	l.seq = b.seq
	if b.wrote {
		l.version = b.base + 1
	}
}

// account returns the current state of an account, or nil.
func (b *batch) account(key string) *Account {
	if a, ok := b.accounts[key]; ok {
		return a
	}
	return b.l.accounts[key]
}

// put records a new state of an account (never mutate one in place: the
// cache's copy must stay as committed).
func (b *batch) put(a *Account) {
	prev, had := b.accounts[a.Key]
	b.undo = append(b.undo, func() {
		if had {
			b.accounts[a.Key] = prev
		} else {
			delete(b.accounts, a.Key)
		}
	})
	b.accounts[a.Key] = a
}

func (b *batch) putPending(p *pendingState) {
	prev, had := b.pending[p.id]
	b.undo = append(b.undo, func() {
		if had {
			b.pending[p.id] = prev
		} else {
			delete(b.pending, p.id)
		}
	})
	b.pending[p.id] = p
}

// applyUnit applies a unit's accounts and transfers all or nothing.
func (b *batch) applyUnit(u *unit) {
	b.undo = b.undo[:0]
	u.accountResults = make([]Result, len(u.accounts))
	u.transferResults = make([]Result, len(u.transfers))
	u.err = nil
	failAt := -1 // index into accounts then transfers
	var fail *Error
	for i := range u.accounts {
		r, err := b.ensureAccount(&u.accounts[i])
		u.accountResults[i] = r
		if err != nil {
			fail, failAt = err, i
			break
		}
	}
	if fail == nil {
		for i := range u.transfers {
			t := &u.transfers[i]
			if i == len(u.transfers)-1 && t.Flags&Linked != 0 {
				fail, failAt = newError(CodeInvalid, t.ID, "the last transfer of a linked set must not carry the linked flag"), len(u.accounts)+i
				break
			}
			r, err := b.transfer(t)
			u.transferResults[i] = r
			if err != nil {
				fail, failAt = err, len(u.accounts)+i
				break
			}
		}
	}
	if fail == nil {
		return
	}
	for i := len(b.undo) - 1; i >= 0; i-- {
		b.undo[i]()
	}
	b.undo = b.undo[:0]
	u.err = fail
	linked := newError(CodeLinkedEventFailed, "", "")
	for i := range u.accountResults {
		u.accountResults[i] = Result{ID: u.accounts[i].Key, Err: linked}
	}
	for i := range u.transferResults {
		u.transferResults[i] = Result{ID: u.transfers[i].ID, Err: linked}
	}
	if failAt < len(u.accounts) {
		u.accountResults[failAt].Err = fail
	} else {
		u.transferResults[failAt-len(u.accounts)].Err = fail
	}
}

// ensureAccount creates an account, or accepts an identical existing one.
func (b *batch) ensureAccount(a *Account) (Result, *Error) {
	r := Result{ID: a.Key}
	switch {
	case !validKey(a.Key):
		return r, newError(CodeInvalid, a.Key, "account key must be 1–%d bytes of printable UTF-8", maxKeyLen)
	case a.Code <= 0:
		return r, newError(CodeInvalid, a.Key, "account code must be positive")
	case a.Flags&^accountFlagsAll != 0:
		return r, newError(CodeInvalid, a.Key, "unknown account flags %#x", uint32(a.Flags))
	case a.Flags == accountFlagsAll:
		return r, newError(CodeInvalid, a.Key, "an account cannot bound both debits and credits")
	case a.DebitsPending != 0 || a.DebitsPosted != 0 || a.CreditsPending != 0 || a.CreditsPosted != 0:
		return r, newError(CodeInvalid, a.Key, "a new account's balances must be zero: only transfers move them")
	}
	if ex := b.account(a.Key); ex != nil {
		if ex.Code != a.Code || ex.Flags != a.Flags {
			return r, newError(CodeConflict, a.Key, "account exists with code %d flags %d", ex.Code, ex.Flags)
		}
		r.Replayed, r.CreatedAt = true, ex.CreatedAt
		return r, nil
	}
	na := &Account{Key: a.Key, Code: a.Code, Flags: a.Flags, CreatedAt: fromNano(b.now)}
	b.put(na)
	b.created[a.Key] = true
	b.undo = append(b.undo, func() { delete(b.created, a.Key) })
	r.CreatedAt = na.CreatedAt
	return r, nil
}

// transfer validates one transfer against the batch's state and applies it.
func (b *batch) transfer(t *Transfer) (Result, *Error) {
	r := Result{ID: t.ID}
	if !validKey(t.ID) {
		return r, newError(CodeInvalid, t.ID, "transfer id must be 1–%d bytes of printable UTF-8", maxKeyLen)
	}
	h := bodyHash(t)
	if i, ok := b.byID[t.ID]; ok {
		if !bytes.Equal(b.hashes[i], h) {
			return r, newError(CodeConflict, t.ID, "transfer id exists with a different body")
		}
		r.Seq, r.CreatedAt, r.Replayed = b.transfers[i].Seq, b.transfers[i].CreatedAt, true
		return r, nil
	}
	if s, ok := b.existing[t.ID]; ok {
		if !bytes.Equal(s.hash, h) {
			return r, newError(CodeConflict, t.ID, "transfer id exists with a different body")
		}
		r.Seq, r.CreatedAt, r.Replayed = s.seq, fromNano(s.created), true
		return r, nil
	}
	if t.Amount < 0 {
		return r, newError(CodeInvalid, t.ID, "amount must be positive")
	}
	if !t.ExpiresAt.IsZero() && t.kind() != Pending {
		return r, newError(CodeInvalid, t.ID, "only a pending transfer can expire")
	}
	e := Transfer{ID: t.ID, Amount: t.Amount, Flags: t.kind(), ExpiresAt: t.ExpiresAt, Code: t.Code, UserData: t.UserData}
	var dr, cr *Account
	switch t.kind() {
	case 0, Pending:
		switch {
		case t.PendingID != "":
			return r, newError(CodeInvalid, t.ID, "pending_id belongs to post and void only")
		case t.Amount == 0:
			return r, newError(CodeInvalid, t.ID, "amount must be positive")
		case t.DebitAccount == t.CreditAccount:
			return r, newError(CodeInvalid, t.ID, "debit and credit account are the same")
		case t.kind() == Pending && t.ExpiresAt.UnixNano() <= b.now && !t.ExpiresAt.IsZero():
			return r, newError(CodeExpired, t.ID, "expires_at is already past")
		}
		if dr = b.account(t.DebitAccount); dr == nil {
			return r, newError(CodeNotFound, t.DebitAccount, "debit account does not exist")
		}
		if cr = b.account(t.CreditAccount); cr == nil {
			return r, newError(CodeNotFound, t.CreditAccount, "credit account does not exist")
		}
		e.DebitAccount, e.CreditAccount = dr.Key, cr.Key
	case PostPending, VoidPending:
		if t.PendingID == "" {
			return r, newError(CodeInvalid, t.ID, "post and void need pending_id")
		}
		p := b.pendingOf(t.PendingID)
		if p == nil {
			return r, newError(CodeNotFound, t.PendingID, "no pending transfer with this id")
		}
		switch {
		case t.DebitAccount != "" && t.DebitAccount != p.debit,
			t.CreditAccount != "" && t.CreditAccount != p.credit:
			return r, newError(CodeInvalid, t.ID, "accounts differ from the pending transfer's")
		case p.expired:
			return r, newError(CodeExpired, t.PendingID, "the pending transfer expired")
		case p.resolved != 0:
			return r, newError(CodeAlreadyResolved, t.PendingID, "the pending transfer is already resolved")
		case p.expires != 0 && b.now >= p.expires && !isExpiry(t, p):
			return r, newError(CodeExpired, t.PendingID, "the pending transfer expired")
		case isExpiry(t, p) && (p.expires == 0 || b.now < p.expires):
			return r, newError(CodeInvalid, t.ID, "only the ledger voids a pending transfer by expiry, at its deadline")
		case t.kind() == PostPending && t.Amount == 0:
			return r, newError(CodeInvalid, t.ID, "amount must be positive")
		case t.kind() == PostPending && t.Amount > p.amount:
			return r, newError(CodeInvalid, t.ID, "post amount %d exceeds the pending amount %d", t.Amount, p.amount)
		case t.kind() == VoidPending && t.Amount != 0 && t.Amount != p.amount:
			return r, newError(CodeInvalid, t.ID, "a void releases the whole pending amount %d", p.amount)
		}
		dr, cr = b.account(p.debit), b.account(p.credit)
		if dr == nil || cr == nil {
			return r, internal(errMissingAccount)
		}
		e.DebitAccount, e.CreditAccount, e.PendingID = p.debit, p.credit, p.id
		if t.kind() == VoidPending {
			e.Amount = p.amount
		}
		np := *p
		np.resolved, np.expired = t.kind(), isExpiry(t, p)
		b.putPending(&np)
		if err := b.move(dr, cr, t.kind(), e.Amount, p.amount, t.ID); err != nil {
			return r, err
		}
	default:
		return r, newError(CodeInvalid, t.ID, "flags pending, post_pending and void_pending exclude each other")
	}
	if t.kind() == 0 || t.kind() == Pending {
		if err := b.move(dr, cr, t.kind(), t.Amount, 0, t.ID); err != nil {
			return r, err
		}
		if t.kind() == Pending {
			b.putPending(&pendingState{id: t.ID, debit: dr.Key, credit: cr.Key, amount: t.Amount, expires: unixNano(t.ExpiresAt), fresh: true})
		}
	}
	seq := b.seq + 1
	e.Seq, e.CreatedAt = seq, fromNano(b.now)
	prevSeq := b.seq
	b.seq = seq
	b.transfers = append(b.transfers, e)
	b.hashes = append(b.hashes, h)
	b.byID[e.ID] = len(b.transfers) - 1
	b.undo = append(b.undo, func() {
		b.seq = prevSeq
		b.transfers = b.transfers[:len(b.transfers)-1]
		b.hashes = b.hashes[:len(b.hashes)-1]
		delete(b.byID, e.ID)
	})
	r.Seq, r.CreatedAt = seq, e.CreatedAt
	return r, nil
}

// pendingOf returns what the batch knows of a pending transfer, or nil.
func (b *batch) pendingOf(id string) *pendingState {
	return b.pending[id]
}

// move applies amount to both accounts for a transfer of kind and checks
// their bounds and int64 range. pendingAmount is what a post or void
// releases.
func (b *batch) move(dr, cr *Account, kind TransferFlags, amount, pendingAmount int64, id string) *Error {
	d, c := *dr, *cr
	ok := true
	add := func(p *int64, v int64) {
		if !ok {
			return
		}
		*p, ok = addOK(*p, v)
	}
	switch kind {
	case 0:
		add(&d.DebitsPosted, amount)
		add(&c.CreditsPosted, amount)
	case Pending:
		add(&d.DebitsPending, amount)
		add(&c.CreditsPending, amount)
	case PostPending:
		add(&d.DebitsPending, -pendingAmount)
		add(&c.CreditsPending, -pendingAmount)
		add(&d.DebitsPosted, amount)
		add(&c.CreditsPosted, amount)
	case VoidPending:
		add(&d.DebitsPending, -pendingAmount)
		add(&c.CreditsPending, -pendingAmount)
	}
	if !ok {
		return newError(CodeInvalid, id, "the amount would overflow an account's balance (int64)")
	}
	for _, a := range []*Account{&d, &c} {
		if err := checkBounds(a, id); err != nil {
			return err
		}
	}
	b.put(&d)
	b.put(&c)
	return nil
}

// checkBounds refuses a state that breaks an account's bound, with
// exceeds_cap for a cap account and insufficient_funds for any other.
func checkBounds(a *Account, id string) *Error {
	var over bool
	switch {
	case a.Flags&DebitsMustNotExceedCredits != 0:
		sum, ok := addOK(a.DebitsPending, a.DebitsPosted)
		over = !ok || sum > a.CreditsPosted
	case a.Flags&CreditsMustNotExceedDebits != 0:
		sum, ok := addOK(a.CreditsPending, a.CreditsPosted)
		over = !ok || sum > a.DebitsPosted
	}
	if !over {
		return nil
	}
	if a.Code == AccountCap {
		return newError(CodeExceedsCap, a.Key, "transfer %s would exceed the cap (available %d fen)", id, a.Available())
	}
	return newError(CodeInsufficientFunds, a.Key, "transfer %s exceeds what the account holds (available %d fen)", id, a.Available())
}

// isExpiry reports whether t is the ledger's void of p at its deadline.
func isExpiry(t *Transfer, p *pendingState) bool {
	return t.kind() == VoidPending && t.Code == TransferExpire && t.ID == ExpireID(p.id)
}
