package compute

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// Listing states.
const (
	Listed    = "listed"
	Withdrawn = "withdrawn"
)

// Listing is a resource pool a provider lists on the scheduling platform.
// Domestic comes from the vendor list, not from the provider's word.
type Listing struct {
	ID           string       `json:"id"`
	ProviderID   string       `json:"provider_id"`
	ProviderName string       `json:"provider_name"`
	ChipModel    string       `json:"chip_model"`
	Vendor       string       `json:"vendor"`
	Domestic     bool         `json:"domestic"`
	Cards        int          `json:"cards"`
	Servers      int          `json:"servers"`
	InZone       bool         `json:"in_zone"`
	Location     string       `json:"location,omitempty"`
	Price        money.Amount `json:"price_per_card_hour"`
	State        string       `json:"state"`
	Periods      []Period     `json:"periods"`
	Version      int          `json:"version"`
	CreatedAt    time.Time    `json:"created_at"`
	UpdatedAt    time.Time    `json:"updated_at"`
}

// Period is one window a listing was listed: from Listed to Withdrawn
// (empty while still listed).
type Period struct {
	Listed    string `json:"listed_on"`
	Withdrawn string `json:"withdrawn_on,omitempty"`
}

// ListingInput lists (or changes) a resource pool.
type ListingInput struct {
	ChipModel string       `json:"chip_model"`
	Vendor    string       `json:"vendor"`
	Cards     int          `json:"cards"`
	Servers   int          `json:"servers"`
	InZone    bool         `json:"in_zone"`
	Location  string       `json:"location"`
	Price     money.Amount `json:"price_per_card_hour"`
	// ListedOn backdates the listing; only the admin may (e.g. when
	// importing the platform's history). Providers list from today.
	ListedOn string `json:"listed_on,omitempty"`
}

func (in *ListingInput) check(idx map[string]Vendor) (Vendor, error) {
	var err error
	if in.ChipModel, err = text("chip_model", in.ChipModel, 1, 100); err != nil {
		return Vendor{}, err
	}
	v, ok := idx[vendorKey(in.Vendor)]
	if !ok {
		return Vendor{}, apperr.New(apperr.Invalid, "芯片厂商「"+in.Vendor+"」不在厂商名录中,请联系管理员登记", "vendor "+in.Vendor+" is not on the vendor list; ask the admin").WithField("vendor")
	}
	switch {
	case in.Cards <= 0 || in.Cards > 10_000_000:
		return Vendor{}, invalid("cards", "卡数应为正整数", "cards must be a positive number")
	case in.Servers < 0 || in.Servers > in.Cards:
		return Vendor{}, invalid("servers", "服务器台数应在0到卡数之间", "servers must be between 0 and the number of cards")
	case in.Price < 0:
		return Vendor{}, invalid("price_per_card_hour", "价格不能为负", "price must not be negative")
	}
	if in.Location, err = text("location", in.Location, 0, 200); err != nil {
		return Vendor{}, err
	}
	return v, nil
}

const listingColumns = `l.id, l.provider_id, p.name, l.chip_model, l.vendor, l.domestic, l.cards, l.servers, l.in_zone, l.location, l.price, l.state, l.version, l.created_at, l.updated_at`

func scanListing(r interface{ Scan(...any) error }) (*Listing, error) {
	var l Listing
	var dom, zone int
	var price, created, updated int64
	if err := r.Scan(&l.ID, &l.ProviderID, &l.ProviderName, &l.ChipModel, &l.Vendor, &dom, &l.Cards, &l.Servers, &zone, &l.Location, &price, &l.State, &l.Version, &created, &updated); err != nil {
		return nil, err
	}
	l.Domestic, l.InZone, l.Price = dom == 1, zone == 1, money.Amount(price)
	l.CreatedAt, l.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &l, nil
}

