package compute

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// Record states: submitted by the provider; confirmed or disputed by the
// enterprise (bilateral confirmation); withdrawn by the provider; being
// redeemed, then redeemed.
const (
	RecordSubmitted = "submitted"
	RecordConfirmed = "confirmed"
	RecordDisputed  = "disputed"
	RecordWithdrawn = "withdrawn"
	RecordRedeeming = "redeeming"
	RecordRedeemed  = "redeemed"
)

var recordStateNames = map[string]string{RecordSubmitted: "待企业确认", RecordConfirmed: "已确认", RecordDisputed: "有异议", RecordWithdrawn: "已撤回",
	RecordRedeeming: "兑付中", RecordRedeemed: "已兑付"}

// CardHours are card-hours in thousandths; they travel as decimal text.
type CardHours int64

// MarshalJSON writes "12.500".
func (c CardHours) MarshalJSON() ([]byte, error) {
	return []byte(`"` + c.String() + `"`), nil
}

// UnmarshalJSON reads what MarshalJSON writes: decimal text with at most
// three decimals ("12.5", "12.500", "-0.001"), quoted or a bare number.
func (c *CardHours) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, ok := parseCardHours(b)
	if !ok {
		return invalid("card_hours", "卡时「"+clip(b)+"」无效:应为数字,最多三位小数", "card-hours must be a number with at most 3 decimals")
	}
	*c = v
	return nil
}

// parseCardHours reads [-]digits[.ddd] exactly into thousandths, refusing
// what does not fit in an int64.
func parseCardHours(b []byte) (CardHours, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	whole, frac, dot := b, []byte(nil), false
	if i := bytes.IndexByte(b, '.'); i >= 0 {
		whole, frac, dot = b[:i], b[i+1:], true
	}
	if len(whole) == 0 || len(frac) > 3 || dot && len(frac) == 0 {
		return 0, false
	}
	var u uint64 // thousandths, checked against the int64 range
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	for k, part := range [][]byte{whole, frac} {
		for _, d := range part {
			if d < '0' || d > '9' {
				return 0, false
			}
			if u > (limit-uint64(d-'0'))/10 {
				return 0, false
			}
			u = u*10 + uint64(d-'0')
		}
		if k == 1 {
			for range 3 - len(frac) {
				if u > limit/10 {
					return 0, false
				}
				u *= 10
			}
		}
	}
	if !neg {
		return CardHours(u), true
	}
	return CardHours(-int64(u-1) - 1), true
}

// String writes the card-hours with three decimals.
func (c CardHours) String() string {
	u, sign := uint64(c), ""
	if c < 0 {
		u, sign = -u, "-" // two's complement: exact even for the smallest int64
	}
	return fmt.Sprintf("%s%d.%03d", sign, u/1000, u%1000)
}

// Record is a settlement record: what a provider billed an enterprise for
// a period of a contract, with the invoice.
type Record struct {
	ID           int64        `json:"id"`
	ContractID   string       `json:"contract_id"`
	ImportID     string       `json:"import_id,omitempty"`
	Line         int          `json:"line"`
	PeriodStart  string       `json:"period_start"`
	PeriodEnd    string       `json:"period_end"`
	CardHours    CardHours    `json:"card_hours"`
	APICalls     int64        `json:"api_calls"`
	Amount       money.Amount `json:"amount"`
	InvoiceNo    string       `json:"invoice_no"`
	InvoiceDate  string       `json:"invoice_date"`
	DeliveryRef  string       `json:"delivery_ref,omitempty"`
	State        string       `json:"state"`
	StateName    string       `json:"state_name"`
	RedemptionID string       `json:"redemption_id,omitempty"`
	Note         string       `json:"note,omitempty"`
	CreatedAt    time.Time    `json:"created_at"`
	UpdatedAt    time.Time    `json:"updated_at"`
}

const recordColumns = `s.id, s.contract_id, s.import_id, s.line, s.period_start, s.period_end, s.card_milli, s.api_calls, s.amount, s.invoice_no, s.invoice_date,
	s.delivery_ref, s.state, s.redemption_id, s.note, s.created_at, s.updated_at`

func scanRecord(r interface{ Scan(...any) error }) (*Record, error) {
	var x Record
	var card, amount, created, updated int64
	if err := r.Scan(&x.ID, &x.ContractID, &x.ImportID, &x.Line, &x.PeriodStart, &x.PeriodEnd, &card, &x.APICalls, &amount, &x.InvoiceNo, &x.InvoiceDate,
		&x.DeliveryRef, &x.State, &x.RedemptionID, &x.Note, &created, &updated); err != nil {
		return nil, err
	}
	x.CardHours, x.Amount, x.StateName = CardHours(card), money.Amount(amount), recordStateNames[x.State]
	x.CreatedAt, x.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &x, nil
}

// RecordFilter selects settlement records.
type RecordFilter struct {
	Contract string
	State    string
	Import   string
	Limit    int
	Offset   int
}

