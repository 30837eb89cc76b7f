package compute

import (
	"context"
	"fmt"
	"math/big"
	"sort"

	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
)

// Stats are the platform's figures for the admin pages and the dashboard.
type Stats struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Listed capacity, now.
	Capacity      []VendorCapacity `json:"capacity"`
	Cards         int              `json:"cards"`
	DomesticCards int              `json:"domestic_cards"`
	DomesticShare string           `json:"domestic_share"` // of listed cards, e.g. "62.5%"
	// Utilisation over [From, To]: card-hours settled against card-hours listed.
	Utilisation []ProviderUse `json:"utilisation"`
	Overall     ProviderUse   `json:"overall"`
	// Voucher spend by provider, all time.
	Spend []ProviderSpend `json:"spend"`
}

// VendorCapacity is what is listed of one vendor's chips.
type VendorCapacity struct {
	Vendor   string `json:"vendor"`
	Domestic bool   `json:"domestic"`
	Listings int    `json:"listings"`
	Cards    int    `json:"cards"`
	Servers  int    `json:"servers"`
}

// ProviderUse is a provider's utilisation over a period.
type ProviderUse struct {
	ProviderID  string    `json:"provider_id,omitempty"`
	Name        string    `json:"name"`
	Listed      CardHours `json:"listed_card_hours"`  // cards × hours listed in the period
	Settled     CardHours `json:"settled_card_hours"` // card-hours of records starting in the period
	Utilisation string    `json:"utilisation"`        // Settled / Listed
}

// ProviderSpend is the vouchers' money through one provider.
type ProviderSpend struct {
	ProviderID  string       `json:"provider_id"`
	Name        string       `json:"name"`
	Kind        string       `json:"kind"`
	Contracts   int          `json:"contracts"`
	Settled     money.Amount `json:"settled"`  // records confirmed or redeemed
	Redeemed    money.Amount `json:"redeemed"` // vouchers paid out (payable or paid)
	Redemptions int          `json:"redemptions"`
}

