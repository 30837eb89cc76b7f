package desk

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/store"
)

// Batch is a payment batch with its control totals.
type Batch struct {
	ID         string       `json:"id"`
	State      string       `json:"state"`
	Count      int          `json:"count"`
	Total      money.Amount `json:"total"`
	CreatedBy  string       `json:"created_by"`
	ApprovedBy string       `json:"approved_by,omitempty"`
	CreatedAt  time.Time    `json:"created_at"`
	Payments   []Payment    `json:"payments"`
}

// Payment is one transfer of a batch: an award (Kind "award", keyed by
// its application) or a payable of the batch's Payables (Kind
// "redemption": a voucher redemption, keyed by its own id in
// ApplicationID, the voucher's application in Source).
type Payment struct {
	ApplicationID string       `json:"application_id"`
	Kind          string       `json:"kind"`
	Source        string       `json:"source_application,omitempty"`
	USCC          string       `json:"uscc"`
	Enterprise    string       `json:"enterprise"`
	Item          string       `json:"item"`
	Amount        money.Amount `json:"amount"`
	State         string       `json:"state"`
	BankRef       string       `json:"bank_ref,omitempty"`
	BankName      string       `json:"bank_name"`
	BankAccount   string       `json:"bank_account"` // masked unless finance
}

// CreateBatch groups approved awards into a payment batch (finance).
func (s *Service) CreateBatch(ctx context.Context, a Actor, ids []string) (*Batch, error) {
	if a.Role != RoleFinance {
		return nil, forbidden()
	}
	if len(ids) == 0 || len(ids) > 10000 {
		return nil, apperr.New(apperr.Invalid, "请选择已批准的申请", "choose approved applications").WithField("ids")
	}
	now := s.now()
	b := &Batch{ID: newID("bat"), State: "draft", CreatedBy: a.ID, CreatedAt: now}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO desk_batches (id, state, count, total, created_by, created_at) VALUES (?, 'draft', 0, 0, ?, ?)`, b.ID, a.ID, nanos(now)); err != nil {
			return err
		}
		var total int64
		for _, id := range ids {
			app, err := s.loadApp(ctx, tx, id)
			if apperr.Is(err, apperr.NotFound) && s.payables != nil {
				amount, ok, err := s.takeLine(ctx, tx, now, a, id, b.ID)
				if err != nil {
					return err
				}
				if ok {
					total += amount
					continue
				}
				err = notFound("申请或待兑付款项 " + id)
			}
			if err != nil {
				return err
			}
			amount := int64(app.Approved)
			if app.State != StateApproved || amount <= 0 {
				return apperr.Newf(apperr.Conflict, "申请 %s 不是待拨付状态", "application %s is not approved for payment", id)
			}
			if s.opt.PaidElsewhere != nil {
				why, err := s.opt.PaidElsewhere(ctx, tx, id)
				if err != nil {
					return err
				}
				if why != "" {
					return apperr.Newf(apperr.Conflict, "申请 %s 不通过拨付批次支付:"+why, "application %s is not paid through a batch: "+why, id)
				}
			}
			var masked string
			if err := tx.QueryRow(ctx, `SELECT bank_masked FROM desk_enterprises WHERE uscc = ?`, app.USCC).Scan(&masked); err != nil {
				return err
			}
			if masked == "" {
				return apperr.Newf(apperr.Conflict, "企业 %s 尚未登记银行账户", "enterprise %s has no bank account", app.USCC)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO desk_payments (batch_id, application_id, amount, state) VALUES (?, ?, ?, 'pending')`, b.ID, id, amount); err != nil {
				return err
			}
			if err := s.move(ctx, tx, now, a, app, StateBatched, "纳入拨付批次 "+b.ID, nil); err != nil {
				return err
			}
			total += amount
		}
		b.Count, b.Total = len(ids), money.Amount(total)
		if _, err := tx.Exec(ctx, `UPDATE desk_batches SET count = ?, total = ? WHERE id = ?`, b.Count, total, b.ID); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "batch.create", "batch", b.ID, "", nil, map[string]any{"count": b.Count, "total": b.Total, "applications": ids})
	})
	if err != nil {
		return nil, err
	}
	return s.GetBatch(ctx, a, b.ID)
}