// Records lists settlement records the actor may see: a provider's on its
// contracts, an enterprise's on its own, all for the zone's staff.
func (s *Service) Records(ctx context.Context, a desk.Actor, f RecordFilter) ([]*Record, error) {
	var where []string
	var args []any
	switch {
	case isStaff(a):
	case isEnterprise(a):
		where, args = append(where, "c.uscc = ?"), append(args, a.Enterprise)
	case isProvider(a):
		where, args = append(where, "p.uscc = ?"), append(args, a.Enterprise)
	default:
		return nil, forbidden()
	}
	for _, w := range []struct{ cond, v string }{{"s.contract_id = ?", f.Contract}, {"s.state = ?", f.State}, {"s.import_id = ?", f.Import}} {
		if w.v != "" {
			where, args = append(where, w.cond), append(args, w.v)
		}
	}
	q := `SELECT ` + recordColumns + ` FROM compute_settlements s JOIN compute_contracts c ON c.id = s.contract_id JOIN compute_providers p ON p.id = c.provider_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY s.id"+limit(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RecordSummary counts a contract's records by state.
type RecordSummary struct {
	State  string       `json:"state"`
	Count  int          `json:"count"`
	Amount money.Amount `json:"amount"`
}

// Summary sums a contract's records by state.
func (s *Service) Summary(ctx context.Context, a desk.Actor, contractID string) ([]RecordSummary, error) {
	if _, err := s.scoped(ctx, s.db, a, contractID); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT state, COUNT(*), SUM(amount) FROM compute_settlements WHERE contract_id = ? GROUP BY state ORDER BY state`, contractID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RecordSummary
	for rows.Next() {
		var r RecordSummary
		var sum int64
		if err := rows.Scan(&r.State, &r.Count, &sum); err != nil {
			return nil, err
		}
		r.Amount = money.Amount(sum)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ConfirmRecords is the enterprise's confirmation of records submitted on
// its contract: ids, or every submitted record when ids is empty. It
// returns how many it confirmed.
func (s *Service) ConfirmRecords(ctx context.Context, a desk.Actor, contractID string, ids []int64) (int, error) {
	return s.answer(ctx, a, contractID, ids, RecordConfirmed, "")
}

// DisputeRecords is the enterprise's objection to records (ids, or every
// submitted record when empty), with its reason; the provider corrects or
// withdraws them.
func (s *Service) DisputeRecords(ctx context.Context, a desk.Actor, contractID string, ids []int64, reason string) (int, error) {
	reason, err := text("reason", reason, 1, 2000)
	if err != nil {
		return 0, err
	}
	return s.answer(ctx, a, contractID, ids, RecordDisputed, reason)
}

func (s *Service) answer(ctx context.Context, a desk.Actor, contractID string, ids []int64, to, note string) (int, error) {
	if !isEnterprise(a) {
		return 0, forbidden()
	}
	if len(ids) > 100_000 {
		return 0, invalid("ids", "一次最多处理100000条", "at most 100,000 records at once")
	}
	now := s.now()
	var n int
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		c, err := s.scoped(ctx, tx, a, contractID)
		if err != nil {
			return err
		}
		if c.USCC != a.Enterprise {
			return notFound("合同", "contract")
		}
		n = 0
		if len(ids) == 0 {
			res, err := tx.Exec(ctx, `UPDATE compute_settlements SET state = ?, note = ?, updated_at = ? WHERE contract_id = ? AND state = 'submitted'`, to, note, nanos(now), contractID)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n = int(k)
		} else {
			for len(ids) > 0 {
				part := ids[:min(len(ids), 500)]
				ids = ids[len(part):]
				args := []any{to, note, nanos(now), contractID}
				for _, id := range part {
					args = append(args, id)
				}
				var bad int
				if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM compute_settlements WHERE (contract_id <> ? OR state <> 'submitted') AND id IN (`+store.Placeholders(len(part))+`)`,
					args[3:]...).Scan(&bad); err != nil {
					return err
				}
				if bad > 0 {
					return conflict(fmt.Sprintf("有 %d 条记录不属于该合同或不在待确认状态", bad), fmt.Sprintf("%d records are not this contract's or not awaiting confirmation", bad))
				}
				res, err := tx.Exec(ctx, `UPDATE compute_settlements SET state = ?, note = ?, updated_at = ? WHERE contract_id = ? AND state = 'submitted' AND id IN (`+store.Placeholders(len(part))+`)`, args...)
				if err != nil {
					return err
				}
				k, _ := res.RowsAffected()
				n += int(k)
			}
		}
		if n == 0 {
			return conflict("没有待确认的结算记录", "no records await confirmation")
		}
		return s.record(ctx, tx, now, a, "settlements."+to, "contract", contractID, c.USCC, nil, map[string]any{"state": to, "count": n, "ids": idsNote(ids), "reason": note})
	})
	return n, err
}

func idsNote(ids []int64) string {
	if len(ids) == 0 {
		return "all submitted"
	}
	parts := make([]string, 0, min(len(ids), 20))
	for _, id := range ids[:min(len(ids), 20)] {
		parts = append(parts, strconv.FormatInt(id, 10))
	}
	if len(ids) > 20 {
		parts = append(parts, fmt.Sprintf("… (%d)", len(ids)))
	}
	return strings.Join(parts, ",")
}

// providerRecord loads a record of the actor's own contract.
func (s *Service) providerRecord(ctx context.Context, tx *store.Tx, a desk.Actor, id int64) (*Record, *Contract, error) {
	r, err := scanRecord(tx.QueryRow(ctx, `SELECT `+recordColumns+` FROM compute_settlements s WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("结算记录", "record")
	}
	if err != nil {
		return nil, nil, err
	}
	c, err := loadContract(ctx, tx, r.ContractID)
	if err != nil {
		return nil, nil, err
	}
	if !isProvider(a) || a.Enterprise != c.ProviderUSCC {
		return nil, nil, notFound("结算记录", "record")
	}
	return r, c, nil
}

// CorrectRecord is the provider's correction of a disputed record: its
// period, quantities, amount and delivery certificate (the invoice stays
// the record's). It awaits the enterprise's confirmation again.
func (s *Service) CorrectRecord(ctx context.Context, a desk.Actor, id int64, in RecordInput) (*Record, error) {
	if _, err := s.ownApproved(ctx, s.db, a); err != nil {
		return nil, err
	}
	start, err := parseDay("period_start", in.PeriodStart)
	if err != nil {
		return nil, err
	}
	end, err := parseDay("period_end", in.PeriodEnd)
	if err != nil {
		return nil, err
	}
	if in.Amount <= 0 {
		return nil, invalid("amount", "结算金额应大于0", "the amount must be positive")
	}
	var card int64
	if in.CardHours != "" {
		var why string
		if card, why = parseFixed([]byte(in.CardHours), 3); why != numOK {
			return nil, invalid("card_hours", "卡时应为非负数,最多三位小数", "card_hours must be a non-negative number with at most 3 decimals")
		}
	}
	if in.APICalls < 0 {
		return nil, invalid("api_calls", "调用次数不能为负数", "api_calls must not be negative")
	}
	dref, err := text("delivery_ref", in.DeliveryRef, 0, 100)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out *Record
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		r, c, err := s.providerRecord(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if r.State != RecordDisputed {
			return conflict("只能更正有异议的结算记录", "only a disputed record can be corrected")
		}
		cs, _ := policy.ParseDate(c.Starts)
		ce, _ := policy.ParseDate(c.Ends)
		switch {
		case end < start:
			return invalid("period_end", "计费结束日期早于开始日期", "the period ends before it starts")
		case start < cs || end > ce:
			return invalid("period_start", "计费期间超出合同服务期", "the period is outside the contract's")
		case c.Kind == KindCompute && card == 0:
			return invalid("card_hours", "算力结算须填写卡时", "a compute record needs card-hours")
		}
		total, err := settled(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		if total-int64(r.Amount)+int64(in.Amount) > int64(c.Amount) {
			return invalid("amount", "更正后合同结算累计将超过合同金额", "the contract's records would exceed its amount")
		}
		if _, err := tx.Exec(ctx, `UPDATE compute_settlements SET period_start = ?, period_end = ?, card_milli = ?, api_calls = ?, amount = ?, delivery_ref = ?, state = 'submitted', note = '', updated_at = ? WHERE id = ?`,
			start.String(), end.String(), card, in.APICalls, int64(in.Amount), dref, nanos(now), id); err != nil {
			return err
		}
		if out, err = scanRecord(tx.QueryRow(ctx, `SELECT `+recordColumns+` FROM compute_settlements s WHERE s.id = ?`, id)); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "settlement.correct", "settlement", strconv.FormatInt(id, 10), c.USCC, r, out)
	})
	return out, err
}

// WithdrawRecord is the provider's withdrawal of a record not yet
// confirmed. Its invoice number stays used: an invoice is never reused.
func (s *Service) WithdrawRecord(ctx context.Context, a desk.Actor, id int64, reason string) error {
	reason, err := text("reason", reason, 1, 2000)
	if err != nil {
		return err
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		r, c, err := s.providerRecord(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if r.State != RecordSubmitted && r.State != RecordDisputed {
			return conflict("只能撤回待确认或有异议的结算记录", "only a record awaiting confirmation or disputed can be withdrawn")
		}
		if _, err := tx.Exec(ctx, `UPDATE compute_settlements SET state = 'withdrawn', note = ?, updated_at = ? WHERE id = ?`, reason, nanos(now), id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "settlement.withdraw", "settlement", strconv.FormatInt(id, 10), c.USCC, map[string]string{"state": r.State}, map[string]string{"state": RecordWithdrawn, "reason": reason})
	})
}
