package compute

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math/bits"
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

// Claim states: the claim is under review in the workflow (applied); its
// reservation is approved and may be redeemed (active); it expired, was
// used up or its contract ended (closed); the workflow refused it.
const (
	ClaimApplied = "applied"
	ClaimActive  = "active"
	ClaimClosed  = "closed"
	ClaimRefused = "refused"
)

var claimStateNames = map[string]string{ClaimApplied: "申领审核中", ClaimActive: "可兑付", ClaimClosed: "已结束", ClaimRefused: "未获批"}

// Items of the vouchers.
const (
	ItemComputeVoucher = "compute_voucher" // 算力券, 第一条
	ItemModelVoucher   = "model_voucher"   // 模型券, 第八条
	ItemDomestic       = "domestic_compute_servers"
)

func voucherItem(kind string) string {
	if kind == KindModel {
		return ItemModelVoucher
	}
	return ItemComputeVoucher
}

// Claim is a voucher claim (申领): an application in the workflow for a
// share of a contract and, once approved, a reserved quota redeemed
// against confirmed settlement records. Quota − Used − Released is what
// is left.
type Claim struct {
	ID               string       `json:"id"`
	ContractID       string       `json:"contract_id"`
	ApplicationID    string       `json:"application_id"`
	ApplicationState string       `json:"application_state,omitempty"`
	USCC             string       `json:"uscc"`
	Item             string       `json:"item"`
	Year             int          `json:"year"`
	Base             money.Amount `json:"base"`
	State            string       `json:"state"`
	StateName        string       `json:"state_name"`
	Quota            money.Amount `json:"quota"`
	Used             money.Amount `json:"used"`
	Released         money.Amount `json:"released"`
	Remaining        money.Amount `json:"remaining"`
	ExpiresOn        string       `json:"expires_on"`
	Grant            string       `json:"grant,omitempty"` // the ledger grant holding the remaining quota
	CreatedAt        time.Time    `json:"created_at"`
	ActivatedAt      *time.Time   `json:"activated_at,omitempty"`
	ClosedAt         *time.Time   `json:"closed_at,omitempty"`

	rateOn  string
	first   string
	seq     int
	version int
}

const claimColumns = `id, contract_id, application_id, uscc, item, year, base, rate_on, state, quota, used, released, grant_first, grant_current, seq, expires_on, version, created_at, activated_at, closed_at`

func scanClaim(r interface{ Scan(...any) error }) (*Claim, error) {
	var c Claim
	var base, quota, used, released, created int64
	var activated, closed *int64
	if err := r.Scan(&c.ID, &c.ContractID, &c.ApplicationID, &c.USCC, &c.Item, &c.Year, &base, &c.rateOn, &c.State, &quota, &used, &released,
		&c.first, &c.Grant, &c.seq, &c.ExpiresOn, &c.version, &created, &activated, &closed); err != nil {
		return nil, err
	}
	c.Base, c.Quota, c.Used, c.Released = money.Amount(base), money.Amount(quota), money.Amount(used), money.Amount(released)
	c.Remaining = c.Quota - c.Used - c.Released
	c.StateName = claimStateNames[c.State]
	c.CreatedAt, c.ActivatedAt, c.ClosedAt = fromNanos(created), timePtr(activated), timePtr(closed)
	return &c, nil
}

