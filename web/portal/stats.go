package portal

import (
	"context"
	"encoding/json"
	"time"

	"policydesk/store"
)

// The few reads the pages need that package desk has no method for yet:
// the list of payment batches, the timeline of every application at once
// (for the dashboard's funnel, cycle times and burn-down), and the latest
// ai_enterprise fact of every enterprise. They are read-only, used only by
// routes restricted to finance and admins, who see every row through the
// service too; each belongs in desk (a Batches and a Stats method) when
// the workflow's owners take them.

// recentBatchIDs returns the newest payment batches' ids.
func recentBatchIDs(ctx context.Context, db *store.DB, n int) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id FROM desk_batches ORDER BY created_at DESC, id LIMIT ?`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// reached is when an application first reached each state.
type reached map[string]time.Time

// firstReached reads every application's timeline: for each application,
// when it first entered each state.
func firstReached(ctx context.Context, db *store.DB) (map[string]reached, error) {
	rows, err := db.Query(ctx, `SELECT application_id, to_state, at FROM desk_events ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]reached{}
	for rows.Next() {
		var id, to string
		var at int64
		if err := rows.Scan(&id, &to, &at); err != nil {
			return nil, err
		}
		m := out[id]
		if m == nil {
			m = reached{}
			out[id] = m
		}
		if _, seen := m[to]; !seen {
			m[to] = time.Unix(0, at).UTC()
		}
	}
	return out, rows.Err()
}

// aiEnterprises counts the enterprises whose latest ai_enterprise fact in
// force on day (YYYY-MM-DD) is true, and how many have the fact at all.
func aiEnterprises(ctx context.Context, db *store.DB, day string) (yes, known int, err error) {
	rows, err := db.Query(ctx, `SELECT uscc, value FROM desk_facts WHERE name = 'ai_enterprise' AND as_of <= ? ORDER BY uscc, as_of, id`, day)
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