// ApproveBatch is the second pair of eyes: another finance user checks the
// control totals and approves. The creator cannot approve.
func (s *Service) ApproveBatch(ctx context.Context, a Actor, id string, count int, total int64) (*Batch, error) {
	if a.Role != RoleFinance {
		return nil, forbidden()
	}
	now := s.now()
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var state, creator string
		var n int
		var sum int64
		err := tx.QueryRow(ctx, `SELECT state, created_by, count, total FROM desk_batches WHERE id = ?`, id).Scan(&state, &creator, &n, &sum)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("拨付批次")
		}
		if err != nil {
			return err
		}
		if creator == a.ID {
			return apperr.New(apperr.Forbidden, "批次创建人不能审批本批次(双人复核)", "the batch's creator cannot approve it (four eyes)")
		}
		if state != "draft" {
			return apperr.New(apperr.Conflict, "该批次已审批", "the batch is already approved")
		}
		if n != count || sum != total {
			return apperr.Newf(apperr.Conflict, "控制总数不符:批次为 %d 笔、%s 元", "control totals differ: the batch has %d payments, %s yuan", n, money.FormatGrouped(sum))
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_batches SET state = 'approved', approved_by = ?, approved_at = ? WHERE id = ?`, a.ID, nanos(now), id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "batch.approve", "batch", id, "", map[string]string{"state": "draft"}, map[string]any{"state": "approved", "count": n, "total": money.Format(sum)})
	})
	if err != nil {
		return nil, err
	}
	return s.GetBatch(ctx, a, id)
}

// RecordPayment records the bank's answer for one payment of an approved
// batch. Paid: the ledger posts the reservation (the money leaves the pool
// for good). Failed: the award is reopened for another batch.
func (s *Service) RecordPayment(ctx context.Context, a Actor, batchID, appID string, paid bool, bankRef string) (*Application, error) {
	if a.Role != RoleFinance {
		return nil, forbidden()
	}
	bankRef = strings.TrimSpace(bankRef)
	if paid && (bankRef == "" || len(bankRef) > 64) {
		return nil, apperr.New(apperr.Invalid, "请填写银行流水号", "the bank reference is required").WithField("bank_ref")
	}
	var amount int64
	var bstate, pstate, grant string
	err := s.db.QueryRow(ctx, `SELECT b.state, p.state, p.amount, a.grant_id FROM desk_payments p JOIN desk_batches b ON b.id = p.batch_id
		JOIN desk_applications a ON a.id = p.application_id WHERE p.batch_id = ? AND p.application_id = ?`, batchID, appID).Scan(&bstate, &pstate, &amount, &grant)
	if errors.Is(err, sql.ErrNoRows) && s.payables != nil {
		return s.recordLine(ctx, a, batchID, appID, paid, bankRef)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("拨付记录")
	}
	if err != nil {
		return nil, err
	}
	if bstate != "approved" {
		return nil, apperr.New(apperr.Conflict, "批次尚未审批,不能登记拨付", "the batch is not approved")
	}
	if pstate != "pending" {
		return nil, apperr.New(apperr.Conflict, "该笔拨付已登记", "this payment is already recorded")
	}
	if paid {
		// Post first: idempotent in the ledger, so a retry after a crash
		// between the two steps completes the record.
		if grant == "" {
			grant = appID
		}
		if err := s.led.Pay(ctx, grant, amount); err != nil {
			var le *ledger.Error
			if !(errors.As(err, &le) && le.Code == ledger.CodeAlreadyResolved) {
				return nil, err
			}
		}
	}
	now := s.now()
	var app *Application
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if app, err = s.loadApp(ctx, tx, appID); err != nil {
			return err
		}
		state, msg, set := "failed", "拨付失败,重新待拨付:"+bankRef, map[string]any(nil)
		to := StateApproved
		if paid {
			state, msg, to = "paid", "已拨付,银行流水号 "+bankRef, StatePaid
			set = map[string]any{"paid": amount, "paid_at": nanos(now)}
		}
		res, err := tx.Exec(ctx, `UPDATE desk_payments SET state = ?, bank_ref = ?, recorded_by = ?, recorded_at = ? WHERE batch_id = ? AND application_id = ? AND state = 'pending'`,
			state, bankRef, a.ID, nanos(now), batchID, appID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "该笔拨付已登记", "this payment is already recorded")
		}
		if err := s.move(ctx, tx, now, a, app, to, msg, set); err != nil {
			return err
		}
		if err := closeIfDone(ctx, tx, batchID); err != nil {
			return err
		}
		app, err = s.loadApp(ctx, tx, appID)
		return err
	})
	return app, err
}

// Claw recovers money paid for an award obtained improperly: a reversing
// entry in the ledger gives it back to the pool and the caps.
func (s *Service) Claw(ctx context.Context, a Actor, appID string, amount int64, reason string) (*Application, error) {
	if a.Role != RoleFinance && a.Role != RoleAdmin {
		return nil, forbidden()
	}
	reason = limitText(reason, 2000)
	if reason == "" {
		return nil, apperr.New(apperr.Invalid, "请写明追回理由", "give the reason").WithField("reason")
	}
	app, err := s.Get(ctx, a, appID)
	if err != nil {
		return nil, err
	}
	if app.State != StatePaid {
		return nil, checkMove(app.State, StateClawedBack)
	}
	if amount <= 0 || amount > int64(app.Paid) {
		return nil, apperr.Newf(apperr.Invalid, "追回金额应在0到已拨付的 %s 元之间", "the amount must be between 0 and the %s yuan paid", money.FormatGrouped(int64(app.Paid))).WithField("amount")
	}
	if err := s.led.Claw(ctx, app.grant(), amount, "claw/"+app.grant()); err != nil {
		return nil, err
	}
	return s.review(ctx, Actor{ID: a.ID, Role: RoleAdmin, RequestID: a.RequestID}, appID, func(tx *store.Tx, now time.Time, app *Application) error {
		return s.move(ctx, tx, now, a, app, StateClawedBack, "追回 "+money.FormatGrouped(amount)+" 元:"+reason, map[string]any{"clawed": amount, "note": reason})
	})
}

// GetBatch returns a batch; bank accounts in full for finance only.
func (s *Service) GetBatch(ctx context.Context, a Actor, id string) (*Batch, error) {
	if a.Role != RoleFinance && a.Role != RoleAdmin {
		return nil, forbidden()
	}
	b := &Batch{ID: id}
	var total, created int64
	err := s.db.QueryRow(ctx, `SELECT state, count, total, created_by, approved_by, created_at FROM desk_batches WHERE id = ?`, id).Scan(&b.State, &b.Count, &total, &b.CreatedBy, &b.ApprovedBy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("拨付批次")
	}
	if err != nil {
		return nil, err
	}
	b.Total, b.CreatedAt = money.Amount(total), fromNanos(created)
	rows, err := s.db.Query(ctx, `SELECT p.application_id, a.uscc, e.name, a.item, p.amount, p.state, p.bank_ref, e.bank_name, e.bank_account, e.bank_masked
		FROM desk_payments p JOIN desk_applications a ON a.id = p.application_id JOIN desk_enterprises e ON e.uscc = a.uscc
		WHERE p.batch_id = ? ORDER BY a.uscc, p.application_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p Payment
		var amount int64
		var sealed, masked string
		if err := rows.Scan(&p.ApplicationID, &p.USCC, &p.Enterprise, &p.Item, &amount, &p.State, &p.BankRef, &p.BankName, &sealed, &masked); err != nil {
			return nil, err
		}
		p.Amount, p.BankAccount, p.Kind = money.Amount(amount), masked, KindAward
		if a.Role == RoleFinance {
			if full, err := s.cipher.open(sealed, "bank:"+p.USCC); err == nil {
				p.BankAccount = full
			}
		}
		b.Payments = append(b.Payments, p)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	lines, err := s.db.Query(ctx, `SELECT l.line_id, l.kind, l.application_id, l.uscc, e.name, l.item, l.amount, l.state, l.bank_ref, e.bank_name, e.bank_account, e.bank_masked
		FROM desk_batch_lines l JOIN desk_enterprises e ON e.uscc = l.uscc WHERE l.batch_id = ? ORDER BY l.uscc, l.line_id`, id)
	if err != nil {
		return nil, err
	}
	defer lines.Close()
	for lines.Next() {
		var p Payment
		var amount int64
		var sealed, masked string
		if err := lines.Scan(&p.ApplicationID, &p.Kind, &p.Source, &p.USCC, &p.Enterprise, &p.Item, &amount, &p.State, &p.BankRef, &p.BankName, &sealed, &masked); err != nil {
			return nil, err
		}
		p.Amount, p.BankAccount = money.Amount(amount), masked
		if a.Role == RoleFinance {
			if full, err := s.cipher.open(sealed, "bank:"+p.USCC); err == nil {
				p.BankAccount = full
			}
		}
		b.Payments = append(b.Payments, p)
	}
	return b, lines.Err()
}

