package desk

import (
	"context"
	"errors"
	"math/big"
	"strconv"

	"policydesk/apperr"
	"policydesk/ledger"
	"policydesk/money"
	"policydesk/store"
)

// ProRata is the computation of a pro-rata round: every proposed and
// waitlisted amount of a round that draws on one pool-year is scaled by the
// same exact ratio available/demand, and rounded down to the fen.
type ProRata struct {
	RoundID   string        `json:"round_id"`
	Pool      string        `json:"pool"`
	Year      int           `json:"year"`
	Available money.Amount  `json:"available"` // pool remaining + what the round's proposals hold
	Demand    money.Amount  `json:"demand"`    // the amounts before scaling
	Ratio     string        `json:"ratio"`     // available/demand in lowest terms, or 1
	Allocated money.Amount  `json:"allocated"` // the sum after rounding down
	Remainder money.Amount  `json:"remainder"` // available − allocated, left in the pool
	Applied   bool          `json:"applied"`
	Lines     []ProRataLine `json:"lines"`
	Explain   []string      `json:"explain"`
}

// ProRataLine is one application's amount before and after.
type ProRataLine struct {
	ApplicationID string       `json:"application_id"`
	USCC          string       `json:"uscc"`
	State         string       `json:"state"`
	Before        money.Amount `json:"before"`
	After         money.Amount `json:"after"`
}

// ProRata computes (and, with apply, carries out) a pro-rata round for an
// oversubscribed pool: proposals are released and reserved again at the
// scaled amounts, waitlisted applications are proposed at theirs.
func (s *Service) ProRata(ctx context.Context, a Actor, roundID, pool string, year int, apply bool) (*ProRata, error) {
	if a.Role != RoleAdmin {
		return nil, forbidden()
	}
	if s.bundle.Pool(pool) == nil {
		return nil, apperr.Newf(apperr.Invalid, "未知的资金池 %q", "unknown pool %q", pool).WithField("pool")
	}
	pr := &ProRata{RoundID: roundID, Pool: pool, Year: year, Applied: apply}
	var items []string
	for _, it := range s.bundle.Items {
		if it.Pool == pool {
			items = append(items, it.ID)
		}
	}
	args := []any{roundID, year, StateProposed, StateWaitlisted}
	for _, it := range items {
		args = append(args, it)
	}
	rows, err := s.db.Query(ctx, `SELECT `+appColumns+` FROM desk_applications WHERE round_id = ? AND year = ? AND state IN (?, ?) AND item IN (`+store.Placeholders(len(items))+`) ORDER BY submitted_at, id`, args...)
	if err != nil {
		return nil, err
	}
	var apps []*Application
	for rows.Next() {
		app, err := s.scanApp(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		apps = append(apps, app)
	}
	rows.Close()
	if len(apps) == 0 {
		return nil, apperr.New(apperr.Conflict, "该批次没有拟支持或候补的申请", "no proposed or waitlisted applications in the round")
	}
	left, err := s.led.PoolRemaining(ctx, pool, year)
	var le *ledger.Error
	if errors.As(err, &le) && le.Code == ledger.CodeNotFound {
		left, err = 0, nil
	}
	if err != nil {
		return nil, err
	}
	available, demand := left, int64(0)
	for _, app := range apps {
		amt := int64(app.Proposed)
		if app.State == StateProposed {
			available += amt
		} else if amt == 0 {
			amt = int64(app.Allowed)
		}
		demand += amt
		pr.Lines = append(pr.Lines, ProRataLine{ApplicationID: app.ID, USCC: app.USCC, State: app.State, Before: money.Amount(amt)})
	}
	pr.Available, pr.Demand = money.Amount(available), money.Amount(demand)
	ratio := big.NewRat(1, 1)
	if demand > available {
		ratio = big.NewRat(available, demand)
	}
	pr.Ratio = ratio.RatString()
	var allocated int64
	for i := range pr.Lines {
		n := new(big.Int).Mul(big.NewInt(int64(pr.Lines[i].Before)), ratio.Num())
		n.Quo(n, ratio.Denom()) // non-negative: Quo is floor
		pr.Lines[i].After = money.Amount(n.Int64())
		allocated += n.Int64()
	}
	pr.Allocated, pr.Remainder = money.Amount(allocated), money.Amount(available-allocated)
	pr.Explain = []string{
		"可分配 = 资金池余额 " + money.FormatGrouped(left) + " 元 + 本批次拟支持已占用 " + money.FormatGrouped(available-left) + " 元 = " + money.FormatGrouped(available) + " 元",
		"申请合计 = " + money.FormatGrouped(demand) + " 元(" + strconv.Itoa(len(apps)) + " 项)",
		"比例 = 可分配 ÷ 申请合计 = " + pr.Ratio + "(不超过1),每项按比例计算后向下取整到分",
		"已分配 " + money.FormatGrouped(allocated) + " 元,余数 " + money.FormatGrouped(available-allocated) + " 元留在资金池",
	}
	if !apply {
		return pr, nil
	}
	// Shrink the proposals first, so the room they free is there for the
	// waitlisted applications that follow.
	order := make([]int, 0, len(apps))
	for _, want := range []string{StateProposed, StateWaitlisted} {
		for i, app := range apps {
			if app.State == want {
				order = append(order, i)
			}
		}
	}
	for _, i := range order {
		app, line := apps[i], pr.Lines[i]
		if app.State == StateProposed && line.After == line.Before {
			continue
		}
		if app.State == StateProposed {
			if err := s.release(ctx, app.grant()); err != nil {
				return nil, err
			}
		}
		if err := s.reproposeAt(ctx, a, app, int64(line.After), "按比例分配:"+pr.Ratio); err != nil {
			return nil, err
		}
	}
	now := s.now()
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		return s.record(ctx, tx, now, a, "pool.prorata", "round", roundID, "", nil, pr)
	})
	return pr, err
}

// reproposeAt gives an application a fresh grant id (its earlier
// reservation, if any, was released) and proposes it at amount. The ledger
// call happens outside any desk transaction, as in propose.
func (s *Service) reproposeAt(ctx context.Context, a Actor, app *Application, amount int64, message string) error {
	if _, err := s.regrant(ctx, a, app.ID); err != nil {
		return err
	}
	_, err := s.propose(ctx, a, app.ID, amount, message)
	return err
}

// regrant gives an application a fresh grant id, recorded in the audit
// log, and returns it. A released grant is never reserved again under its
// old id: the ledger would answer the reservation as a replay.
func (s *Service) regrant(ctx context.Context, a Actor, appID string) (string, error) {
	now := s.now()
	var grantID string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		cur, err := s.loadApp(ctx, tx, appID)
		if err != nil {
			return err
		}
		grantID = cur.ID + "/pr" + strconv.Itoa(cur.Version)
		res, err := tx.Exec(ctx, `UPDATE desk_applications SET grant_id = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`, grantID, nanos(now), cur.ID, cur.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, apperr.New(apperr.Conflict, "申请刚被他人修改,请刷新后重试", "the application changed meanwhile: reload and retry"))
		}
		return s.record(ctx, tx, now, a, "application.regrant", "application", cur.ID, cur.USCC, map[string]string{"grant_id": cur.GrantID}, map[string]string{"grant_id": grantID})
	})
	return grantID, err
}