func (s *Service) loadListing(ctx context.Context, q querier, id string) (*Listing, error) {
	l, err := scanListing(q.QueryRow(ctx, `SELECT `+listingColumns+` FROM compute_listings l JOIN compute_providers p ON p.id = l.provider_id WHERE l.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("挂牌资源", "listing")
	}
	if err != nil {
		return nil, err
	}
	l.Periods, err = periods(ctx, q, id)
	return l, err
}

func periods(ctx context.Context, q querier, id string) ([]Period, error) {
	rows, err := q.Query(ctx, `SELECT listed_on, withdrawn_on FROM compute_listing_periods WHERE listing_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Period
	for rows.Next() {
		var p Period
		var w sql.NullString
		if err := rows.Scan(&p.Listed, &w); err != nil {
			return nil, err
		}
		p.Withdrawn = w.String
		out = append(out, p)
	}
	return out, rows.Err()
}

// listedOn is the date a listing starts: today, or a backdate by the admin.
func (s *Service) listedOn(a desk.Actor, on string, now time.Time) (policy.Date, error) {
	t := today(now)
	if on == "" {
		return t, nil
	}
	if !isAdmin(a) {
		return 0, invalid("listed_on", "挂牌日期由平台记录,服务商不能自行填写", "the platform dates listings; providers cannot")
	}
	d, err := parseDay("listed_on", on)
	if err != nil {
		return 0, err
	}
	if d > t {
		return 0, invalid("listed_on", "挂牌日期不能晚于今天", "the listing date cannot be in the future")
	}
	return d, nil
}

// CreateListing lists a resource pool of the provider (on the whitelist);
// the admin may list for a provider given by providerID.
func (s *Service) CreateListing(ctx context.Context, a desk.Actor, providerID string, in ListingInput) (*Listing, error) {
	now := s.now()
	on, err := s.listedOn(a, in.ListedOn, now)
	if err != nil {
		return nil, err
	}
	id := newID("lst")
	var l *Listing
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		p, err := s.lister(ctx, tx, a, providerID)
		if err != nil {
			return err
		}
		idx, err := vendorIndex(ctx, tx)
		if err != nil {
			return err
		}
		v, err := in.check(idx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compute_listings (id, provider_id, chip_model, vendor, domestic, cards, servers, in_zone, location, price, state, version, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'listed', 1, ?, ?, ?)`,
			id, p.ID, in.ChipModel, v.Name, boolInt(v.Domestic), in.Cards, in.Servers, boolInt(in.InZone), in.Location, int64(in.Price), a.ID, nanos(now), nanos(now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compute_listing_periods (listing_id, seq, listed_on) VALUES (?, 1, ?)`, id, on.String()); err != nil {
			return err
		}
		if l, err = s.loadListing(ctx, tx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "listing.create", "listing", id, p.USCC, nil, l)
	})
	return l, err
}

// lister is the provider an actor lists for: its own (on the whitelist),
// or any on the whitelist for the admin.
func (s *Service) lister(ctx context.Context, tx *store.Tx, a desk.Actor, providerID string) (*Provider, error) {
	if isAdmin(a) {
		p, err := findProvider(ctx, tx, providerID)
		if err != nil {
			return nil, err
		}
		if p.State != ProviderApproved {
			return nil, conflict("服务商不在白名单内", "the provider is not on the whitelist")
		}
		return p, nil
	}
	p, err := s.ownApproved(ctx, tx, a)
	if err != nil {
		return nil, err
	}
	if providerID != "" && providerID != p.ID && providerID != p.USCC {
		return nil, forbidden()
	}
	return p, nil
}

// UpdateListing changes a listing's chip, counts, location or price.
func (s *Service) UpdateListing(ctx context.Context, a desk.Actor, id string, in ListingInput) (*Listing, error) {
	if in.ListedOn != "" {
		return nil, invalid("listed_on", "挂牌日期不能修改", "the listing date cannot be changed")
	}
	return s.changeListing(ctx, a, id, "listing.update", func(tx *store.Tx, l *Listing, now time.Time) error {
		idx, err := vendorIndex(ctx, tx)
		if err != nil {
			return err
		}
		v, err := in.check(idx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE compute_listings SET chip_model = ?, vendor = ?, domestic = ?, cards = ?, servers = ?, in_zone = ?, location = ?, price = ?, version = version + 1, updated_at = ? WHERE id = ?`,
			in.ChipModel, v.Name, boolInt(v.Domestic), in.Cards, in.Servers, boolInt(in.InZone), in.Location, int64(in.Price), nanos(now), id)
		return err
	})
}

// WithdrawListing takes a listing off the platform from today.
func (s *Service) WithdrawListing(ctx context.Context, a desk.Actor, id string) (*Listing, error) {
	return s.changeListing(ctx, a, id, "listing.withdraw", func(tx *store.Tx, l *Listing, now time.Time) error {
		if l.State != Listed {
			return conflict("该资源已下架", "the listing is already withdrawn")
		}
		t := today(now).String()
		if _, err := tx.Exec(ctx, `UPDATE compute_listing_periods SET withdrawn_on = ? WHERE listing_id = ? AND withdrawn_on IS NULL`, t, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE compute_listings SET state = 'withdrawn', version = version + 1, updated_at = ? WHERE id = ?`, nanos(now), id)
		return err
	})
}

