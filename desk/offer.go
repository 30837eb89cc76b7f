package desk

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"policydesk/apperr"
	"policydesk/money"
	"policydesk/policy"
	"policydesk/store"
)

// Offer is a 免申即享 offer: the engine found from an imported list (new
// 高新技术企业, CAC filings, 专精特新 lists…) that the enterprise qualifies;
// it accepts without filling a form.
type Offer struct {
	ID            string                     `json:"id"`
	USCC          string                     `json:"uscc"`
	Item          string                     `json:"item"`
	ItemName      string                     `json:"item_name"`
	Facts         map[string]json.RawMessage `json:"facts"`
	Source        string                     `json:"source"`
	Amount        money.Amount               `json:"amount"`
	State         string                     `json:"state"`
	ApplicationID string                     `json:"application_id,omitempty"`
	CreatedAt     time.Time                  `json:"created_at"`
}

// ImportReport says what an import did, row by row for the rows it did
// not turn into offers.
type ImportReport struct {
	Rows    int           `json:"rows"`
	Offers  int           `json:"offers"`
	Already int           `json:"already"`
	Skipped []ImportIssue `json:"skipped"` // rows the engine found ineligible or incomplete
	Bad     []ImportIssue `json:"bad"`     // rows that are not valid input
}

// ImportIssue is one row not imported, with its line number.
type ImportIssue struct {
	Line   int    `json:"line"`
	USCC   string `json:"uscc,omitempty"`
	Reason string `json:"reason"`
}