// KindAward is the Kind of a payment that pays an award.
const KindAward = "award"

// Line is a payable that is not an award, paid through a payment batch:
// a voucher redemption (兑付) of package compute.
type Line struct {
	ID            string       // the payable's own id, e.g. red_…
	Kind          string       // what it is, e.g. "redemption"
	ApplicationID string       // the application behind it (the voucher claim's), for people
	USCC          string       // who is paid
	Item          string       // the item it pays under
	Amount        money.Amount // what is paid
}

// Payables are payables beside awards that finance pays through the
// workflow's payment batches: package compute's voucher redemptions. Their
// amount the ledger already posted as payable to the enterprise
// (Ledger.Redeem), so recording one paid moves no money in the ledger —
// unlike an award, whose reservation Ledger.Pay posts at payment. It is an
// interface so that desk needs not import compute (compute imports desk).
type Payables interface {
	// TakeLine puts payable id into batch batchID, in tx: ok is false when
	// id is none of its payables; an error when it is one but not payable
	// now (or already in a batch).
	TakeLine(ctx context.Context, tx *store.Tx, now time.Time, a Actor, id, batchID string) (line *Line, ok bool, err error)
	// SettleLine records the bank's answer for payable id of batch
	// batchID, in tx: paid with bankRef; or failed, when it becomes
	// payable again, for another batch.
	SettleLine(ctx context.Context, tx *store.Tx, now time.Time, a Actor, id, batchID string, paid bool, bankRef string) error
	// OpenLines lists up to limit payables ready to pay and in no batch,
	// oldest first, for finance to tick beside awards.
	OpenLines(ctx context.Context, a Actor, limit int) ([]Line, error)
}

