package compute

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/desk"
	"policydesk/store"
	"policydesk/uscc"
)

// Provider kinds.
const (
	KindCompute = "compute" // 算力服务商: compute vouchers (第一条)
	KindModel   = "model"   // 模型服务商: model vouchers (第八条)
)

// Provider states: registered, on the whitelist, or suspended from it.
const (
	ProviderPending   = "pending"
	ProviderApproved  = "approved"
	ProviderSuspended = "suspended"
)

var providerStateNames = map[string]string{ProviderPending: "待审核", ProviderApproved: "已入白名单", ProviderSuspended: "已暂停"}

// Provider is a compute or model service provider (算力/模型服务商).
type Provider struct {
	ID        string         `json:"id"`
	USCC      string         `json:"uscc"`
	Name      string         `json:"name"`
	Kinds     []string       `json:"kinds"`
	Contact   string         `json:"contact,omitempty"`
	State     string         `json:"state"`
	StateName string         `json:"state_name"`
	Note      string         `json:"note,omitempty"`
	DecidedBy string         `json:"decided_by,omitempty"`
	DecidedAt *time.Time     `json:"decided_at,omitempty"`
	Related   []RelatedParty `json:"related_parties,omitempty"`
	Version   int            `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Has reports whether the provider offers kind.
func (p *Provider) Has(kind string) bool { return slices.Contains(p.Kinds, kind) }

// RelatedParty is a party a provider declares related to it (股权、控制、
// 同一实际控制人…): a voucher contract with it is refused.
type RelatedParty struct {
	USCC     string `json:"uscc"`
	Name     string `json:"name,omitempty"`
	Relation string `json:"relation,omitempty"`
}

// ProviderInput registers a provider.
type ProviderInput struct {
	USCC    string   `json:"uscc"`
	Name    string   `json:"name"`
	Kinds   []string `json:"kinds"`
	Contact string   `json:"contact"`
}

const providerColumns = `id, uscc, name, kinds, contact, state, note, decided_by, decided_at, version, created_at, updated_at`

func scanProvider(r interface{ Scan(...any) error }) (*Provider, error) {
	var p Provider
	var kinds string
	var decided *int64
	var created, updated int64
	if err := r.Scan(&p.ID, &p.USCC, &p.Name, &kinds, &p.Contact, &p.State, &p.Note, &p.DecidedBy, &decided, &p.Version, &created, &updated); err != nil {
		return nil, err
	}
	p.Kinds = strings.Split(kinds, ",")
	p.StateName = providerStateNames[p.State]
	p.DecidedAt = timePtr(decided)
	p.CreatedAt, p.UpdatedAt = fromNanos(created), fromNanos(updated)
	return &p, nil
}

type querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func loadProvider(ctx context.Context, q querier, id string) (*Provider, error) {
	p, err := scanProvider(q.QueryRow(ctx, `SELECT `+providerColumns+` FROM compute_providers WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("服务商", "provider")
	}
	return p, err
}

