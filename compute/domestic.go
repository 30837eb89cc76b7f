package compute

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// 第二条: a cloud company gets 10% of what it paid for domestic AI-chip
// servers, if the servers are listed on the zone's compute scheduling
// platform and serve others. Both facts come from the platform here — the
// vendor list says which chips are domestic, the listings say what is
// listed and since when, and settlement records of other enterprises on
// those listings say that they serve others — not from the applicant.

// PurchaseLine is one line of a server purchase contract's breakdown.
type PurchaseLine struct {
	Vendor    string       `json:"vendor"`
	ChipModel string       `json:"chip_model"`
	Servers   int          `json:"servers"`
	Cards     int          `json:"cards,omitempty"`
	Amount    money.Amount `json:"amount"`
}

// PurchaseInput is a purchase contract with its breakdown by server.
type PurchaseInput struct {
	Project    string         `json:"project"`
	ContractNo string         `json:"contract_no"`
	Seller     string         `json:"seller"`
	SignedOn   string         `json:"signed_on"`
	Total      money.Amount   `json:"total"`
	Lines      []PurchaseLine `json:"lines"`
}

// Reasons a purchase line is not (fully) counted.
const (
	ReasonNonDomestic   = "non_domestic"        // the chip's vendor is not domestic
	ReasonNotListed     = "not_listed"          // no listing of this chip
	ReasonWithdrawn     = "withdrawn"           // the listing is withdrawn
	ReasonNotInZone     = "not_in_zone"         // listed outside the zone
	ReasonTooRecent     = "listed_too_recently" // listed for less than the minimum period
	ReasonNotServing    = "not_serving_others"  // no confirmed records of other enterprises
	ReasonPartlyListed  = "partly_listed"       // fewer servers listed (and not counted for another purchase) than bought
	ReasonUnknownVendor = "unknown_vendor"      // not on the vendor list
)

// LineCheck is the verification of one purchase line.
type LineCheck struct {
	Line      int          `json:"line"`
	Vendor    string       `json:"vendor"`
	ChipModel string       `json:"chip_model"`
	Domestic  bool         `json:"domestic"`
	Servers   int          `json:"servers"`
	Listed    int          `json:"listed_servers"` // servers counted: listed long enough and serving others
	Amount    money.Amount `json:"amount"`
	Verified  money.Amount `json:"verified"` // Amount × Listed / Servers, rounded down
	Uses      []ListingUse `json:"uses,omitempty"`
	Reasons   []string     `json:"reasons,omitempty"`
	Notes     []string     `json:"notes,omitempty"`
}

// ListingUse is how many servers of a listing a purchase line counts. A
// listed server counts for one purchase only.
type ListingUse struct {
	Listing string `json:"listing"`
	Servers int    `json:"servers"`
}

// Purchase is a verified purchase of 第二条, and its application.
type Purchase struct {
	ID               string         `json:"id,omitempty"`
	ProviderID       string         `json:"provider_id"`
	USCC             string         `json:"uscc"`
	Project          string         `json:"project"`
	ContractNo       string         `json:"contract_no"`
	Seller           string         `json:"seller"`
	SignedOn         string         `json:"signed_on"`
	Total            money.Amount   `json:"total"`
	Domestic         money.Amount   `json:"domestic"` // the domestic-server part of the contract
	Verified         money.Amount   `json:"verified"` // of which listed and serving others: domestic_server_amount
	ListedOnPlatform bool           `json:"listed_on_platform"`
	Lines            []PurchaseLine `json:"lines"`
	Checks           []LineCheck    `json:"checks"`
	AsOf             string         `json:"as_of"`
	MinListedDays    int            `json:"min_listed_days"`
	ApplicationID    string         `json:"application_id,omitempty"`
	CreatedAt        time.Time      `json:"created_at"`
}

