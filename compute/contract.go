package compute

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// Contract states.
const (
	ContractActive = "active"
	ContractEnded  = "ended"
)

// Deployments of a model contract (第八条), as the engine names them.
var Deployments = []string{"private", "cloud", "api", "appliance_software"}

// Contract is a compute or model service contract between an enterprise
// and a provider on the whitelist: what vouchers are claimed against and
// settlement records are submitted for.
type Contract struct {
	ID           string       `json:"id"`
	ProviderID   string       `json:"provider_id"`
	ProviderName string       `json:"provider_name"`
	ProviderUSCC string       `json:"provider_uscc"`
	USCC         string       `json:"uscc"`
	Kind         string       `json:"kind"`
	Number       string       `json:"number"`
	Title        string       `json:"title,omitempty"`
	Amount       money.Amount `json:"amount"`
	Starts       string       `json:"starts"`
	Ends         string       `json:"ends"`
	SignedOn     string       `json:"signed_on"`
	Deployment   string       `json:"deployment,omitempty"`
	Scenario     string       `json:"scenario,omitempty"`
	ListingID    string       `json:"listing_id,omitempty"`
	State        string       `json:"state"`
	EndedOn      string       `json:"ended_on,omitempty"`
	Version      int          `json:"version"`
	CreatedAt    time.Time    `json:"created_at"`
	UpdatedAt    time.Time    `json:"updated_at"`
}

// ContractInput registers a contract. Provider is the provider's id or
// 统一社会信用代码.
type ContractInput struct {
	Provider   string       `json:"provider"`
	Kind       string       `json:"kind"`
	Number     string       `json:"number"`
	Title      string       `json:"title"`
	Amount     money.Amount `json:"amount"`
	Starts     string       `json:"starts"`
	Ends       string       `json:"ends"`
	SignedOn   string       `json:"signed_on"`
	Deployment string       `json:"deployment,omitempty"` // model contracts
	Scenario   string       `json:"scenario,omitempty"`   // model contracts: a scenario code
	ListingID  string       `json:"listing_id,omitempty"` // the listed pool the compute is drawn from
}

const contractColumns = `c.id, c.provider_id, p.name, p.uscc, c.uscc, c.kind, c.number, c.title, c.amount, c.starts, c.ends, c.signed_on,
	c.deployment, c.scenario, c.listing_id, c.state, c.ended_on, c.version, c.created_at, c.updated_at`

const contractFrom = ` FROM compute_contracts c JOIN compute_providers p ON p.id = c.provider_id`

func scanContract(r interface{ Scan(...any) error }) (*Contract, error) {
	var c Contract
	var amount, created, updated int64
	var listing, ended sql.NullString
	if err := r.Scan(&c.ID, &c.ProviderID, &c.ProviderName, &c.ProviderUSCC, &c.USCC, &c.Kind, &c.Number, &c.Title, &amount, &c.Starts, &c.Ends, &c.SignedOn,
		&c.Deployment, &c.Scenario, &listing, &c.State, &ended, &c.Version, &created, &updated); err != nil {
		return nil, err
	}
	c.Amount, c.ListingID, c.EndedOn = money.Amount(amount), listing.String, ended.String
	c.CreatedAt, c.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &c, nil
}

