package desk

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"policydesk/apperr"
	"policydesk/policy"
	"policydesk/store"
)

// Round is an application round (申报批次) for some items, open from Opens
// to Closes inclusive (Beijing dates).
type Round struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Items  []string `json:"items"`
	Opens  string   `json:"opens"`
	Closes string   `json:"closes"`
	Open   bool     `json:"open"`
}

// OpenRound creates a round (admin).
func (s *Service) OpenRound(ctx context.Context, a Actor, name string, items []string, opens, closes string) (Round, error) {
	if a.Role != RoleAdmin {
		return Round{}, forbidden()
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return Round{}, apperr.New(apperr.Invalid, "批次名称不能为空", "name is required").WithField("name")
	}
	if len(items) == 0 {
		return Round{}, apperr.New(apperr.Invalid, "请选择至少一个支持事项", "at least one item").WithField("items")
	}
	for _, it := range items {
		if s.bundle.Item(it) == nil {
			return Round{}, apperr.Newf(apperr.Invalid, "未知的支持事项 %q", "unknown item %q", it).WithField("items")
		}
	}
	o, err1 := policy.ParseDate(opens)
	c, err2 := policy.ParseDate(closes)
	if err1 != nil || err2 != nil {
		return Round{}, apperr.New(apperr.Invalid, "起止日期应为 YYYY-MM-DD", "dates must be YYYY-MM-DD").WithField("opens")
	}
	if c < o {
		return Round{}, apperr.New(apperr.Invalid, "截止日期早于开始日期", "closes before opens").WithField("closes")
	}
	now := s.now()
	r := Round{ID: newID("rnd"), Name: name, Items: slices.Clone(items), Opens: o.String(), Closes: c.String()}
	r.Open = today(now) >= o && today(now) <= c
	itemsJSON, _ := json.Marshal(items)
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO desk_rounds (id, name, items, opens, closes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Name, string(itemsJSON), r.Opens, r.Closes, a.ID, nanos(now)); err != nil {
			return err
		}
		return s.record(ctx, tx, now, a, "round.open", "round", r.ID, "", nil, r)
	})
	return r, err
}

// Rounds lists the rounds, newest first; everyone may see them.
func (s *Service) Rounds(ctx context.Context) ([]Round, error) {
	rows, err := s.db.Query(ctx, `SELECT id, name, items, opens, closes FROM desk_rounds ORDER BY opens DESC, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	t := today(s.now()).String()
	var out []Round
	for rows.Next() {
		var r Round
		var items string
		if err := rows.Scan(&r.ID, &r.Name, &items, &r.Opens, &r.Closes); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(items), &r.Items)
		r.Open = r.Opens <= t && t <= r.Closes
		out = append(out, r)
	}
	return out, rows.Err()
}

// openRoundFor finds an open round that takes item today.
func (s *Service) openRoundFor(ctx context.Context, q querier, item string, day policy.Date) (string, error) {
	rows, err := q.Query(ctx, `SELECT id, items FROM desk_rounds WHERE opens <= ? AND closes >= ? ORDER BY closes, id`, day.String(), day.String())
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var id, items string
		if err := rows.Scan(&id, &items); err != nil {
			return "", err
		}
		var list []string
		_ = json.Unmarshal([]byte(items), &list)
		if slices.Contains(list, item) {
			return id, nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return "", apperr.Newf(apperr.Conflict, "支持事项 %s 当前没有开放的申报批次", "no open round for item %s", item).WithField("item")
}
