package desk

import (
	"context"
	"strconv"

	"policydesk/apperr"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// PoolYear is an annual pool's budget and what is left of it.
type PoolYear struct {
	Pool      string       `json:"pool"`
	Name      string       `json:"name"`
	Article   int          `json:"article"`
	Year      int          `json:"year"`
	Budget    money.Amount `json:"budget"`
	Remaining money.Amount `json:"remaining"`
}

// FundPools funds every annual pool of the policy for every year it is in
// force, with the budget the bundle gives for that year (第一条, 第八条:
// 每年1亿元). It is idempotent: a pool-year already funded is left as is.
func (s *Service) FundPools(ctx context.Context, a Actor) ([]PoolYear, error) {
	if a.Role != RoleAdmin && a.Role != RoleSystem {
		return nil, forbidden()
	}
	from, to := s.bundle.Years()
	var out []PoolYear
	for _, p := range s.bundle.Pools {
		for y := from; y <= to; y++ {
			on, _ := policy.ParseDate(strconv.Itoa(y) + "-12-31")
			if until := s.bundle.InForce.Until; on > until {
				on = until
			}
			v, ok := p.Annual.At(on)
			if !ok {
				continue
			}
			budget := v.Rat.Floor()
			if err := s.led.FundPool(ctx, p.ID, y, budget, "fund/"+p.ID+"/"+strconv.Itoa(y)); err != nil {
				return nil, apperr.Wrap(err, apperr.CodeOf(err), "资金池拨入预算失败", "cannot fund the pool")
			}
			left, err := s.led.PoolRemaining(ctx, p.ID, y)
			if err != nil {
				return nil, err
			}
			out = append(out, PoolYear{Pool: p.ID, Name: p.Name, Article: p.Article, Year: y, Budget: money.Amount(budget), Remaining: money.Amount(left)})
		}
	}
	now := s.now()
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		return s.record(ctx, tx, now, a, "pools.fund", "pool", "all", "", nil, out)
	})
	return out, err
}
