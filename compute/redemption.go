package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// Redemption states: planned (pending: its ledger redemptions are being
// made), payable (the ledger moved the amount from reserved to payable),
// paid (finance recorded the bank transfer), failed (the ledger refused).
const (
	RedemptionPending = "pending"
	RedemptionPayable = "payable"
	RedemptionPaid    = "paid"
	RedemptionFailed  = "failed"
)

// Redemption (兑付) redeems a contract's confirmed records against its
// vouchers: Due = ⌊rate × Base⌋ (30% 第一条, 50% 第八条, the bundle's dated
// rate, rounded down once), Amount = Due limited by what the vouchers have
// left, taken from the oldest voucher first.
type Redemption struct {
	ID         string           `json:"id"`
	ContractID string           `json:"contract_id"`
	USCC       string           `json:"uscc"`
	ProviderID string           `json:"provider_id"`
	Item       string           `json:"item"`
	Records    int              `json:"records"`
	Base       money.Amount     `json:"base"`
	Rate       string           `json:"rate"`
	Due        money.Amount     `json:"due"`
	Amount     money.Amount     `json:"amount"`
	Parts      []RedemptionPart `json:"parts"`
	State      string           `json:"state"`
	BatchID    string           `json:"batch_id,omitempty"` // the payment batch it is in (desk), while payable or once paid
	BankRef    string           `json:"bank_ref,omitempty"`
	Note       string           `json:"note,omitempty"`
	CreatedAt  time.Time        `json:"created_at"`
	PaidAt     *time.Time       `json:"paid_at,omitempty"`
}

// RedemptionPart is the share of one voucher: the ledger posts Amount of
// Grant and keeps the rest reserved under Next.
type RedemptionPart struct {
	Claim  string       `json:"claim"`
	Grant  string       `json:"grant"`
	Next   string       `json:"next,omitempty"`
	Amount money.Amount `json:"amount"`
}

const redemptionColumns = `id, contract_id, uscc, provider_id, item, records, base, rate, due, amount, parts, state, bank_ref, note, created_at, paid_at`

// redemptionRead are the columns scanRedemption reads.
const redemptionRead = redemptionColumns + `, batch_id`

func scanRedemption(r interface{ Scan(...any) error }) (*Redemption, error) {
	var x Redemption
	var base, due, amount, created int64
	var parts string
	var paid *int64
	if err := r.Scan(&x.ID, &x.ContractID, &x.USCC, &x.ProviderID, &x.Item, &x.Records, &base, &x.Rate, &due, &amount, &parts, &x.State, &x.BankRef, &x.Note, &created, &paid, &x.BatchID); err != nil {
		return nil, err
	}
	x.Base, x.Due, x.Amount = money.Amount(base), money.Amount(due), money.Amount(amount)
	_ = json.Unmarshal([]byte(parts), &x.Parts)
	x.CreatedAt, x.PaidAt = fromNanos(created), timePtr(paid)
	return &x, nil
}

