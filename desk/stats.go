package desk

import (
	"context"
	"encoding/json"
	"time"

	"policydesk/audit"
	"policydesk/ledger"
)

// Reads for the workbenches and the dashboard that are not about one
// application: the recent payment batches, every application's timeline
// at once, the enterprises' ai_enterprise facts, the audit log, an
// expert's scoring time, and an enterprise's grant history. Each checks
// who asks, as every service method does.

// RecentBatches returns the newest payment batches, at most n (finance and
// admins).
func (s *Service) RecentBatches(ctx context.Context, a Actor, n int) ([]*Batch, error) {
	if a.Role != RoleFinance && a.Role != RoleAdmin {
		return nil, forbidden()
	}
	n = min(max(n, 1), 500)
	rows, err := s.db.Query(ctx, `SELECT id FROM desk_batches ORDER BY created_at DESC, id LIMIT ?`, n)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*Batch, 0, len(ids))
	for _, id := range ids {
		b, err := s.GetBatch(ctx, a, id)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Reached is when an application first entered each state.
type Reached map[string]time.Time

// FirstReached returns, for every application, when it first entered each
// state (admins and finance: the dashboard's funnel, cycle times and
// burn-down).
func (s *Service) FirstReached(ctx context.Context, a Actor) (map[string]Reached, error) {
	if a.Role != RoleFinance && a.Role != RoleAdmin {
		return nil, forbidden()
	}
	rows, err := s.db.Query(ctx, `SELECT application_id, to_state, at FROM desk_events ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Reached{}
	for rows.Next() {
		var id, to string
		var at int64
		if err := rows.Scan(&id, &to, &at); err != nil {
			return nil, err
		}
		m := out[id]
		if m == nil {
			m = Reached{}
			out[id] = m
		}
		if _, seen := m[to]; !seen {
			m[to] = fromNanos(at)
		}
	}
	return out, rows.Err()
}

// AIEnterprises counts the enterprises whose latest ai_enterprise fact in
// force on day (YYYY-MM-DD) is true, and how many have the fact at all
// (admins and finance).
func (s *Service) AIEnterprises(ctx context.Context, a Actor, day string) (yes, known int, err error) {
	if a.Role != RoleFinance && a.Role != RoleAdmin {
		return 0, 0, forbidden()
	}
	rows, err := s.db.Query(ctx, `SELECT uscc, value FROM desk_facts WHERE name = 'ai_enterprise' AND as_of <= ? ORDER BY uscc, as_of, id`, day)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	latest := map[string]bool{}
	for rows.Next() {
		var code, v string
		if err := rows.Scan(&code, &v); err != nil {
			return 0, 0, err
		}
		var b bool
		_ = json.Unmarshal([]byte(v), &b)
		latest[code] = b
	}
	for _, b := range latest {
		known++
		if b {
			yes++
		}
	}
	return yes, known, rows.Err()
}

// AuditLog lists audit rows matching f, newest first (admins).
func (s *Service) AuditLog(ctx context.Context, a Actor, f audit.Filter) ([]audit.Row, error) {
	if a.Role != RoleAdmin {
		return nil, forbidden()
	}
	return audit.List(ctx, s.db, f)
}

// VerifyAudit checks the audit chain (admins).
func (s *Service) VerifyAudit(ctx context.Context, a Actor) (audit.Report, error) {
	if a.Role != RoleAdmin {
		return audit.Report{}, forbidden()
	}
	return audit.Verify(ctx, s.db)
}

// ScoredAt returns when the expert a scored application id, if it has.
func (s *Service) ScoredAt(ctx context.Context, a Actor, id string) (time.Time, bool, error) {
	if a.Role != RoleExpert {
		return time.Time{}, false, forbidden()
	}
	rows, err := audit.List(ctx, s.db, audit.Filter{Entity: "application", EntityID: id, ActorID: a.ID, Action: "panel.score", Limit: 1})
	if err != nil || len(rows) == 0 {
		return time.Time{}, false, err
	}
	return rows[0].At, true, nil
}

// GrantHistory returns the enterprise's grants from the ledger, for
// estimates (whoever may see the enterprise).
func (s *Service) GrantHistory(ctx context.Context, a Actor, code string) ([]ledger.Granted, error) {
	if !canSeeEnterprise(a, code) {
		return nil, notFound("企业")
	}
	return s.led.History(ctx, code)
}