func loadContract(ctx context.Context, q querier, id string) (*Contract, error) {
	c, err := scanContract(q.QueryRow(ctx, `SELECT `+contractColumns+contractFrom+` WHERE c.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("合同", "contract")
	}
	return c, err
}

// canSeeContract is the row scope of contracts: the enterprise, the
// provider and the zone's staff.
func canSeeContract(a desk.Actor, c *Contract) bool {
	switch {
	case isStaff(a):
		return true
	case isEnterprise(a):
		return a.Enterprise == c.USCC
	case isProvider(a):
		return a.Enterprise == c.ProviderUSCC
	}
	return false
}

// scoped loads a contract the actor may see; others are not found.
func (s *Service) scoped(ctx context.Context, q querier, a desk.Actor, id string) (*Contract, error) {
	c, err := loadContract(ctx, q, id)
	if err != nil {
		return nil, err
	}
	if !canSeeContract(a, c) {
		return nil, notFound("合同", "contract")
	}
	return c, nil
}

// CreateContract registers an enterprise's contract with a provider on
// the whitelist: compute or model, a period of at most one year. A
// contract between related parties is refused.
func (s *Service) CreateContract(ctx context.Context, a desk.Actor, in ContractInput) (*Contract, error) {
	if !isEnterprise(a) {
		return nil, forbidden()
	}
	var err error
	if in.Kind != KindCompute && in.Kind != KindModel {
		return nil, invalid("kind", "合同类型应为 compute(算力)或 model(模型)", "kind must be compute or model")
	}
	if in.Number, err = text("number", in.Number, 1, 64); err != nil {
		return nil, err
	}
	if in.Title, err = text("title", in.Title, 0, 200); err != nil {
		return nil, err
	}
	if in.Amount <= 0 {
		return nil, invalid("amount", "合同金额应大于0", "the amount must be positive")
	}
	starts, err := parseDay("starts", in.Starts)
	if err != nil {
		return nil, err
	}
	ends, err := parseDay("ends", in.Ends)
	if err != nil {
		return nil, err
	}
	signed, err := parseDay("signed_on", in.SignedOn)
	if err != nil {
		return nil, err
	}
	switch {
	case ends < starts:
		return nil, invalid("ends", "服务期结束日期早于开始日期", "the period ends before it starts")
	case ends >= starts.AddYears(1):
		return nil, invalid("ends", "合同服务期不得超过1年", "the contract period may not exceed one year")
	case signed > ends:
		return nil, invalid("signed_on", "签订日期晚于服务期结束", "signed after the period ends")
	}
	if in.Kind == KindModel {
		if !slices.Contains(Deployments, in.Deployment) {
			return nil, invalid("deployment", "部署方式应为 private、cloud、api 或 appliance_software", "deployment must be private, cloud, api or appliance_software")
		}
		if in.Scenario == "" {
			return nil, invalid("scenario", "模型券须选择应用场景(揭榜挂帅或标杆型示范应用场景)", "a model contract needs a scenario")
		}
	} else if in.Deployment != "" || in.Scenario != "" {
		return nil, invalid("scenario", "算力合同不填写部署方式和应用场景", "a compute contract has no deployment or scenario")
	}
	now := s.now()
	var c *Contract
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		p, err := findProvider(ctx, tx, strings.TrimSpace(in.Provider))
		if err != nil {
			return apperr.New(apperr.Invalid, "服务商不存在", "unknown provider").WithField("provider")
		}
		if p.State != ProviderApproved {
			return apperr.New(apperr.Conflict, "服务商「"+p.Name+"」不在白名单内", "the provider is not on the whitelist").WithField("provider")
		}
		if !p.Has(in.Kind) {
			return apperr.New(apperr.Invalid, "服务商「"+p.Name+"」未登记提供该类服务", "the provider does not offer this kind of service").WithField("kind")
		}
		why, err := s.relatedDeal(ctx, tx, p, a.Enterprise)
		if err != nil {
			return err
		}
		if why != "" {
			return relatedRefusal(why)
		}
		if in.Kind == KindModel {
			var kind string
			var active int
			err := tx.QueryRow(ctx, `SELECT kind, active FROM compute_scenarios WHERE code = ?`, in.Scenario).Scan(&kind, &active)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && active == 0) {
				return apperr.New(apperr.Invalid, "应用场景「"+in.Scenario+"」不在场景清单内", "scenario "+in.Scenario+" is not on the list").WithField("scenario")
			}
			if err != nil {
				return err
			}
		}
		var listing any
		if in.ListingID != "" {
			l, err := s.loadListing(ctx, tx, in.ListingID)
			if err != nil || l.ProviderID != p.ID {
				return apperr.New(apperr.Invalid, "挂牌资源不属于该服务商", "the listing is not the provider's").WithField("listing_id")
			}
			listing = l.ID
		}
		id := newID("ctr")
		if _, err := tx.Exec(ctx, `INSERT INTO compute_contracts (id, provider_id, uscc, kind, number, title, amount, starts, ends, signed_on, deployment, scenario, listing_id, state, version, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 1, ?, ?, ?)`,
			id, p.ID, a.Enterprise, in.Kind, in.Number, in.Title, int64(in.Amount), starts.String(), ends.String(), signed.String(), in.Deployment, in.Scenario, listing, a.ID, nanos(now), nanos(now)); err != nil {
			if store.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "该服务商的合同编号「"+in.Number+"」已登记", "this contract number is registered with the provider").WithField("number")
			}
			return err
		}
		if c, err = loadContract(ctx, tx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "contract.create", "contract", id, a.Enterprise, nil, c)
	})
	return c, err
}

// GetContract returns a contract the actor may see.
func (s *Service) GetContract(ctx context.Context, a desk.Actor, id string) (*Contract, error) {
	return s.scoped(ctx, s.db, a, id)
}

// ContractFilter selects contracts.
type ContractFilter struct {
	Kind     string
	State    string
	USCC     string
	Provider string
	Limit    int
	Offset   int
}

// Contracts lists the contracts the actor may see, newest first.
func (s *Service) Contracts(ctx context.Context, a desk.Actor, f ContractFilter) ([]*Contract, error) {
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
	for _, w := range []struct{ cond, v string }{{"c.kind = ?", f.Kind}, {"c.state = ?", f.State}, {"c.uscc = ?", f.USCC}, {"(p.id = ? OR p.uscc = ?)", f.Provider}} {
		if w.v != "" {
			where, args = append(where, w.cond), append(args, w.v)
			if strings.Count(w.cond, "?") == 2 {
				args = append(args, w.v)
			}
		}
	}
	q := `SELECT ` + contractColumns + contractFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY c.created_at DESC, c.id"+limit(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Contract
	for rows.Next() {
		c, err := scanContract(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func limit(n, offset int) string {
	if n <= 0 || n > 1000 {
		n = 100
	}
	return " LIMIT " + strconv.Itoa(n) + " OFFSET " + strconv.Itoa(max(offset, 0))
}

// EndContract ends a contract early (the enterprise or the admin), e.g.
// on termination: its vouchers expire today, and CloseVouchers releases
// what they still hold.
func (s *Service) EndContract(ctx context.Context, a desk.Actor, id, reason string) (*Contract, error) {
	if !isAdmin(a) && !isEnterprise(a) {
		return nil, forbidden()
	}
	reason, err := text("reason", reason, 1, 2000)
	if err != nil {
		return nil, err
	}
	now := s.now()
	t := today(now)
	var c *Contract
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		before, err := s.scoped(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if before.State != ContractActive {
			return conflict("合同已终止", "the contract has ended")
		}
		if _, err := tx.Exec(ctx, `UPDATE compute_contracts SET state = 'ended', ended_on = ?, version = version + 1, updated_at = ? WHERE id = ?`, t.String(), nanos(now), id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE compute_claims SET expires_on = ?, version = version + 1, updated_at = ? WHERE contract_id = ? AND state IN ('applied', 'active') AND expires_on > ?`,
			t.String(), nanos(now), id, t.String()); err != nil {
			return err
		}
		if c, err = loadContract(ctx, tx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "contract.end", "contract", id, c.USCC, map[string]string{"state": before.State}, map[string]string{"state": c.State, "ended_on": c.EndedOn, "reason": reason})
	})
	return c, err
}

// expiry is when a voucher claimed in year on contract c expires: the end
// of the contract or of the year, whichever comes first.
func expiry(c *Contract, year int) policy.Date {
	end, _ := policy.ParseDate(c.Ends)
	yearEnd, _ := policy.ParseDate(strconv.Itoa(year) + "-12-31")
	return min(end, yearEnd)
}