func claimsWhere(ctx context.Context, q querier, where string, args ...any) ([]*Claim, error) {
	rows, err := q.Query(ctx, `SELECT `+claimColumns+` FROM compute_claims WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// mulDiv is ⌊a × num / den⌋ for non-negative operands, exact in 128 bits.
func mulDiv(a, num, den int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(num))
	if hi >= uint64(den) {
		return -1 // does not fit: callers treat as an error
	}
	q, _ := bits.Div64(hi, lo, uint64(den))
	if q > 1<<63-1 {
		return -1
	}
	return int64(q)
}

// ClaimVoucher claims a voucher (申领) on a contract of the enterprise: an
// application for compute_voucher (facts year and compute_fees) or
// model_voucher (year, contract_amount, deployment, scenario) whose base
// is the share of the contract claimed — at most ClaimShare of the
// contract, and with the earlier claims at most the contract. base 0
// claims as much as allowed. The application then goes through the
// workflow: documents, 信用承诺, submission (the engine's 30% or 50%
// under the caps and the pool), review, the ledger's reservation, 公示.
func (s *Service) ClaimVoucher(ctx context.Context, a desk.Actor, contractID string, base money.Amount) (*Claim, error) {
	if !isEnterprise(a) {
		return nil, forbidden()
	}
	if base < 0 {
		return nil, invalid("base", "申领金额不能为负", "the base must not be negative")
	}
	now := s.now()
	t := today(now)
	year := t.Year()
	var c *Contract
	var facts map[string]any
	err := s.db.ReadTx(ctx, func(tx *store.Tx) error {
		var err error
		if c, err = s.scoped(ctx, tx, a, contractID); err != nil {
			return err
		}
		if c.USCC != a.Enterprise {
			return notFound("合同", "contract")
		}
		if c.State != ContractActive {
			return conflict("合同已终止,不能申领", "the contract has ended")
		}
		if expiry(c, year) < t {
			return conflict("合同服务期已结束,不能申领", "the contract period is over")
		}
		p, err := loadProvider(ctx, tx, c.ProviderID)
		if err != nil {
			return err
		}
		if p.State != ProviderApproved {
			return conflict("服务商「"+p.Name+"」不在白名单内,不能申领", "the provider is not on the whitelist")
		}
		why, err := s.relatedDeal(ctx, tx, p, c.USCC)
		if err != nil {
			return err
		}
		if why != "" {
			return relatedRefusal(why)
		}
		claimed, err := s.claimed(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		share := money.Amount(mulDiv(int64(c.Amount), s.opt.ClaimShare.Num, s.opt.ClaimShare.Den))
		left := min(share, c.Amount-claimed)
		if left <= 0 {
			return conflict("该合同已全部申领", "the whole contract has been claimed")
		}
		if base == 0 {
			base = left
		}
		if base > left {
			return apperr.New(apperr.Invalid, "本次申领不得超过 "+money.FormatGrouped(int64(left))+" 元(单次不超过合同金额的 "+ratioText(s.opt.ClaimShare)+",累计不超过合同金额)",
				"the claim may not exceed "+money.Format(int64(left))+" yuan").WithField("base")
		}
		switch c.Kind {
		case KindCompute:
			facts = map[string]any{"year": year, "compute_fees": money.Format(int64(base))}
		case KindModel:
			var kind string
			if err := tx.QueryRow(ctx, `SELECT kind FROM compute_scenarios WHERE code = ?`, c.Scenario).Scan(&kind); err != nil {
				return err
			}
			facts = map[string]any{"year": year, "contract_amount": money.Format(int64(base)), "deployment": c.Deployment, "scenario": kind}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	raw := map[string]json.RawMessage{}
	for k, v := range facts {
		raw[k], _ = json.Marshal(v)
	}
	app, err := s.desk.CreateApplication(ctx, a, voucherItem(c.Kind), raw)
	if err != nil {
		return nil, err
	}
	cl := &Claim{ID: newID("clm"), ContractID: c.ID, ApplicationID: app.ID, ApplicationState: app.State, USCC: c.USCC, Item: app.Item, Year: year, Base: base,
		State: ClaimApplied, StateName: claimStateNames[ClaimApplied], ExpiresOn: expiry(c, year).String(), CreatedAt: now, rateOn: t.String()}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		// Two claims racing on one contract: the second sees the first.
		claimed, err := s.claimed(ctx, tx, c.ID)
		if err != nil {
			return err
		}
		if claimed+base > c.Amount {
			return conflict("该合同已全部申领", "the whole contract has been claimed")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compute_claims (id, contract_id, application_id, uscc, item, year, base, rate_on, state, expires_on, version, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'applied', ?, 1, ?, ?, ?)`,
			cl.ID, cl.ContractID, cl.ApplicationID, cl.USCC, cl.Item, cl.Year, int64(base), cl.rateOn, cl.ExpiresOn, a.ID, nanos(now), nanos(now)); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "claim.create", "claim", cl.ID, cl.USCC, nil, map[string]any{"contract": c.ID, "application": app.ID, "item": app.Item, "facts": facts})
	})
	if err != nil {
		// Leave no orphan draft behind.
		if _, werr := s.desk.Withdraw(ctx, a, app.ID, "申领未完成,自动撤回"); werr != nil {
			s.opt.Logger.Warn("compute: cannot withdraw the draft of a failed claim", "application", app.ID, "err", werr)
		}
		return nil, err
	}
	return cl, nil
}