func (in *PurchaseInput) check() error {
	var err error
	if in.Project, err = text("project", in.Project, 1, 128); err != nil {
		return err
	}
	if in.ContractNo, err = text("contract_no", in.ContractNo, 1, 64); err != nil {
		return err
	}
	if in.Seller, err = text("seller", in.Seller, 1, 200); err != nil {
		return err
	}
	if _, err := parseDay("signed_on", in.SignedOn); err != nil {
		return err
	}
	if in.Total <= 0 {
		return invalid("total", "合同金额应大于0", "the total must be positive")
	}
	if len(in.Lines) == 0 || len(in.Lines) > 1000 {
		return invalid("lines", "请按服务器分项填写采购明细(1–1000项)", "give the breakdown by server (1–1000 lines)")
	}
	var sum money.Amount
	for i, l := range in.Lines {
		if l.Servers <= 0 || l.Amount <= 0 || l.Cards < 0 {
			return apperr.New(apperr.Invalid, fmt.Sprintf("第 %d 项:服务器台数和金额应大于0", i+1), fmt.Sprintf("line %d: servers and amount must be positive", i+1)).WithField("lines")
		}
		sum += l.Amount
	}
	if sum > in.Total {
		return invalid("lines", "分项金额合计超过合同金额", "the lines add up to more than the total")
	}
	return nil
}

// candidate is a listing as 第二条 looks at it.
type candidate struct {
	l       *Listing
	free    int // servers not yet counted for another line
	reasons []string
}

// VerifyPurchase checks a purchase of the actor's company against the
// platform, without recording anything: which lines are domestic, and
// how many of their servers are listed — in the zone, for MinListedDays
// without interruption, serving other enterprises. The enterprise user of
// a registered provider may verify its own purchases; the zone's staff
// any provider's (providerRef: id or 统一社会信用代码).
func (s *Service) VerifyPurchase(ctx context.Context, a desk.Actor, providerRef string, in PurchaseInput) (*Purchase, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	var out *Purchase
	err := s.db.ReadTx(ctx, func(tx *store.Tx) error {
		p, err := s.purchaser(ctx, tx, a, providerRef)
		if err != nil {
			return err
		}
		out, err = s.verify(ctx, tx, p, in, today(s.now()))
		return err
	})
	return out, err
}

func (s *Service) purchaser(ctx context.Context, q querier, a desk.Actor, ref string) (*Provider, error) {
	switch {
	case isStaff(a):
		return findProvider(ctx, q, ref)
	case isEnterprise(a) || isProvider(a):
		p, err := providerByUSCC(ctx, q, a.Enterprise)
		if apperr.Is(err, apperr.NotFound) {
			return nil, conflict("第二条面向在算力调度平台登记的云服务企业:请先登记为算力服务商", "article 2 is for cloud companies registered as compute providers")
		}
		return p, err
	}
	return nil, forbidden()
}