func providerByUSCC(ctx context.Context, q querier, code string) (*Provider, error) {
	p, err := scanProvider(q.QueryRow(ctx, `SELECT `+providerColumns+` FROM compute_providers WHERE uscc = ?`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("服务商", "provider")
	}
	return p, err
}

// findProvider takes a provider id or 统一社会信用代码.
func findProvider(ctx context.Context, q querier, ref string) (*Provider, error) {
	if len(ref) == 18 && uscc.Validate(ref) == nil {
		return providerByUSCC(ctx, q, ref)
	}
	return loadProvider(ctx, q, ref)
}

// own returns the provider the actor signs in as.
func (s *Service) own(ctx context.Context, q querier, a desk.Actor) (*Provider, error) {
	if !isProvider(a) {
		return nil, forbidden()
	}
	p, err := providerByUSCC(ctx, q, a.Enterprise)
	if apperr.Is(err, apperr.NotFound) {
		return nil, conflict("请先登记为服务商", "register as a provider first")
	}
	return p, err
}

// ownApproved is own, on the whitelist.
func (s *Service) ownApproved(ctx context.Context, q querier, a desk.Actor) (*Provider, error) {
	p, err := s.own(ctx, q, a)
	if err != nil {
		return nil, err
	}
	if p.State != ProviderApproved {
		return nil, apperr.New(apperr.Conflict, "服务商状态为「"+p.StateName+"」,不在白名单内", "the provider is "+p.State+", not on the whitelist")
	}
	return p, nil
}

func (s *Service) related(ctx context.Context, q querier, providerID string) ([]RelatedParty, error) {
	rows, err := q.Query(ctx, `SELECT uscc, name, relation FROM compute_related_parties WHERE provider_id = ? ORDER BY uscc`, providerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RelatedParty
	for rows.Next() {
		var r RelatedParty
		if err := rows.Scan(&r.USCC, &r.Name, &r.Relation); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RegisterProvider records a provider, pending the admin's approval. The
// provider's own user registers it (its Enterprise is the credit code), or
// the admin does.
func (s *Service) RegisterProvider(ctx context.Context, a desk.Actor, in ProviderInput) (*Provider, error) {
	if !isAdmin(a) && !(isProvider(a) && a.Enterprise == in.USCC) {
		return nil, forbidden()
	}
	if uscc.Validate(in.USCC) != nil {
		return nil, apperr.Newf(apperr.Invalid, "统一社会信用代码 %q 无效", "credit code %q is invalid", in.USCC).WithField("uscc")
	}
	name, err := text("name", in.Name, 1, 200)
	if err != nil {
		return nil, err
	}
	contact, err := text("contact", in.Contact, 0, 200)
	if err != nil {
		return nil, err
	}
	kinds, err := checkKinds(in.Kinds)
	if err != nil {
		return nil, err
	}
	now := s.now()
	p := &Provider{ID: newID("prv"), USCC: in.USCC, Name: name, Kinds: kinds, Contact: contact, State: ProviderPending, Version: 1, CreatedAt: now, UpdatedAt: now}
	p.StateName = providerStateNames[p.State]
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := providerByUSCC(ctx, tx, in.USCC); err == nil {
			return conflict("该统一社会信用代码已登记为服务商", "a provider with this credit code is registered")
		} else if !apperr.Is(err, apperr.NotFound) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO compute_providers (`+providerColumns+`, created_by) VALUES (?, ?, ?, ?, ?, ?, '', '', NULL, 1, ?, ?, ?)`,
			p.ID, p.USCC, p.Name, strings.Join(kinds, ","), p.Contact, p.State, nanos(now), nanos(now), a.ID); err != nil {
			if store.IsUniqueViolation(err) {
				return conflict("该统一社会信用代码已登记为服务商", "a provider with this credit code is registered")
			}
			return err
		}
		return s.record(ctx, tx, now, a, "provider.register", "provider", p.ID, p.USCC, nil, p)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func checkKinds(in []string) ([]string, error) {
	var kinds []string
	for _, k := range in {
		k = strings.TrimSpace(k)
		if k != KindCompute && k != KindModel {
			return nil, apperr.Newf(apperr.Invalid, "服务类型 %q 无效(compute 或 model)", "kind %q is invalid (compute or model)", k).WithField("kinds")
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, invalid("kinds", "请选择服务类型:算力或模型", "choose compute, model or both")
	}
	slices.Sort(kinds)
	return kinds, nil
}

// ApproveProvider puts a pending or suspended provider on the whitelist
// (admin).
func (s *Service) ApproveProvider(ctx context.Context, a desk.Actor, id, note string) (*Provider, error) {
	return s.decide(ctx, a, id, ProviderApproved, note, []string{ProviderPending, ProviderSuspended})
}

// SuspendProvider takes a provider off the whitelist (admin): it can list
// nothing and submit no records, and no new contract or claim names it.
// Vouchers already granted keep their confirmed records redeemable.
func (s *Service) SuspendProvider(ctx context.Context, a desk.Actor, id, reason string) (*Provider, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, invalid("reason", "请写明暂停理由", "give the reason")
	}
	return s.decide(ctx, a, id, ProviderSuspended, reason, []string{ProviderApproved})
}

func (s *Service) decide(ctx context.Context, a desk.Actor, id, to, note string, from []string) (*Provider, error) {
	if !isAdmin(a) {
		return nil, forbidden()
	}
	note, err := text("note", note, 0, 2000)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var p *Provider
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = loadProvider(ctx, tx, id); err != nil {
			return err
		}
		if !slices.Contains(from, p.State) {
			return apperr.New(apperr.Conflict, "服务商当前状态为「"+p.StateName+"」,不能变为「"+providerStateNames[to]+"」", "a provider in state "+p.State+" cannot become "+to)
		}
		res, err := tx.Exec(ctx, `UPDATE compute_providers SET state = ?, note = ?, decided_by = ?, decided_at = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?`,
			to, note, a.ID, nanos(now), nanos(now), id, p.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return conflict("服务商已被他人修改,请刷新后重试", "the provider changed meanwhile")
		}
		if err := s.record(ctx, tx, now, a, "provider."+to, "provider", id, p.USCC, map[string]any{"state": p.State}, map[string]any{"state": to, "note": note}); err != nil {
			return err
		}
		p, err = loadProvider(ctx, tx, id)
		return err
	})
	return p, err
}

// DeclareRelatedParties replaces the provider's declared related parties
// (the provider itself, or the admin).
func (s *Service) DeclareRelatedParties(ctx context.Context, a desk.Actor, providerID string, parties []RelatedParty) (*Provider, error) {
	if len(parties) > 1000 {
		return nil, invalid("related_parties", "关联方过多(上限1000)", "too many related parties")
	}
	seen := map[string]bool{}
	clean := make([]RelatedParty, 0, len(parties))
	for _, r := range parties {
		r.USCC = strings.TrimSpace(r.USCC)
		if uscc.Validate(r.USCC) != nil {
			return nil, apperr.Newf(apperr.Invalid, "关联方统一社会信用代码 %q 无效", "related party credit code %q is invalid", r.USCC).WithField("related_parties")
		}
		if seen[r.USCC] {
			return nil, apperr.Newf(apperr.Invalid, "关联方 %s 重复", "related party %s listed twice", r.USCC).WithField("related_parties")
		}
		seen[r.USCC] = true
		var err error
		if r.Name, err = text("name", r.Name, 0, 200); err != nil {
			return nil, err
		}
		if r.Relation, err = text("relation", r.Relation, 0, 200); err != nil {
			return nil, err
		}
		clean = append(clean, r)
	}
	now := s.now()
	var p *Provider
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if p, err = loadProvider(ctx, tx, providerID); err != nil {
			return err
		}
		if !isAdmin(a) && !(isProvider(a) && a.Enterprise == p.USCC) {
			return notFound("服务商", "provider")
		}
		before, err := s.related(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM compute_related_parties WHERE provider_id = ?`, p.ID); err != nil {
			return err
		}
		for _, r := range clean {
			if _, err := tx.Exec(ctx, `INSERT INTO compute_related_parties (provider_id, uscc, name, relation, declared_at) VALUES (?, ?, ?, ?, ?)`,
				p.ID, r.USCC, r.Name, r.Relation, nanos(now)); err != nil {
				return err
			}
		}
		if err := s.record(ctx, tx, now, a, "provider.related_parties", "provider", p.ID, p.USCC, before, clean); err != nil {
			return err
		}
		p.Related = clean
		return nil
	})
	return p, err
}

// GetProvider returns a provider: anyone may see one on the whitelist;
// its related parties and a provider off the whitelist only the zone's
// staff and the provider itself.
func (s *Service) GetProvider(ctx context.Context, a desk.Actor, id string) (*Provider, error) {
	p, err := findProvider(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	full := isStaff(a) || (isProvider(a) && a.Enterprise == p.USCC)
	if !full {
		if p.State != ProviderApproved {
			return nil, notFound("服务商", "provider")
		}
		p.Contact, p.Note, p.DecidedBy = "", "", ""
		return p, nil
	}
	if p.Related, err = s.related(ctx, s.db, p.ID); err != nil {
		return nil, err
	}
	return p, nil
}

// Providers lists providers: the whitelist for everyone; every provider,
// or those in state, for the zone's staff.
func (s *Service) Providers(ctx context.Context, a desk.Actor, state string) ([]*Provider, error) {
	q := `SELECT ` + providerColumns + ` FROM compute_providers`
	var args []any
	switch {
	case isStaff(a) && state != "":
		q, args = q+` WHERE state = ?`, append(args, state)
	case isStaff(a):
	default:
		q += ` WHERE state = 'approved'`
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, err
		}
		if !isStaff(a) {
			p.Contact, p.Note, p.DecidedBy = "", "", ""
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// relatedDeal reports why a deal between provider p and enterprise code
// would be a related-party deal (关联交易), or "" when it is not: the
// enterprise is the provider itself, the provider declared it related, or
// the enterprise is a provider that declared this one related.
func (s *Service) relatedDeal(ctx context.Context, q querier, p *Provider, code string) (string, error) {
	if p.USCC == code {
		return "合同双方为同一主体", nil
	}
	var rel string
	err := q.QueryRow(ctx, `SELECT relation FROM compute_related_parties WHERE provider_id = ? AND uscc = ?`, p.ID, code).Scan(&rel)
	if err == nil {
		return "服务商已申报该企业为关联方(" + rel + ")", nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	err = q.QueryRow(ctx, `SELECT r.relation FROM compute_related_parties r JOIN compute_providers p ON p.id = r.provider_id WHERE p.uscc = ? AND r.uscc = ?`, code, p.USCC).Scan(&rel)
	if err == nil {
		return "该企业已申报服务商为关联方(" + rel + ")", nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	return "", nil
}

func relatedRefusal(why string) *apperr.Error {
	return apperr.New(apperr.Conflict, "关联交易不予支持:"+why, "a deal between related parties is refused: "+why).WithField("provider")
}