// RelistListing lists a withdrawn listing again from today: a new period,
// so the minimum listing time of 第二条 counts from now.
func (s *Service) RelistListing(ctx context.Context, a desk.Actor, id string) (*Listing, error) {
	return s.changeListing(ctx, a, id, "listing.relist", func(tx *store.Tx, l *Listing, now time.Time) error {
		if l.State != Withdrawn {
			return conflict("该资源在架", "the listing is listed")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compute_listing_periods (listing_id, seq, listed_on) VALUES (?, ?, ?)`, id, len(l.Periods)+1, today(now).String()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE compute_listings SET state = 'listed', version = version + 1, updated_at = ? WHERE id = ?`, nanos(now), id)
		return err
	})
}

func (s *Service) changeListing(ctx context.Context, a desk.Actor, id, action string, fn func(tx *store.Tx, l *Listing, now time.Time) error) (*Listing, error) {
	now := s.now()
	var l *Listing
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		before, err := s.loadListing(ctx, tx, id)
		if err != nil {
			return err
		}
		p, err := loadProvider(ctx, tx, before.ProviderID)
		if err != nil {
			return err
		}
		if !isAdmin(a) {
			if !isProvider(a) || a.Enterprise != p.USCC {
				return notFound("挂牌资源", "listing")
			}
			if p.State != ProviderApproved && action != "listing.withdraw" {
				return conflict("服务商不在白名单内", "the provider is not on the whitelist")
			}
		}
		if err := fn(tx, before, now); err != nil {
			return err
		}
		if l, err = s.loadListing(ctx, tx, id); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, action, "listing", id, p.USCC, before, l)
	})
	return l, err
}

// ListingFilter selects listings.
type ListingFilter struct {
	Provider string // a provider id
	State    string // listed or withdrawn
	Vendor   string
	Domestic *bool
}

// Listings returns listings: the platform's catalogue (listed pools of
// providers on the whitelist) for everyone; a provider's own in any
// state; everything for the zone's staff.
func (s *Service) Listings(ctx context.Context, a desk.Actor, f ListingFilter) ([]*Listing, error) {
	var where []string
	var args []any
	switch {
	case isStaff(a):
	case isProvider(a):
		where, args = append(where, "(p.uscc = ? OR (l.state = 'listed' AND p.state = 'approved'))"), append(args, a.Enterprise)
	default:
		where = append(where, "l.state = 'listed' AND p.state = 'approved'")
	}
	if f.Provider != "" {
		where, args = append(where, "(p.id = ? OR p.uscc = ?)"), append(args, f.Provider, f.Provider)
	}
	if f.State != "" {
		where, args = append(where, "l.state = ?"), append(args, f.State)
	}
	if f.Vendor != "" {
		where, args = append(where, "l.vendor = ?"), append(args, f.Vendor)
	}
	if f.Domestic != nil {
		where, args = append(where, "l.domestic = ?"), append(args, boolInt(*f.Domestic))
	}
	q := `SELECT ` + listingColumns + ` FROM compute_listings l JOIN compute_providers p ON p.id = l.provider_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY p.name, l.created_at, l.id", args...)
	if err != nil {
		return nil, err
	}
	var out []*Listing
	for rows.Next() {
		l, err := scanListing(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, l := range out {
		if l.Periods, err = periods(ctx, s.db, l.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}