func (s *Service) verify(ctx context.Context, q querier, p *Provider, in PurchaseInput, t policy.Date) (*Purchase, error) {
	idx, err := vendorIndex(ctx, q)
	if err != nil {
		return nil, err
	}
	related, err := s.related(ctx, q, p.ID)
	if err != nil {
		return nil, err
	}
	self := map[string]bool{p.USCC: true}
	for _, r := range related {
		self[r.USCC] = true
	}
	listings, err := s.Listings(ctx, desk.System, ListingFilter{Provider: p.ID})
	if err != nil {
		return nil, err
	}
	counted, err := s.counted(ctx, q, p.ID)
	if err != nil {
		return nil, err
	}
	minDays := s.opt.MinListedDays
	var cands []*candidate
	for _, l := range listings {
		c := &candidate{l: l, free: max(l.Servers-counted[l.ID], 0)}
		var since policy.Date
		if n := len(l.Periods); n > 0 && l.Periods[n-1].Withdrawn == "" {
			since, _ = policy.ParseDate(l.Periods[n-1].Listed)
		}
		switch {
		case l.State != Listed || since == 0:
			c.reasons = append(c.reasons, ReasonWithdrawn)
		case int(t-since) < minDays:
			c.reasons = append(c.reasons, ReasonTooRecent)
		}
		if !l.InZone {
			c.reasons = append(c.reasons, ReasonNotInZone)
		}
		if len(c.reasons) == 0 {
			serving, err := servingOthers(ctx, q, l.ID, since, self)
			if err != nil {
				return nil, err
			}
			if !serving {
				c.reasons = append(c.reasons, ReasonNotServing)
			}
		}
		cands = append(cands, c)
	}
	out := &Purchase{ProviderID: p.ID, USCC: p.USCC, Project: in.Project, ContractNo: in.ContractNo, Seller: in.Seller, SignedOn: in.SignedOn,
		Total: in.Total, Lines: in.Lines, AsOf: t.String(), MinListedDays: minDays}
	for i, line := range in.Lines {
		ch := LineCheck{Line: i + 1, Vendor: line.Vendor, ChipModel: strings.TrimSpace(line.ChipModel), Servers: line.Servers, Amount: line.Amount}
		v, ok := idx[vendorKey(line.Vendor)]
		switch {
		case !ok:
			ch.Reasons = append(ch.Reasons, ReasonUnknownVendor)
			ch.Notes = append(ch.Notes, "芯片厂商「"+line.Vendor+"」不在厂商名录中")
		case !v.Domestic:
			ch.Vendor = v.Name
			ch.Reasons = append(ch.Reasons, ReasonNonDomestic)
			ch.Notes = append(ch.Notes, "「"+v.Name+"」不是国产智算芯片")
		default:
			ch.Vendor, ch.Domestic = v.Name, true
			out.Domestic += line.Amount
			need := line.Servers
			seen := false
			for _, c := range cands {
				if c.l.Vendor != v.Name || !strings.EqualFold(strings.TrimSpace(c.l.ChipModel), ch.ChipModel) || !c.l.Domestic {
					continue
				}
				seen = true
				if len(c.reasons) > 0 {
					for _, r := range c.reasons {
						ch.Reasons = appendOnce(ch.Reasons, r)
						ch.Notes = append(ch.Notes, "挂牌资源 "+c.l.ID+":"+reasonZH(r, minDays))
					}
					continue
				}
				if need == 0 || c.free == 0 {
					continue
				}
				take := min(need, c.free)
				c.free -= take
				need -= take
				ch.Listed += take
				ch.Uses = append(ch.Uses, ListingUse{Listing: c.l.ID, Servers: take})
			}
			if !seen {
				ch.Reasons = append(ch.Reasons, ReasonNotListed)
				ch.Notes = append(ch.Notes, "平台上没有该服务商挂牌的「"+v.Name+" "+ch.ChipModel+"」资源")
			} else if ch.Listed < line.Servers && (ch.Listed > 0 || len(ch.Reasons) == 0) {
				ch.Reasons = appendOnce(ch.Reasons, ReasonPartlyListed)
				ch.Notes = append(ch.Notes, fmt.Sprintf("采购 %d 台,符合条件且未计入其他采购的挂牌服务器仅 %d 台,按比例计入", line.Servers, ch.Listed))
			}
			ch.Verified = money.Amount(mulDiv(int64(line.Amount), int64(ch.Listed), int64(line.Servers)))
			out.Verified += ch.Verified
		}
		out.Checks = append(out.Checks, ch)
	}
	out.ListedOnPlatform = out.Verified > 0
	return out, nil
}

// counted is how many servers of each listing earlier purchases of the
// provider counted, leaving out purchases whose application was refused
// or withdrawn.
func (s *Service) counted(ctx context.Context, q querier, providerID string) (map[string]int, error) {
	rows, err := q.Query(ctx, `SELECT application_id, verification FROM compute_purchases WHERE provider_id = ?`, providerID)
	if err != nil {
		return nil, err
	}
	type earlier struct {
		app    string
		checks []LineCheck
	}
	var all []earlier
	for rows.Next() {
		var e earlier
		var v string
		if err := rows.Scan(&e.app, &v); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(v), &e.checks); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, e := range all {
		if e.app != "" {
			app, err := s.desk.Get(ctx, reader, e.app)
			if err != nil {
				return nil, err
			}
			if app.State == desk.StateRejected || app.State == desk.StateWithdrawn || app.State == desk.StateObjectionUpheld {
				continue
			}
		}
		for _, c := range e.checks {
			for _, u := range c.Uses {
				out[u.Listing] += u.Servers
			}
		}
	}
	return out, nil
}