// Redeem redeems every confirmed record of a contract (its enterprise, or
// the admin): the records are taken, the amount computed and split over
// the contract's active vouchers, the plan stored; then the ledger posts
// each voucher's part and keeps the rest reserved (Ledger.Redeem), and the
// redemption becomes payable, for the workflow's payment batches.
func (s *Service) Redeem(ctx context.Context, a desk.Actor, contractID string) (*Redemption, error) {
	if !isEnterprise(a) && !isAdmin(a) {
		return nil, forbidden()
	}
	if _, err := s.scoped(ctx, s.db, a, contractID); err != nil {
		return nil, err
	}
	if err := s.resume(ctx, contractID); err != nil {
		return nil, err
	}
	claims, err := claimsWhere(ctx, s.db, `contract_id = ? AND state IN ('applied', 'active')`, contractID)
	if err != nil {
		return nil, err
	}
	if err := s.sync(ctx, claims); err != nil {
		return nil, err
	}
	now := s.now()
	t := today(now)
	var red *Redemption
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		c, err := s.scoped(ctx, tx, a, contractID)
		if err != nil {
			return err
		}
		p, err := loadProvider(ctx, tx, c.ProviderID)
		if err != nil {
			return err
		}
		if why, err := s.relatedDeal(ctx, tx, p, c.USCC); err != nil {
			return err
		} else if why != "" {
			return relatedRefusal(why)
		}
		var pending int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM compute_redemptions WHERE contract_id = ? AND state = 'pending'`, contractID).Scan(&pending); err != nil {
			return err
		}
		if pending > 0 {
			return conflict("该合同另有一笔兑付正在处理,请稍后重试", "another redemption of the contract is in progress")
		}
		all, err := claimsWhere(ctx, tx, `contract_id = ? AND state = 'active'`, contractID)
		if err != nil {
			return err
		}
		var usable []*Claim
		for _, cl := range all {
			exp, _ := policy.ParseDate(cl.ExpiresOn)
			if cl.Remaining > 0 && cl.Grant != "" && int(t-exp) <= s.opt.GraceDays {
				usable = append(usable, cl)
			}
		}
		if len(usable) == 0 {
			return conflict("没有可兑付的券额度:申领尚未批准、额度已用完或已过期", "no voucher to redeem: not approved yet, used up or expired")
		}
		id := newID("red")
		res, err := tx.Exec(ctx, `UPDATE compute_settlements SET state = 'redeeming', redemption_id = ?, updated_at = ? WHERE contract_id = ? AND state = 'confirmed'`, id, nanos(now), contractID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return conflict("没有已确认待兑付的结算记录", "no confirmed records to redeem")
		}
		var count int
		var base int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*), SUM(amount) FROM compute_settlements WHERE redemption_id = ?`, id).Scan(&count, &base); err != nil {
			return err
		}
		rate, raw, err := s.rate(usable[0].Item, usable[0].rateOn)
		if err != nil {
			return err
		}
		exact, err := policy.RatInt(base).Times(rate)
		if err != nil {
			return apperr.Wrap(err, apperr.Invalid, "金额超出可计算范围", "the amount is out of range")
		}
		due := exact.Floor()
		red = &Redemption{ID: id, ContractID: c.ID, USCC: c.USCC, ProviderID: c.ProviderID, Item: usable[0].Item, Records: count, Base: money.Amount(base),
			Rate: raw, Due: money.Amount(due), State: RedemptionPending, CreatedAt: now}
		left := due
		for _, cl := range usable {
			part := min(left, int64(cl.Remaining))
			if part <= 0 {
				break
			}
			seq := cl.seq + 1
			next, state := "", ClaimActive
			if part < int64(cl.Remaining) {
				next = cl.first + "/r" + strconv.Itoa(seq)
			} else {
				state = ClaimClosed // used up
			}
			res, err := tx.Exec(ctx, `UPDATE compute_claims SET used = used + ?, seq = ?, grant_current = ?, state = ?, closed_at = CASE WHEN ? = 'closed' THEN ? ELSE closed_at END,
				version = version + 1, updated_at = ? WHERE id = ? AND version = ?`, part, seq, next, state, state, nanos(now), nanos(now), cl.ID, cl.version)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return conflict("券额度已被他人修改,请重试", "the voucher changed meanwhile; retry")
			}
			red.Parts = append(red.Parts, RedemptionPart{Claim: cl.ID, Grant: cl.Grant, Next: next, Amount: money.Amount(part)})
			left -= part
		}
		red.Amount = money.Amount(due - left)
		if red.Amount == 0 {
			red.State = RedemptionPaid // nothing to pay: ⌊rate × base⌋ is 0
			red.Note = "按比例计算的兑付金额为0"
		}
		parts, _ := json.Marshal(red.Parts)
		if red.Parts == nil {
			parts = []byte("[]")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compute_redemptions (`+redemptionColumns+`, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, NULL, ?, ?)`,
			red.ID, red.ContractID, red.USCC, red.ProviderID, red.Item, red.Records, base, red.Rate, due, int64(red.Amount), string(parts), red.State, red.Note, nanos(now), a.ID, nanos(now)); err != nil {
			return err
		}
		if red.State == RedemptionPaid {
			if _, err := tx.Exec(ctx, `UPDATE compute_settlements SET state = 'redeemed', updated_at = ? WHERE redemption_id = ?`, nanos(now), id); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, now, a, "redemption.plan", "redemption", red.ID, red.USCC, nil, red)
	})
	if err != nil {
		return nil, err
	}
	if red.State == RedemptionPending {
		if err := s.post(ctx, red); err != nil {
			return nil, err
		}
	}
	return s.redemption(ctx, s.db, red.ID)
}

func (s *Service) redemption(ctx context.Context, q querier, id string) (*Redemption, error) {
	r, err := scanRedemption(q.QueryRow(ctx, `SELECT `+redemptionRead+` FROM compute_redemptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("兑付", "redemption")
	}
	return r, err
}