func ratioText(r Ratio) string {
	if r.Den == 100 {
		return strconv.FormatInt(r.Num, 10) + "%"
	}
	return strconv.FormatInt(r.Num, 10) + "/" + strconv.FormatInt(r.Den, 10)
}

// claimed is the base of a contract's claims not refused.
func (s *Service) claimed(ctx context.Context, q querier, contractID string) (money.Amount, error) {
	var sum sql.NullInt64
	err := q.QueryRow(ctx, `SELECT SUM(base) FROM compute_claims WHERE contract_id = ? AND state <> 'refused'`, contractID).Scan(&sum)
	return money.Amount(sum.Int64), err
}

// sync follows the workflow: a claim whose application was approved
// becomes active with the reservation the workflow made; one refused,
// withdrawn or whose objection was upheld is refused; an active claim
// whose award was revoked afterwards is closed and what it still holds
// released.
func (s *Service) sync(ctx context.Context, claims []*Claim) error {
	for _, cl := range claims {
		if cl.State != ClaimApplied && cl.State != ClaimActive {
			continue
		}
		app, err := s.desk.Get(ctx, reader, cl.ApplicationID)
		if err != nil {
			return err
		}
		cl.ApplicationState = app.State
		switch {
		case cl.State == ClaimApplied && app.State == desk.StateApproved:
			if err := s.activate(ctx, cl, app); err != nil {
				return err
			}
		case app.State == desk.StateRejected || app.State == desk.StateWithdrawn || app.State == desk.StateObjectionUpheld:
			if err := s.revoke(ctx, cl); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) activate(ctx context.Context, cl *Claim, app *desk.Application) error {
	grant := app.GrantID
	if grant == "" {
		grant = app.ID
	}
	quota := int64(app.Approved)
	ts, err := s.led.LookupTransfers(ctx, ledger.GrantTransferID(grant))
	if err != nil {
		return err
	}
	if len(ts) != 1 || ts[0].Amount != quota || quota <= 0 {
		s.opt.Logger.Warn("compute: an approved claim has no matching reservation", "claim", cl.ID, "application", app.ID, "grant", grant)
		return nil
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE compute_claims SET state = 'active', quota = ?, grant_first = ?, grant_current = ?, activated_at = ?, version = version + 1, updated_at = ?
			WHERE id = ? AND state = 'applied'`, quota, grant, grant, nanos(now), nanos(now), cl.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // activated meanwhile
		}
		cl.State, cl.StateName, cl.Quota, cl.Remaining, cl.Grant, cl.first = ClaimActive, claimStateNames[ClaimActive], money.Amount(quota), money.Amount(quota), grant, grant
		cl.ActivatedAt = &now
		cl.version++
		return s.record(ctx, tx, now, desk.System, "claim.activate", "claim", cl.ID, cl.USCC, map[string]string{"state": ClaimApplied},
			map[string]any{"state": ClaimActive, "quota": money.Format(quota), "grant": grant})
	})
}

// revoke refuses a claim whose application was refused, or closes an
// active one whose award was revoked afterwards, releasing its current
// grant (the workflow released the first one, which a redemption may
// have posted already).
func (s *Service) revoke(ctx context.Context, cl *Claim) error {
	if cl.State == ClaimActive {
		_, err := s.closeClaim(ctx, cl, "申请状态变为「"+desk.StateName(cl.ApplicationState)+"」,券作废并释放未使用额度")
		return err
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE compute_claims SET state = 'refused', closed_at = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`,
			nanos(now), nanos(now), cl.ID, cl.version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		cl.State, cl.StateName = ClaimRefused, claimStateNames[ClaimRefused]
		return s.record(ctx, tx, now, desk.System, "claim.refused", "claim", cl.ID, cl.USCC, map[string]string{"state": ClaimApplied},
			map[string]any{"state": ClaimRefused, "application_state": cl.ApplicationState})
	})
}

// release voids a grant's reservation; one already resolved is fine.
func (s *Service) release(ctx context.Context, grant string) error {
	err := s.led.Release(ctx, grant)
	var le *ledger.Error
	if err == nil || errors.As(err, &le) && (le.Code == ledger.CodeAlreadyResolved || le.Code == ledger.CodeNotFound || le.Code == ledger.CodeExpired) {
		return nil
	}
	return ledgerErr(err)
}

// Voucher is a claim as its holder sees it: the balance of one voucher.
type Voucher struct {
	Claim
	ProviderName   string `json:"provider_name"`
	ContractNumber string `json:"contract_number"`
	Kind           string `json:"kind"`
}

// VoucherFilter selects vouchers.
type VoucherFilter struct {
	Contract string
	State    string
	USCC     string
}

// Vouchers returns the vouchers (claims) the actor may see with their
// balances — quota, used, remaining, expiry — after following the
// workflow for those still under review: an enterprise its own, a
// provider those on its contracts, the zone's staff all.
func (s *Service) Vouchers(ctx context.Context, a desk.Actor, f VoucherFilter) ([]*Voucher, error) {
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
	if f.Contract != "" {
		where, args = append(where, "c.id = ?"), append(args, f.Contract)
	}
	if f.USCC != "" {
		where, args = append(where, "c.uscc = ?"), append(args, f.USCC)
	}
	q := `SELECT c.id FROM compute_contracts c JOIN compute_providers p ON p.id = c.provider_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) == 0 {
		return []*Voucher{}, nil
	}
	var out []*Voucher
	for len(ids) > 0 {
		part := ids[:min(len(ids), 500)]
		ids = ids[len(part):]
		claims, err := claimsWhere(ctx, s.db, `contract_id IN (`+store.Placeholders(len(part))+`)`, part...)
		if err != nil {
			return nil, err
		}
		if err := s.sync(ctx, claims); err != nil {
			return nil, err
		}
		contracts := map[string]*Contract{}
		for _, cl := range claims {
			if f.State != "" && cl.State != f.State {
				continue
			}
			c := contracts[cl.ContractID]
			if c == nil {
				if c, err = loadContract(ctx, s.db, cl.ContractID); err != nil {
					return nil, err
				}
				contracts[c.ID] = c
			}
			out = append(out, &Voucher{Claim: *cl, ProviderName: c.ProviderName, ContractNumber: c.Number, Kind: c.Kind})
		}
	}
	return out, nil
}

// rate is the item's rate (30% or 50%) in force on a date, from the
// policy bundle's dated parameter.
func (s *Service) rate(item string, on string) (policy.Rat, string, error) {
	it := s.bundle.Item(item)
	if it == nil || it.Param("rate") == nil {
		return policy.Rat{}, "", errors.New("compute: item " + item + " has no rate")
	}
	d, err := policy.ParseDate(on)
	if err != nil {
		return policy.Rat{}, "", err
	}
	v, ok := it.Param("rate").At(d)
	if !ok {
		return policy.Rat{}, "", apperr.New(apperr.Conflict, "该日期没有适用的支持比例", "no rate in force on "+on)
	}
	return v.Rat, v.Raw, nil
}