func appendOnce(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

func reasonZH(code string, minDays int) string {
	switch code {
	case ReasonWithdrawn:
		return "已下架"
	case ReasonNotInZone:
		return "部署地点不在经开区"
	case ReasonTooRecent:
		return fmt.Sprintf("连续挂牌不足 %d 天", minDays)
	case ReasonNotServing:
		return "挂牌以来没有其他企业确认的结算记录(未对外提供服务)"
	}
	return code
}

// servingOthers reports whether a listing served enterprises other than
// its provider and the provider's related parties since it was listed:
// confirmed settlement records on contracts drawn from it.
func servingOthers(ctx context.Context, q querier, listingID string, since policy.Date, self map[string]bool) (bool, error) {
	rows, err := q.Query(ctx, `SELECT DISTINCT c.uscc FROM compute_settlements s JOIN compute_contracts c ON c.id = s.contract_id
		WHERE c.listing_id = ? AND s.state IN ('confirmed', 'redeeming', 'redeemed') AND s.period_end >= ?`, listingID, since.String())
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var code string
		if err := rows.Scan(&code); err != nil {
			return false, err
		}
		if !self[code] {
			return true, nil
		}
	}
	return false, rows.Err()
}

// ApplyDomesticServers applies for 第二条 with a purchase contract of the
// actor's company (its enterprise user; the company is a registered
// compute provider): the purchase is verified against the platform, and an
// application for domestic_compute_servers is created with facts project,
// domestic_server_amount (the verified part) and listed_on_platform. The
// workflow then evaluates it (10%, the per-project cumulative cap held in
// the ledger) and reviews it. A purchase with nothing verified is refused
// with the verification.
func (s *Service) ApplyDomesticServers(ctx context.Context, a desk.Actor, in PurchaseInput) (*Purchase, error) {
	if !isEnterprise(a) {
		return nil, forbidden()
	}
	pu, err := s.VerifyPurchase(ctx, a, "", in)
	if err != nil {
		return nil, err
	}
	if !pu.ListedOnPlatform {
		var notes []string
		for _, c := range pu.Checks {
			notes = append(notes, c.Notes...)
		}
		return pu, apperr.New(apperr.Conflict, "国产算力服务器未通过算力调度平台上架核验:"+strings.Join(notes, ";"), "no domestic server of the purchase is listed and serving others").WithField("lines")
	}
	facts := map[string]json.RawMessage{}
	facts["project"], _ = json.Marshal(pu.Project)
	facts["domestic_server_amount"], _ = json.Marshal(money.Format(int64(pu.Verified)))
	facts["listed_on_platform"] = json.RawMessage("true")
	app, err := s.desk.CreateApplication(ctx, a, ItemDomestic, facts)
	if err != nil {
		return nil, err
	}
	now := s.now()
	pu.ID, pu.ApplicationID, pu.CreatedAt = newID("pur"), app.ID, now
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		lines, _ := json.Marshal(pu.Lines)
		checks, _ := json.Marshal(pu.Checks)
		if _, err := tx.Exec(ctx, `INSERT INTO compute_purchases (id, provider_id, uscc, project, contract_no, seller, signed_on, total, lines, verification, domestic, verified, application_id, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			pu.ID, pu.ProviderID, pu.USCC, pu.Project, pu.ContractNo, pu.Seller, pu.SignedOn, int64(pu.Total), string(lines), string(checks), int64(pu.Domestic), int64(pu.Verified), app.ID, a.ID, nanos(now)); err != nil {
			if store.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "该采购合同已申报", "this purchase contract has been filed").WithField("contract_no")
			}
			return err
		}
		return s.record(ctx, tx, now, a, "purchase.apply", "purchase", pu.ID, pu.USCC, nil, pu)
	})
	if err != nil {
		if _, werr := s.desk.Withdraw(ctx, a, app.ID, "申报未完成,自动撤回"); werr != nil {
			s.opt.Logger.Warn("compute: cannot withdraw the draft of a failed purchase", "application", app.ID, "err", werr)
		}
		return nil, err
	}
	return pu, nil
}