// post makes a planned redemption's ledger redemptions (idempotent: a
// retry after a crash replays them) and marks it payable. A refusal by
// the ledger fails it: its records stay taken, for the admin to look at.
func (s *Service) post(ctx context.Context, red *Redemption) error {
	for _, p := range red.Parts {
		_, err := s.led.Redeem(ctx, p.Grant, int64(p.Amount), p.Next)
		var le *ledger.Error
		if errors.As(err, &le) && le.Code != ledger.CodeInternal {
			now := s.now()
			note := "账本拒绝兑付 " + p.Grant + ":" + le.Message
			if ferr := s.db.Tx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `UPDATE compute_redemptions SET state = 'failed', note = ?, updated_at = ? WHERE id = ? AND state = 'pending'`, note, nanos(now), red.ID); err != nil {
					return err
				}
				return s.record(ctx, tx, now, desk.System, "redemption.failed", "redemption", red.ID, red.USCC, nil, map[string]string{"note": note, "ledger": le.Error()})
			}); ferr != nil {
				return ferr
			}
			return ledgerErr(err)
		}
		if err != nil {
			return ledgerErr(err)
		}
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE compute_redemptions SET state = 'payable', updated_at = ? WHERE id = ? AND state = 'pending'`, nanos(now), red.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // posted by a concurrent resume
		}
		if _, err := tx.Exec(ctx, `UPDATE compute_settlements SET state = 'redeemed', updated_at = ? WHERE redemption_id = ?`, nanos(now), red.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, now, desk.System, "redemption.post", "redemption", red.ID, red.USCC, map[string]string{"state": RedemptionPending},
			map[string]any{"state": RedemptionPayable, "amount": red.Amount, "parts": red.Parts})
	})
}

// resume finishes the planned redemptions of a contract ("" for all).
func (s *Service) resume(ctx context.Context, contractID string) error {
	q := `SELECT ` + redemptionRead + ` FROM compute_redemptions WHERE state = 'pending'`
	var args []any
	if contractID != "" {
		q, args = q+` AND contract_id = ?`, append(args, contractID)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY created_at`, args...)
	if err != nil {
		return err
	}
	var todo []*Redemption
	for rows.Next() {
		r, err := scanRedemption(rows)
		if err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range todo {
		if err := s.post(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// RedemptionFilter selects redemptions.
type RedemptionFilter struct {
	Contract string
	State    string
	// ToPay keeps the payable redemptions in no payment batch: what finance
	// may put into one.
	ToPay  bool
	Limit  int
	Offset int
}

// Redemptions lists the redemptions the actor may see: an enterprise its
// own, a provider those on its contracts, the zone's staff all.
func (s *Service) Redemptions(ctx context.Context, a desk.Actor, f RedemptionFilter) ([]*Redemption, error) {
	var where []string
	var args []any
	switch {
	case isStaff(a):
	case isEnterprise(a):
		where, args = append(where, "r.uscc = ?"), append(args, a.Enterprise)
	case isProvider(a):
		where, args = append(where, "p.uscc = ?"), append(args, a.Enterprise)
	default:
		return nil, forbidden()
	}
	if f.Contract != "" {
		where, args = append(where, "r.contract_id = ?"), append(args, f.Contract)
	}
	if f.State != "" {
		where, args = append(where, "r.state = ?"), append(args, f.State)
	}
	if f.ToPay {
		where = append(where, "r.state = 'payable' AND r.batch_id = ''")
	}
	q := `SELECT ` + prefix("r.", redemptionRead) + ` FROM compute_redemptions r JOIN compute_providers p ON p.id = r.provider_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY r.created_at, r.id"+limit(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Redemption
	for rows.Next() {
		r, err := scanRedemption(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func prefix(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = alias + strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ", ")
}

// KindRedemption is the kind of a payment batch line that pays a
// redemption.
const KindRedemption = "redemption"

// OpenLines lists the payable redemptions in no batch (desk.Payables):
// what finance may tick beside awards on its page.
func (s *Service) OpenLines(ctx context.Context, a desk.Actor, limit int) ([]desk.Line, error) {
	if a.Role != desk.RoleFinance && a.Role != desk.RoleAdmin {
		return nil, forbidden()
	}
	rs, err := s.Redemptions(ctx, a, RedemptionFilter{ToPay: true, Limit: limit})
	if err != nil {
		return nil, err
	}
	// The application behind each (its first voucher's claim's), in one
	// query for the whole list.
	var claims []string
	for _, r := range rs {
		if len(r.Parts) > 0 {
			claims = append(claims, r.Parts[0].Claim)
		}
	}
	apps := map[string]string{}
	if len(claims) > 0 {
		cond, args := store.InList(s.db.Dialect(), "id", claims)
		rows, err := s.db.Query(ctx, `SELECT id, application_id FROM compute_claims WHERE `+cond, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var id, app string
			if err := rows.Scan(&id, &app); err != nil {
				return nil, err
			}
			apps[id] = app
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]desk.Line, 0, len(rs))
	for _, r := range rs {
		l := desk.Line{ID: r.ID, Kind: KindRedemption, USCC: r.USCC, Item: r.Item, Amount: r.Amount}
		if len(r.Parts) > 0 {
			l.ApplicationID = apps[r.Parts[0].Claim]
		}
		out = append(out, l)
	}
	return out, nil
}

// TakeLine puts a payable redemption into a payment batch of the workflow
// (desk.Payables): finance pays redemptions through the same four-eyes
// batches as awards. The ledger already holds the amount as payable to the
// enterprise (Ledger.Redeem posted it), so paying it posts nothing again.
// ok is false when id is no redemption.
func (s *Service) TakeLine(ctx context.Context, tx *store.Tx, now time.Time, a desk.Actor, id, batchID string) (*desk.Line, bool, error) {
	if !strings.HasPrefix(id, "red_") {
		return nil, false, nil
	}
	r, err := s.redemption(ctx, tx, id)
	if apperr.Is(err, apperr.NotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if a.Role != desk.RoleFinance {
		return nil, false, forbidden()
	}
	switch {
	case r.State != RedemptionPayable:
		return nil, false, apperr.Newf(apperr.Conflict, "兑付 %s 不是待拨付状态", "redemption %s is not payable", id)
	case r.BatchID != "":
		return nil, false, apperr.Newf(apperr.Conflict, "兑付 %s 已在拨付批次 %s 中", "redemption %s is in batch %s already", id, r.BatchID)
	}
	res, err := tx.Exec(ctx, `UPDATE compute_redemptions SET batch_id = ?, updated_at = ? WHERE id = ? AND state = 'payable' AND batch_id = ''`, batchID, nanos(now), id)
	if err != nil {
		return nil, false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, false, apperr.Newf(apperr.Conflict, "兑付 %s 已被纳入其他拨付批次", "redemption %s was batched meanwhile", id)
	}
	if err := s.record(ctx, tx, now, a, "redemption.batched", "redemption", id, r.USCC, map[string]string{"batch": ""}, map[string]any{"batch": batchID, "amount": r.Amount}); err != nil {
		return nil, false, err
	}
	l := &desk.Line{ID: r.ID, Kind: KindRedemption, USCC: r.USCC, Item: r.Item, Amount: r.Amount}
	if len(r.Parts) > 0 {
		if err := tx.QueryRow(ctx, `SELECT application_id FROM compute_claims WHERE id = ?`, r.Parts[0].Claim).Scan(&l.ApplicationID); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, false, err
		}
	}
	return l, true, nil
}

// SettleLine records the bank's answer for a redemption of a payment
// batch (desk.Payables): paid closes it; failed frees it for another
// batch. The ledger is not touched.
func (s *Service) SettleLine(ctx context.Context, tx *store.Tx, now time.Time, a desk.Actor, id, batchID string, paid bool, bankRef string) error {
	if a.Role != desk.RoleFinance {
		return forbidden()
	}
	r, err := s.redemption(ctx, tx, id)
	if err != nil {
		return err
	}
	if r.State != RedemptionPayable || r.BatchID != batchID {
		return apperr.Newf(apperr.Conflict, "兑付 %s 不在该批次中待拨付", "redemption %s is not payable in this batch", id)
	}
	if !paid {
		if _, err := tx.Exec(ctx, `UPDATE compute_redemptions SET batch_id = '', updated_at = ? WHERE id = ? AND batch_id = ?`, nanos(now), id, batchID); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "redemption.payment_failed", "redemption", id, r.USCC, map[string]string{"batch": batchID}, map[string]any{"batch": "", "note": bankRef})
	}
	res, err := tx.Exec(ctx, `UPDATE compute_redemptions SET state = 'paid', bank_ref = ?, paid_by = ?, paid_at = ?, updated_at = ? WHERE id = ? AND state = 'payable' AND batch_id = ?`,
		bankRef, a.ID, nanos(now), nanos(now), id, batchID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return conflict("兑付已被他人修改,请刷新后重试", "the redemption changed meanwhile")
	}
	return s.record(ctx, tx, now, a, "redemption.paid", "redemption", id, r.USCC, map[string]string{"state": r.State},
		map[string]any{"state": RedemptionPaid, "batch": batchID, "bank_ref": bankRef, "amount": r.Amount})
}

// GetRedemption returns a redemption the actor may see: its enterprise,
// the provider of its contract, the zone's staff.
func (s *Service) GetRedemption(ctx context.Context, a desk.Actor, id string) (*Redemption, error) {
	r, err := s.redemption(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.scoped(ctx, s.db, a, r.ContractID); err != nil {
		return nil, notFound("兑付", "redemption")
	}
	return r, nil
}

// CloseVouchers is the scheduler's step: it finishes planned redemptions,
// follows the workflow for claims under review, and closes the vouchers
// whose contract ended or whose year closed (after GraceDays), releasing
// what they still hold in the ledger. Safe to repeat and to run on
// several instances.
func (s *Service) CloseVouchers(ctx context.Context) (closed int, released money.Amount, err error) {
	if err := s.resume(ctx, ""); err != nil {
		return 0, 0, err
	}
	live, err := claimsWhere(ctx, s.db, `state IN ('applied', 'active')`)
	if err != nil {
		return 0, 0, err
	}
	if err := s.sync(ctx, live); err != nil {
		return 0, 0, err
	}
	t := today(s.now())
	cutoff := policy.Date(int(t) - s.opt.GraceDays - 1).String()
	due, err := claimsWhere(ctx, s.db, `(state = 'active' AND expires_on <= ?) OR (state IN ('closed', 'refused') AND grant_current <> '')`, cutoff)
	if err != nil {
		return 0, 0, err
	}
	for _, cl := range due {
		r, err := s.closeClaim(ctx, cl, "券有效期届满(合同服务期结束或年度结束),释放未使用额度")
		if err != nil {
			return closed, released, err
		}
		if r >= 0 {
			closed++
			released += money.Amount(r)
		}
	}
	return closed, released, nil
}

// closeClaim closes an active claim and releases what it holds: the claim
// is closed first (so no redemption can take it), then the ledger voids
// its current grant, then the claim forgets the grant. A crash in between
// is finished by the next run. It returns the amount released, -1 when
// the claim was left for later.
func (s *Service) closeClaim(ctx context.Context, cl *Claim, reason string) (int64, error) {
	now := s.now()
	amount := int64(cl.Remaining)
	if cl.State == ClaimActive {
		skip := false
		err := s.db.Tx(ctx, func(tx *store.Tx) error {
			var pending int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM compute_redemptions WHERE contract_id = ? AND state = 'pending'`, cl.ContractID).Scan(&pending); err != nil {
				return err
			}
			if pending > 0 {
				skip = true
				return nil
			}
			res, err := tx.Exec(ctx, `UPDATE compute_claims SET state = 'closed', released = released + ?, closed_at = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`,
				amount, nanos(now), nanos(now), cl.ID, cl.version)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				skip = true
				return nil
			}
			return s.record(ctx, tx, now, desk.System, "claim.close", "claim", cl.ID, cl.USCC, map[string]any{"state": cl.State, "remaining": cl.Remaining},
				map[string]any{"state": ClaimClosed, "released": money.Format(amount), "grant": cl.Grant, "reason": reason})
		})
		if err != nil || skip {
			return -1, err
		}
		cl.State, cl.StateName = ClaimClosed, claimStateNames[ClaimClosed]
		cl.Released += money.Amount(amount)
		cl.Remaining = 0
		cl.ClosedAt = &now
		cl.version++
	}
	if cl.Grant == "" {
		return amount, nil
	}
	if err := s.release(ctx, cl.Grant); err != nil {
		return -1, err
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE compute_claims SET grant_current = '', updated_at = ? WHERE id = ?`, nanos(now), cl.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, now, desk.System, "claim.release", "claim", cl.ID, cl.USCC, nil, map[string]string{"grant": cl.Grant})
	})
	if err == nil {
		cl.Grant = ""
	}
	return amount, err
}