// ImportOffers reads a qualification list for item (columns: uscc, name,
// and the item's facts) and makes an offer for every listed enterprise the
// engine finds eligible. Enterprises not yet registered are registered with
// the list's name. Bad rows are reported by line; if any row is bad,
// nothing is imported.
func (s *Service) ImportOffers(ctx context.Context, a Actor, item, source string, rows [][]string) (ImportReport, error) {
	var rep ImportReport
	if a.Role != RoleAdmin {
		return rep, forbidden()
	}
	it := s.bundle.Item(item)
	if it == nil || it.External != "" {
		return rep, apperr.Newf(apperr.Invalid, "支持事项 %q 不能免申即享", "item %q cannot be offered", item).WithField("item")
	}
	source = limitText(source, 200)
	if source == "" {
		return rep, apperr.New(apperr.Invalid, "请写明名单来源", "name the list's source").WithField("source")
	}
	if len(rows) < 2 {
		return rep, apperr.New(apperr.Invalid, "名单为空(第一行应为表头 uscc, name, …)", "the list is empty (header row: uscc, name, …)").WithField("file")
	}
	header := make([]string, len(rows[0]))
	for i, h := range rows[0] {
		header[i] = strings.TrimSpace(strings.ToLower(h))
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	if _, ok := col["uscc"]; !ok {
		return rep, apperr.New(apperr.Invalid, "表头缺少 uscc 列", "the header has no uscc column").WithField("file")
	}
	type good struct {
		line       int
		code, name string
		facts      map[string]json.RawMessage
		claim      policy.Claim
	}
	var goods []good
	now := s.now()
	for i, row := range rows[1:] {
		line := i + 2
		cell := func(name string) string {
			if j, ok := col[name]; ok && j < len(row) {
				return strings.TrimSpace(row[j])
			}
			return ""
		}
		if strings.Join(row, "") == "" {
			continue
		}
		rep.Rows++
		code := cell("uscc")
		if validUSCC(code) != nil {
			rep.Bad = append(rep.Bad, ImportIssue{Line: line, USCC: code, Reason: "统一社会信用代码无效"})
			continue
		}
		facts := map[string]json.RawMessage{}
		for _, f := range it.Facts {
			v := cell(f.Name)
			if v == "" {
				continue
			}
			facts[f.Name] = cellJSON(f, v)
		}
		claim, err := s.checkFacts(item, facts)
		if err != nil {
			rep.Bad = append(rep.Bad, ImportIssue{Line: line, USCC: code, Reason: err.(*apperr.Error).Message})
			continue
		}
		goods = append(goods, good{line: line, code: code, name: cell("name"), facts: facts, claim: claim})
	}
	if len(rep.Bad) > 0 {
		return rep, nil
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		for _, g := range goods {
			var name string
			err := tx.QueryRow(ctx, `SELECT name FROM desk_enterprises WHERE uscc = ?`, g.code).Scan(&name)
			if errors.Is(err, sql.ErrNoRows) {
				if g.name == "" {
					rep.Skipped = append(rep.Skipped, ImportIssue{Line: g.line, USCC: g.code, Reason: "企业未登记且名单未给出名称"})
					continue
				}
				if _, err := tx.Exec(ctx, `INSERT INTO desk_enterprises (uscc, name, created_at, updated_at) VALUES (?, ?, ?, ?)`, g.code, g.name, nanos(now), nanos(now)); err != nil {
					return err
				}
				if err := s.record(ctx, tx, now, a, "enterprise.register", "enterprise", g.code, g.code, nil, map[string]string{"name": g.name, "source": source}); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
			fs, err := s.facts(ctx, tx, g.code, today(now))
			if err != nil {
				return err
			}
			hist, _, err := s.history(ctx, tx, g.code, "")
			if err != nil {
				return err
			}
			c := policy.Case{Date: today(now), USCC: g.code, Enterprise: s.enterpriseFacts(fs), History: hist, Claims: []policy.Claim{g.claim}}
			res, err := s.bundle.EvaluateNoTrace(&c)
			if err != nil {
				return err
			}
			r := res[0]
			if r.Status != policy.Eligible || r.Amount <= 0 {
				why := reasonsZH(r.Reasons)
				if r.Status == policy.Incomplete {
					why = "信息不全:" + strings.Join(r.Missing, "、")
				}
				rep.Skipped = append(rep.Skipped, ImportIssue{Line: g.line, USCC: g.code, Reason: why})
				continue
			}
			factsJSON := canonicalFacts(g.facts)
			var exists int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM desk_offers WHERE uscc = ? AND item = ? AND facts = ?`, g.code, item, factsJSON).Scan(&exists); err != nil {
				return err
			}
			if exists > 0 {
				rep.Already++
				continue
			}
			id := newID("ofr")
			if _, err := tx.Exec(ctx, `INSERT INTO desk_offers (id, uscc, item, facts, source, amount, state, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
				id, g.code, item, factsJSON, source, r.Amount, a.ID, nanos(now)); err != nil {
				return err
			}
			if err := s.inbox(ctx, tx, now, "enterprise:"+g.code, "offer", "免申即享:您可获得"+it.Name+"支持",
				fmt.Sprintf("根据%s,您符合%s条件,预计可获 %s 元。确认银行账户并签署信用承诺即可,无需填报。", source, policy.ArticleName(it.Article, policy.Chinese), money.FormatGrouped(r.Amount)), "/offers/"+id); err != nil {
				return err
			}
			rep.Offers++
		}
		return s.record(ctx, tx, now, a, "offers.import", "offer_list", item, "", nil, map[string]any{"source": source, "rows": rep.Rows, "offers": rep.Offers, "skipped": len(rep.Skipped)})
	})
	return rep, err
}

// cellJSON turns a table cell into the JSON value of a fact.
func cellJSON(f *policy.FactSpec, v string) json.RawMessage {
	switch f.Type {
	case policy.TypeBool:
		switch strings.ToLower(v) {
		case "true", "是", "yes", "1":
			return json.RawMessage("true")
		case "false", "否", "no", "0":
			return json.RawMessage("false")
		}
	case policy.TypeYear, policy.TypeInt:
		if strings.Trim(v, "0123456789") == "" {
			return json.RawMessage(v)
		}
	case policy.TypeRecords:
		if json.Valid([]byte(v)) {
			return json.RawMessage(v)
		}
	}
	b, _ := json.Marshal(v)
	return b
}

func canonicalFacts(m map[string]json.RawMessage) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		b.Write(kj)
		b.WriteByte(':')
		b.WriteString(compactJSON(m[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// Offers lists offers: an enterprise's own, or all for admins.
func (s *Service) Offers(ctx context.Context, a Actor, state string) ([]Offer, error) {
	q := `SELECT id, uscc, item, facts, source, amount, state, application_id, created_at FROM desk_offers`
	var where []string
	var args []any
	switch a.Role {
	case RoleAdmin:
	case RoleEnterprise:
		where, args = append(where, "uscc = ?"), append(args, a.Enterprise)
	default:
		return nil, forbidden()
	}
	if state != "" {
		where, args = append(where, "state = ?"), append(args, state)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.db.Query(ctx, q+" ORDER BY created_at DESC, id LIMIT 500", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Offer
	for rows.Next() {
		var o Offer
		var facts string
		var app sql.NullString
		var amount, at int64
		if err := rows.Scan(&o.ID, &o.USCC, &o.Item, &facts, &o.Source, &amount, &o.State, &app, &at); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(facts), &o.Facts)
		o.Amount, o.ApplicationID, o.CreatedAt = money.Amount(amount), app.String, fromNanos(at)
		if it := s.bundle.Item(o.Item); it != nil {
			o.ItemName = it.Name
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// AcceptOffer turns an offer into a submitted application: the enterprise
// confirms its bank account and signs the commitment; no form, no
// materials, no round.
func (s *Service) AcceptOffer(ctx context.Context, a Actor, offerID string) (*Application, error) {
	if a.Role != RoleEnterprise {
		return nil, forbidden()
	}
	now := s.now()
	var appID string
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		var code, item, facts, state, masked string
		err := tx.QueryRow(ctx, `SELECT o.uscc, o.item, o.facts, o.state, e.bank_masked FROM desk_offers o JOIN desk_enterprises e ON e.uscc = o.uscc WHERE o.id = ?`, offerID).
			Scan(&code, &item, &facts, &state, &masked)
		if errors.Is(err, sql.ErrNoRows) || err == nil && code != a.Enterprise {
			return notFound("免申即享事项")
		}
		if err != nil {
			return err
		}
		if state != "open" {
			return apperr.New(apperr.Conflict, "该事项已确认或已放弃", "the offer was already decided")
		}
		if masked == "" {
			return apperr.New(apperr.Conflict, "请先登记银行账户", "register a bank account first").WithField("bank_account")
		}
		var fm map[string]json.RawMessage
		_ = json.Unmarshal([]byte(facts), &fm)
		claim, err := s.checkFacts(item, fm)
		if err != nil {
			return err
		}
		app, err := s.insertApp(ctx, tx, now, a, code, s.bundle.Item(item), "", offerID, fm, claim)
		if err != nil {
			return err
		}
		appID = app.ID
		if _, err := tx.Exec(ctx, `UPDATE desk_applications SET commitment_at = ?, commitment_text = ? WHERE id = ?`, nanos(now), Commitment, app.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE desk_offers SET state = 'accepted', application_id = ?, decided_at = ? WHERE id = ?`, app.ID, nanos(now), offerID); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "offer.accept", "offer", offerID, code, map[string]string{"state": "open"}, map[string]string{"state": "accepted", "application": app.ID})
	})
	if err != nil {
		return nil, err
	}
	return s.Submit(ctx, a, appID, "")
}

// DeclineOffer records that the enterprise does not want the offer.
func (s *Service) DeclineOffer(ctx context.Context, a Actor, offerID string) error {
	if a.Role != RoleEnterprise {
		return forbidden()
	}
	now := s.now()
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE desk_offers SET state = 'declined', decided_at = ? WHERE id = ? AND uscc = ? AND state = 'open'`, nanos(now), offerID, a.Enterprise)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return notFound("免申即享事项")
		}
		return s.record(ctx, tx, now, a, "offer.decline", "offer", offerID, a.Enterprise, map[string]string{"state": "open"}, map[string]string{"state": "declined"})
	})
}