// OpenPayables lists up to limit payables beside awards (voucher
// redemptions) that are ready to pay and in no batch: finance and admins
// only; none when no payables are wired.
func (s *Service) OpenPayables(ctx context.Context, a Actor, limit int) ([]Line, error) {
	if a.Role != RoleFinance && a.Role != RoleAdmin {
		return nil, forbidden()
	}
	if s.payables == nil {
		return nil, nil
	}
	return s.payables.OpenLines(ctx, a, limit)
}

// SetPayables makes finance pay p's payables through the payment batches
// beside awards: CreateBatch takes their ids, GetBatch and ExportBatch list
// them, RecordPayment records them. Call it while wiring, before the
// service takes requests.
func (s *Service) SetPayables(p Payables) { s.payables = p }

// takeLine adds payable id to batch batchID; ok false when the Payables do
// not know it.
func (s *Service) takeLine(ctx context.Context, tx *store.Tx, now time.Time, a Actor, id, batchID string) (int64, bool, error) {
	l, ok, err := s.payables.TakeLine(ctx, tx, now, a, id, batchID)
	if err != nil || !ok {
		return 0, false, err
	}
	if l.Amount <= 0 {
		return 0, false, apperr.Newf(apperr.Conflict, "款项 %s 金额为0,无需拨付", "payable %s is zero", id)
	}
	var masked string
	err = tx.QueryRow(ctx, `SELECT bank_masked FROM desk_enterprises WHERE uscc = ?`, l.USCC).Scan(&masked)
	if errors.Is(err, sql.ErrNoRows) || err == nil && masked == "" {
		return 0, false, apperr.Newf(apperr.Conflict, "企业 %s 尚未登记银行账户", "enterprise %s has no bank account", l.USCC)
	}
	if err != nil {
		return 0, false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO desk_batch_lines (batch_id, line_id, kind, application_id, uscc, item, amount, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')`,
		batchID, l.ID, l.Kind, l.ApplicationID, l.USCC, l.Item, int64(l.Amount)); err != nil {
		if store.IsUniqueViolation(err) {
			return 0, false, apperr.Newf(apperr.Conflict, "款项 %s 已在拨付批次中", "payable %s is already in a batch", id)
		}
		return 0, false, err
	}
	return int64(l.Amount), true, nil
}

// recordLine records the bank's answer for a payable of the Payables. The
// ledger is not called: the amount was posted payable when it was redeemed.
func (s *Service) recordLine(ctx context.Context, a Actor, batchID, lineID string, paid bool, bankRef string) (*Application, error) {
	now := s.now()
	var app *Application
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var bstate, lstate, kind, appID, code string
		var amount int64
		err := tx.QueryRow(ctx, `SELECT b.state, l.state, l.kind, l.application_id, l.uscc, l.amount FROM desk_batch_lines l JOIN desk_batches b ON b.id = l.batch_id
			WHERE l.batch_id = ? AND l.line_id = ?`, batchID, lineID).Scan(&bstate, &lstate, &kind, &appID, &code, &amount)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("拨付记录")
		}
		if err != nil {
			return err
		}
		if bstate != "approved" {
			return apperr.New(apperr.Conflict, "批次尚未审批,不能登记拨付", "the batch is not approved")
		}
		if lstate != "pending" {
			return apperr.New(apperr.Conflict, "该笔拨付已登记", "this payment is already recorded")
		}
		state := "failed"
		if paid {
			state = "paid"
		}
		res, err := tx.Exec(ctx, `UPDATE desk_batch_lines SET state = ?, bank_ref = ?, recorded_by = ?, recorded_at = ? WHERE batch_id = ? AND line_id = ? AND state = 'pending'`,
			state, bankRef, a.ID, nanos(now), batchID, lineID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "该笔拨付已登记", "this payment is already recorded")
		}
		if err := s.payables.SettleLine(ctx, tx, now, a, lineID, batchID, paid, bankRef); err != nil {
			return err
		}
		if err := s.record(ctx, tx, now, a, "batch.line."+state, "batch", batchID, code, map[string]string{"state": "pending"},
			map[string]any{"line": lineID, "kind": kind, "state": state, "amount": money.Format(amount), "bank_ref": bankRef}); err != nil {
			return err
		}
		if err := closeIfDone(ctx, tx, batchID); err != nil {
			return err
		}
		if appID != "" {
			app, err = s.loadApp(ctx, tx, appID)
		}
		return err
	})
	return app, err
}

// closeIfDone closes a batch with no payment left pending.
func closeIfDone(ctx context.Context, tx *store.Tx, batchID string) error {
	var pending int
	if err := tx.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM desk_payments WHERE batch_id = ? AND state = 'pending') + (SELECT COUNT(*) FROM desk_batch_lines WHERE batch_id = ? AND state = 'pending')`,
		batchID, batchID).Scan(&pending); err != nil {
		return err
	}
	if pending > 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE desk_batches SET state = 'closed' WHERE id = ?`, batchID)
	return err
}