// Stats computes the platform statistics for the period [from, to]
// (YYYY-MM-DD; default: this year to today). The zone's staff see every
// provider; a provider sees the totals and its own rows.
func (s *Service) Stats(ctx context.Context, a desk.Actor, from, to string) (*Stats, error) {
	if !isStaff(a) && !isProvider(a) {
		return nil, forbidden()
	}
	t := today(s.now())
	f, e := policy.Date(0), t
	var err error
	if from == "" {
		f, _ = policy.ParseDate(fmt.Sprintf("%d-01-01", t.Year()))
	} else if f, err = parseDay("from", from); err != nil {
		return nil, err
	}
	if to != "" {
		if e, err = parseDay("to", to); err != nil {
			return nil, err
		}
	}
	if e < f {
		return nil, invalid("to", "结束日期早于开始日期", "to is before from")
	}
	st := &Stats{From: f.String(), To: e.String()}
	mine := ""
	if isProvider(a) {
		if p, err := providerByUSCC(ctx, s.db, a.Enterprise); err == nil {
			mine = p.ID
		}
	}

	rows, err := s.db.Query(ctx, `SELECT l.vendor, l.domestic, COUNT(*), SUM(l.cards), SUM(l.servers) FROM compute_listings l JOIN compute_providers p ON p.id = l.provider_id
		WHERE l.state = 'listed' AND p.state = 'approved' GROUP BY l.vendor, l.domestic ORDER BY SUM(l.cards) DESC, l.vendor`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var v VendorCapacity
		var dom int
		if err := rows.Scan(&v.Vendor, &dom, &v.Listings, &v.Cards, &v.Servers); err != nil {
			rows.Close()
			return nil, err
		}
		v.Domestic = dom == 1
		st.Capacity = append(st.Capacity, v)
		st.Cards += v.Cards
		if v.Domestic {
			st.DomesticCards += v.Cards
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	st.DomesticShare = percent(int64(st.DomesticCards), int64(st.Cards))

	// Capacity listed in the period, per provider: cards × 24 h × the days
	// of each listed window inside [f, e].
	listed := map[string]int64{} // provider → card-hours × 1000
	names := map[string]string{}
	rows, err = s.db.Query(ctx, `SELECT l.provider_id, p.name, l.cards, w.listed_on, w.withdrawn_on FROM compute_listing_periods w
		JOIN compute_listings l ON l.id = w.listing_id JOIN compute_providers p ON p.id = l.provider_id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var prov, name, on string
		var off *string
		var cards int64
		if err := rows.Scan(&prov, &name, &cards, &on, &off); err != nil {
			rows.Close()
			return nil, err
		}
		start, _ := policy.ParseDate(on)
		end := e
		if off != nil {
			w, _ := policy.ParseDate(*off)
			end = min(end, w-1) // withdrawn on a day: not listed that day
		}
		start = max(start, f)
		if end >= start {
			listed[prov] += cards * 24 * int64(end-start+1) * 1000
		}
		names[prov] = name
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	used := map[string]int64{}
	rows, err = s.db.Query(ctx, `SELECT c.provider_id, p.name, SUM(s.card_milli) FROM compute_settlements s JOIN compute_contracts c ON c.id = s.contract_id
		JOIN compute_providers p ON p.id = c.provider_id
		WHERE s.state IN ('confirmed', 'redeeming', 'redeemed') AND s.period_start >= ? AND s.period_start <= ? GROUP BY c.provider_id, p.name`, f.String(), e.String())
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var prov, name string
		var milli int64
		if err := rows.Scan(&prov, &name, &milli); err != nil {
			rows.Close()
			return nil, err
		}
		used[prov], names[prov] = milli, name
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var totalListed, totalUsed int64
	for prov, name := range names {
		u := ProviderUse{ProviderID: prov, Name: name, Listed: CardHours(listed[prov]), Settled: CardHours(used[prov]), Utilisation: percent(used[prov], listed[prov])}
		totalListed += listed[prov]
		totalUsed += used[prov]
		if mine == "" && !isStaff(a) {
			continue
		}
		if isStaff(a) || prov == mine {
			st.Utilisation = append(st.Utilisation, u)
		}
	}
	sort.Slice(st.Utilisation, func(i, j int) bool { return st.Utilisation[i].Name < st.Utilisation[j].Name })
	st.Overall = ProviderUse{Name: "全平台", Listed: CardHours(totalListed), Settled: CardHours(totalUsed), Utilisation: percent(totalUsed, totalListed)}

	q := `SELECT p.id, p.name, c.kind, COUNT(DISTINCT c.id),
			COALESCE(SUM(CASE WHEN s.state IN ('confirmed', 'redeeming', 'redeemed') THEN s.amount ELSE 0 END), 0)
		FROM compute_contracts c JOIN compute_providers p ON p.id = c.provider_id LEFT JOIN compute_settlements s ON s.contract_id = c.id`
	var args []any
	if !isStaff(a) {
		q, args = q+` WHERE p.id = ?`, append(args, mine)
	}
	rows, err = s.db.Query(ctx, q+` GROUP BY p.id, p.name, c.kind ORDER BY p.name, c.kind`, args...)
	if err != nil {
		return nil, err
	}
	spend := map[[2]string]*ProviderSpend{}
	var order [][2]string
	for rows.Next() {
		var ps ProviderSpend
		var settled int64
		if err := rows.Scan(&ps.ProviderID, &ps.Name, &ps.Kind, &ps.Contracts, &settled); err != nil {
			rows.Close()
			return nil, err
		}
		ps.Settled = money.Amount(settled)
		k := [2]string{ps.ProviderID, ps.Kind}
		spend[k] = &ps
		order = append(order, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.Query(ctx, `SELECT r.provider_id, c.kind, COUNT(*), SUM(r.amount) FROM compute_redemptions r JOIN compute_contracts c ON c.id = r.contract_id
		WHERE r.state IN ('payable', 'paid') GROUP BY r.provider_id, c.kind`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var prov, kind string
		var n int
		var sum int64
		if err := rows.Scan(&prov, &kind, &n, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		if ps := spend[[2]string{prov, kind}]; ps != nil {
			ps.Redemptions, ps.Redeemed = n, money.Amount(sum)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, k := range order {
		st.Spend = append(st.Spend, *spend[k])
	}
	return st, nil
}

// percent writes num/den as a percentage with one decimal, rounded down.
func percent(num, den int64) string {
	if den <= 0 {
		return "—"
	}
	r := new(big.Int).Mul(big.NewInt(num), big.NewInt(1000))
	r.Quo(r, big.NewInt(den))
	v := r.Int64()
	return fmt.Sprintf("%d.%d%%", v/10, v%10)
}
